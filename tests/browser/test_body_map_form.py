"""The clickable body map on the pain-regions and numbness steps (issue 9).

Clicking the picture must give exactly the answers ticking the boxes gives: the boxes are the
answer and the map only mirrors them, both ways.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from intake.drafts import STEP_CODES
from intake.models import Intake, IntakeDraft
from tests.browser.test_admin_dark_mode import PAGE_BEHIND, drawn, one
from tests.browser.test_patient_form import PHONE, check_step, fill_step, next_step
from tests.clinic_fixtures import worked_case
from tests.form_data import IDENTITY, step_data
from tests.referrals.test_admin_contrast import NON_TEXT, contrast, over

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

MAP_STEPS = {"pain_locations": "pain_regions", "neuro": "numbness_areas"}


def region(page: Page, field: str, code: str) -> Any:
    return page.locator(f"#map-{field}-{code}")


def click_region(page: Page, field: str, code: str) -> None:
    # The first drawn shape of the region: a region spans several views, so its box's centre
    # may fall between the legs.
    region(page, field, code).locator("> g:first-child > *").click()


def answer(page: Page, answers: dict[str, Any], *, by_map: bool) -> None:
    page.goto("/form/identity/")
    for number, step in enumerate(STEP_CODES, start=1):
        expect(page.get_by_text(f"Step {number} of {len(STEP_CODES)}")).to_be_visible()
        data = step_data(step, answers, IDENTITY)
        field = MAP_STEPS.get(step)
        if by_map and field:
            expect(page.get_by_role("heading", name="You can also tap the picture")).to_be_visible()
            data.pop(field, None)
            fill_step(page, data)
            for code in answers[field]:
                click_region(page, field, code)
                expect(region(page, field, code)).to_have_attribute("aria-checked", "true")
                expect(page.locator(f"input[name='{field}'][value='{code}']")).to_be_checked()
        else:
            fill_step(page, data)
        if step == STEP_CODES[-1]:
            page.get_by_role("button", name="Send my answers").click()
        else:
            next_step(page)
    expect(page.get_by_role("heading", name="Your form has been sent")).to_be_visible()


def test_answering_by_clicking_the_map_gives_the_same_answers_as_ticking_boxes(page: Page):
    answers = worked_case("V17")  # toes and ball of the foot; numbness in the sock area
    assert answers["pain_regions"]
    assert answers["numbness_areas"]
    answer(page, answers, by_map=False)
    answer(page, answers, by_map=True)
    by_boxes, by_map = Intake.objects.order_by("submitted_at")
    assert by_map.answers == by_boxes.answers
    assert by_map.link_kind == by_boxes.link_kind


def test_the_map_and_the_boxes_follow_each_other_by_mouse_and_keyboard(page: Page):
    answers = worked_case("V22")
    page.goto("/form/identity/")
    for step in STEP_CODES[:2]:
        fill_step(page, step_data(step, answers, IDENTITY))
        next_step(page)
    expect(page.get_by_text("Step 3 of 12")).to_be_visible()
    heel = region(page, "pain_regions", "heel")
    heel_box = page.locator("input[name='pain_regions'][value='heel']")
    expect(heel).to_have_attribute("role", "checkbox")
    expect(heel).to_have_attribute("aria-label", "Heel")

    heel_box.check()  # box -> map
    expect(heel).to_have_attribute("aria-checked", "true")
    expect(heel).to_have_class("map-region is-on")
    heel_box.uncheck()
    expect(heel).to_have_attribute("aria-checked", "false")

    click_region(page, "pain_regions", "knee")  # map -> box, and back off again
    expect(page.locator("input[name='pain_regions'][value='knee']")).to_be_checked()
    click_region(page, "pain_regions", "knee")
    expect(page.locator("input[name='pain_regions'][value='knee']")).not_to_be_checked()

    lower_back = region(page, "pain_regions", "lower_back")
    lower_back.focus()
    page.keyboard.press("Space")
    expect(lower_back).to_have_attribute("aria-checked", "true")
    region(page, "pain_regions", "buttock").focus()
    page.keyboard.press("Enter")  # toggles the region; it does not send the form
    expect(page.get_by_text("Step 3 of 12")).to_be_visible()
    rest = step_data("pain_locations", answers)
    rest.pop("pain_regions")
    fill_step(page, rest)
    check_step(page, "03-pain_locations-map")
    next_step(page)
    expect(page.get_by_text("Step 4 of 12")).to_be_visible()
    saved = IntakeDraft.objects.get().data["answers"]
    assert saved["pain_regions"] == ["lower_back", "buttock"]


def test_the_numbness_map_never_shows_nerve_root_names(page: Page):
    answers = worked_case("V17")
    page.goto("/form/identity/")
    for step in STEP_CODES[: STEP_CODES.index("neuro")]:
        fill_step(page, step_data(step, answers, IDENTITY))
        next_step(page)
    picker = page.locator("[data-body-map='numbness_areas']")
    expect(picker).to_be_visible()
    # Everything a person or a screen reader can get from the picture: text and labels.
    said = picker.evaluate(
        "e => e.textContent + '|' + Array.from(e.querySelectorAll('[aria-label]'))"
        ".map(x => x.getAttribute('aria-label')).join('|')"
    )
    assert "sock would cover" in said
    for staff_word in ("L4", "L5", "S1", "pattern", "polyneuropathy"):
        assert staff_word not in said
    check_step(page, "05-neuro-map")


def test_the_maps_outlines_ticked_regions_and_focus_keep_3_to_1(page: Page):
    """WCAG 1.4.11, measured on the drawn page: a region's outline against the skin and the
    page, and where it crosses a ticked region (the knee over the thigh and shin: 2.3:1 with
    the outlines before); a ticked region against the skin and against itself unticked (the
    numbness regions' 2.9:1 before); the keyboard focus against both. The last note's 'the
    patient form's clickable body map was not reviewed for contrast'."""
    answers = worked_case("V22")
    page.goto("/form/identity/")
    low: list[tuple[str, str, str, float]] = []

    def need(what: str, fg: str, bg: str) -> None:
        if contrast(fg, bg) < NON_TEXT:
            low.append((what, fg, bg, round(contrast(fg, bg), 2)))

    for number, step in enumerate(STEP_CODES[: STEP_CODES.index("neuro") + 1], start=1):
        expect(page.get_by_text(f"Step {number} of {len(STEP_CODES)}")).to_be_visible()
        field = MAP_STEPS.get(step)
        if field is None:
            fill_step(page, step_data(step, answers, IDENTITY))
            next_step(page)
            continue
        picker = f"[data-body-map='{field}']"
        expect(page.locator(picker)).to_be_visible()
        page_bg = page.locator(f"{picker} svg").evaluate(PAGE_BEHIND)
        skin = one(page, f"{picker} .map-skin", "fill")
        codes = page.locator(f"{picker} .map-region").evaluate_all(
            "(els) => els.map((el) => el.dataset.code)"
        )
        untouched = {c: drawn(page, f"#map-{field}-{c}", "fill")[0] for c in codes}
        off = {c: float(one(page, f"#map-{field}-{c}", "fillOpacity")) for c in codes}
        outline = {c: one(page, f"#map-{field}-{c}", "stroke") for c in codes}
        for code in codes:  # by keyboard: the sock area lies over the middle of the shin
            region(page, field, code).focus()
            page.keyboard.press("Space")
            expect(region(page, field, code)).to_have_attribute("aria-checked", "true")
        page.evaluate("document.activeElement.blur()")  # nothing focused or hovered on the map
        page.mouse.move(0, 0)
        for code in codes:
            where = f"#map-{field}-{code}"
            fill = one(page, where, "fill")
            on = over(fill, float(one(page, where, "fillOpacity")), skin)
            need(f"{code}: outline on the skin", outline[code], skin)
            need(f"{code}: outline on the page", outline[code], page_bg)
            need(f"{code}: ticked, on the skin", on, skin)
            need(f"{code}: ticked against unticked", on, over(untouched[code], off[code], skin))
            for other in codes:
                need(f"{other}'s outline across ticked {code}", outline[other], on)
        # Keyboard focus on a ticked region and on an unticked one.
        first = region(page, field, codes[0])
        first.focus()
        page.keyboard.press("Space")  # unticks it: focus from the keyboard
        assert first.evaluate("(el) => el.matches(':focus-visible')")
        focus = one(page, f"#map-{field}-{codes[0]}", "stroke")
        ticked = over(
            one(page, f"#map-{field}-{codes[1]}", "fill"),
            float(one(page, f"#map-{field}-{codes[1]}", "fillOpacity")),
            skin,
        )
        need("focus on the skin", focus, skin)
        need("focus across a ticked region", focus, ticked)
        assert one(page, f"#map-{field}-{codes[0]}", "strokeWidth") == "3.5px"
        for code in codes[1:]:  # back to nothing ticked
            region(page, field, code).focus()
            page.keyboard.press("Space")
        check_step(page, f"{number:02d}-{step}-map-contrast")
        if step != "neuro":
            data = step_data(step, answers, IDENTITY)
            data.pop(field, None)
            fill_step(page, data)
            next_step(page)
    assert low == []


def tap_region(page: Page, field: str, code: str) -> None:
    region(page, field, code).locator("> g:first-child > *").tap()


def test_on_a_phone_the_map_shows_the_boxes_the_browser_brings_back(
    browser: Browser, live_server: Any
):
    """Back to a step brings its boxes back as the patient left them, unsaved ticks too, with
    no change event: the map showed the page as sent, the knee unticked beside its ticked box,
    and a tap on the knee to tick it unticked the box (a QA round, at 375 px by touch, after a
    refused step)."""
    context = browser.new_context(base_url=live_server.url, viewport=PHONE, has_touch=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        answers = worked_case("V22")
        page.goto("/form/identity/")
        for number, step in enumerate(STEP_CODES[:2], start=1):
            expect(page.get_by_text(f"Step {number} of {len(STEP_CODES)}")).to_be_visible()
            fill_step(page, step_data(step, answers, IDENTITY))
            next_step(page)
        expect(page.get_by_text("Step 3 of 12")).to_be_visible()
        tap_region(page, "pain_regions", "heel")
        next_step(page)  # refused: the step's other questions have no answer
        expect(page.locator("#error-summary")).to_be_focused()
        knee = region(page, "pain_regions", "knee")
        knee.focus()
        page.keyboard.press("Space")
        page.locator("a.back-link").tap()
        expect(page.get_by_text("Step 2 of 12")).to_be_visible()
        page.go_back()
        expect(page.get_by_text("Step 3 of 12")).to_be_visible()
        page.wait_for_load_state("load")
        for code in ("heel", "knee"):
            expect(page.locator(f"input[name='pain_regions'][value='{code}']")).to_be_checked()
            expect(region(page, "pain_regions", code)).to_have_attribute("aria-checked", "true")
        tap_region(page, "pain_regions", "knee")  # unticked on the map: unticked in the list
        expect(knee).to_have_attribute("aria-checked", "false")
        expect(page.locator("input[name='pain_regions'][value='knee']")).not_to_be_checked()
        rest = step_data("pain_locations", answers)
        rest.pop("pain_regions")
        fill_step(page, rest)
        next_step(page)
        expect(page.get_by_text("Step 4 of 12")).to_be_visible()
        assert IntakeDraft.objects.get().data["answers"]["pain_regions"] == ["heel"]
        assert errors == []
    finally:
        context.close()
