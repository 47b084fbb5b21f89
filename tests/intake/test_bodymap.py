import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pytest

from intake.bodymap import (
    NUMB_REGIONS,
    NUMB_STROKE,
    OUTLINE,
    PAIN_FILL,
    PAIN_REGIONS,
    RADIATING_STROKE,
    SKIN,
    BodyMapInput,
    render,
    text_alternative,
)
from intake.questionnaire import FIELD_BY_CODE
from tests.clinic_fixtures import worked_cases


def drawn(svg: str, cls: str) -> set[str]:
    return set(re.findall(rf'<g class="{cls}" data-code="([a-z_]+)"', svg))


def test_every_pain_region_and_numbness_zone_of_the_questionnaire_has_a_place_on_the_map():
    assert set(PAIN_REGIONS) == FIELD_BY_CODE["pain_regions"].choice_codes
    # "Somewhere else" has no place: it is named in the text alternative instead.
    assert set(NUMB_REGIONS) == FIELD_BY_CODE["numbness_areas"].choice_codes - {"other_area"}


@pytest.mark.parametrize("case", worked_cases(), ids=lambda c: c["id"][:3])
def test_the_map_shows_exactly_the_reported_regions(case):
    answers = case["answers"]
    data = BodyMapInput(
        answers["pain_regions"], answers["numbness_areas"], answers["pain_below_knee_side"]
    )
    svg = render(data, staff=True)
    assert drawn(svg, "pain") == set(answers["pain_regions"])
    assert drawn(svg, "numb") == set(answers["numbness_areas"]) - {"other_area"}
    sides = set(re.findall(r'class="radiating" data-side="(\w+)"', svg))
    expected = {"none": set(), "left": {"left"}, "right": {"right"}, "both": {"left", "right"}}
    assert sides == expected[answers["pain_below_knee_side"]]


def test_the_text_alternative_lists_the_same_regions_and_the_radiating_side():
    data = BodyMapInput(["heel", "lower_back"], ["shin_and_top_of_foot"], "both")
    lines = text_alternative(data, staff=False)
    assert lines[0] == "Pain: Lower back, Heel."
    assert "top of the foot" in lines[1]
    assert lines[2] == "Pain travels from the back down both legs to below the knee."
    assert " ".join(lines) in render(data, staff=False)


def test_nerve_root_names_are_on_the_staff_map_only():
    data = BodyMapInput([], ["shin_and_top_of_foot", "outer_foot_and_sole", "inner_shin"], "none")
    staff, patient = render(data, staff=True), render(data, staff=False)
    patient_text = " ".join(re.findall(r">([^<]+)<", patient))
    for root in ("L4", "L5", "S1"):
        assert f">{root}<" in staff
        assert root not in patient_text
    assert "pattern" not in patient_text


def test_free_of_scripts_and_external_references():
    svg = render(BodyMapInput(["heel"], [], "left"), staff=True)
    assert "<script" not in svg
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_clickable_map_is_one_labelled_checkbox_per_code():
    svg = render(BodyMapInput(["heel"], [], "none"), staff=False, interactive="pain_regions")
    boxes = re.findall(
        r'data-code="([a-z_]+)" role="checkbox" tabindex="0" aria-checked="(\w+)"', svg
    )
    assert dict(boxes)["heel"] == "true"
    assert {code for code, _ in boxes} == set(PAIN_REGIONS)
    assert sum(state == "true" for _, state in boxes) == 1


EVERYTHING = BodyMapInput(list(PAIN_REGIONS), list(NUMB_REGIONS), "both")


@dataclass(eq=False)
class Node:
    tag: str
    attrs: dict[str, str]
    parent: "Node | None" = None
    children: list["Node"] = field(default_factory=list)

    def find_all(self, tag: str, cls: str) -> list["Node"]:
        found = [c for c in self.children if c.tag == tag and c.attrs.get("class") == cls]
        return found + [n for c in self.children for n in c.find_all(tag, cls)]

    def shapes(self) -> list[dict[str, str]]:
        return [c.attrs for c in self.children] + [a for c in self.children for a in c.shapes()]


class Tree(HTMLParser):
    def __init__(self, svg: str) -> None:
        super().__init__()
        self.root = self.node = Node("document", {})
        self.feed(svg)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.node)
        self.node.children.append(node)
        self.node = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.node.tag == tag
        assert self.node.parent
        self.node = self.node.parent


GEOMETRY = ("d", "x1", "y1", "x2", "y2")


def test_lines_that_cross_other_marks_run_on_a_halo_of_skin_colour():
    # A blue or purple line over a pain region is 1.4-2.4:1 against it; on its halo it keeps its
    # contrast with skin, whatever it crosses (WCAG 1.4.11).
    root = Tree(render(EVERYTHING, staff=True)).root
    hatches = root.find_all("line", "numb-hatch")
    radiating = root.find_all("path", "radiating")
    zones = root.find_all("g", "numb")
    assert (len(hatches), len(radiating)) == (1, 2)
    assert {zone.attrs["data-code"] for zone in zones} == set(NUMB_REGIONS)
    for mark in [*hatches, *radiating, *zones]:
        assert mark.parent
        siblings = mark.parent.children
        halo = siblings[siblings.index(mark) - 1]
        assert (halo.attrs["class"], halo.attrs["stroke"]) == ("map-halo", SKIN)
        assert halo.attrs.get("fill", "none") == "none"
        assert float(halo.attrs["stroke-width"]) >= float(mark.attrs["stroke-width"]) + 2
        # Under the same lines: the halo's shapes are the mark's.
        assert [halo.attrs.get(a) for a in GEOMETRY] == [mark.attrs.get(a) for a in GEOMETRY]
        assert halo.shapes() == mark.shapes()


def test_the_standalone_map_is_drawn_in_its_own_light_colours():
    # The API serves the SVG alone: no style sheet, no page theme. Each part the admin's theme
    # restyles by its class carries its light colour itself.
    svg = render(EVERYTHING, staff=True)
    assert "var(" not in svg
    expected = {
        "map-skin": f'fill="{SKIN}" stroke="{OUTLINE}"',
        "pain": f'fill="{PAIN_FILL}" fill-opacity="0.75" stroke="{PAIN_FILL}"',
        "numb": f'stroke="{NUMB_STROKE}"',
        "radiating": f'stroke="{RADIATING_STROKE}"',
        "root-label": f'fill="{NUMB_STROKE}"',
        "legend-pain": f'fill="{PAIN_FILL}" fill-opacity="0.75"',
        "legend-numb": f'stroke="{NUMB_STROKE}"',
        "legend-radiating": f'stroke="{RADIATING_STROKE}"',
        "map-halo": f'stroke="{SKIN}"',
    }
    for cls, colours in expected.items():
        tags = re.findall(rf'<\w+ class="{cls}"[^>]*>', svg)
        assert tags, cls
        for tag in tags:
            for attribute in colours.split():
                assert attribute in tag, (cls, tag)
