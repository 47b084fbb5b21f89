import re

import pytest

from intake.bodymap import NUMB_REGIONS, PAIN_REGIONS, BodyMapInput, render, text_alternative
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
