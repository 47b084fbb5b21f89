"""The queue and the case page stay readable in the admin's dark theme, chosen by the browser's
preference or by the theme toggle: our colours measured as chromium draws them (the cascade, not
just our rules; Django's ``tr:nth-child`` row backgrounds once hid the flagged-answer highlight).
The dashboard's bars and the case page's body map keep 3:1 (WCAG 1.4.11) in either theme."""

import datetime as dt
from itertools import pairwise

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from referrals.access import TRIAGE_LEAD_GROUP
from referrals.models import Referral
from tests.browser.conftest import SCREENSHOTS, describe, run_axe
from tests.browser.test_staff_admin import log_in
from tests.clinic_fixtures import details, make_staff, submit, worked_case
from tests.referrals.test_admin_contrast import AA_TEXT, NON_TEXT, contrast, over

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

# The text colour and the first opaque background behind it, as "#rrggbb".
DRAWN_COLOURS = """(el) => {
    const hex = (css) => "#" + css.match(/[\\d.]+/g).slice(0, 3)
        .map((n) => Math.round(Number(n)).toString(16).padStart(2, "0")).join("");
    const opaque = (css) => { const p = css.match(/[\\d.]+/g); return p.length < 4 || +p[3] > 0; };
    let node = el;
    while (node && !opaque(getComputedStyle(node).backgroundColor)) node = node.parentElement;
    const bg = node ? getComputedStyle(node).backgroundColor : "rgb(255, 255, 255)";
    return [hex(getComputedStyle(el).color), hex(bg)];
}"""
CASE_PAGE_TEXT = (
    "tr.answer-flagged th",
    "tr.answer-flagged td",
    "tr.answer-flagged small",
    ".overdue",
    ".disclaimer",
    ".urgency",
)


def drawn_contrast(page: Page, selector: str) -> list[tuple[str, str, str, float]]:
    found = page.locator(selector)
    expect(found.first).to_be_visible()
    pairs = [found.nth(i).evaluate(DRAWN_COLOURS) for i in range(found.count())]
    return [(selector, fg, bg, contrast(fg, bg)) for fg, bg in pairs]


def low_contrast(page: Page, *selectors: str) -> list[tuple[str, str, str, float]]:
    drawn = [pair for selector in selectors for pair in drawn_contrast(page, selector)]
    return [pair for pair in drawn if pair[3] < AA_TEXT]


@pytest.mark.parametrize("chosen_by", ["browser preference", "theme toggle"])
def test_the_queue_and_the_case_are_readable_in_the_dark_theme(page: Page, chosen_by: str):
    make_staff("dr_umar", "Urgent medical review team")
    ces = submit("V09", patient=details(family_name="Morgan", phone="07700 900003"))
    Referral.objects.update(due_at=timezone.now() - dt.timedelta(hours=1))
    if chosen_by == "browser preference":
        page.emulate_media(color_scheme="dark")
    else:
        page.emulate_media(color_scheme="light")
        page.add_init_script("localStorage.setItem('theme', 'dark')")
    log_in(page, "dr_umar")

    page.goto("/admin/referrals/referral/")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(18, 18, 18)"
    assert low_contrast(page, "code.red", ".overdue", ".disclaimer", ".urgency") == []
    page.locator("#result_list tbody tr input.action-select").first.check()
    assert low_contrast(page, "#result_list tr.selected code.red") == []

    page.goto(f"/admin/referrals/referral/{ces.referrals[0].public_id}/change/")
    flagged = page.locator("tr.answer-flagged")
    expect(flagged.first).to_be_visible()
    assert low_contrast(page, *CASE_PAGE_TEXT) == []
    row_bg = flagged.first.evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert row_bg != "rgb(18, 18, 18)", "the flagged answers are not marked out"
    assert run_axe(page) == [], describe(run_axe(page))


# An SVG property of every element a selector finds, as "#rrggbb" (or as given, for a pattern).
DRAWN_PROPERTY = """([els, prop]) => els.map((el) => {
    const css = getComputedStyle(el)[prop];
    const p = css.match(/[\\d.]+/g);
    if (!css.startsWith("rgb")) return css;
    return "#" + p.slice(0, 3)
        .map((n) => Math.round(Number(n)).toString(16).padStart(2, "0")).join("");
})"""
PAGE_BEHIND = """(el) => {
    const opaque = (css) => { const p = css.match(/[\\d.]+/g); return p.length < 4 || +p[3] > 0; };
    let node = el;
    while (node && !opaque(getComputedStyle(node).backgroundColor)) node = node.parentElement;
    const css = node ? getComputedStyle(node).backgroundColor : "rgb(255, 255, 255)";
    return "#" + css.match(/[\\d.]+/g).slice(0, 3)
        .map((n) => Number(n).toString(16).padStart(2, "0")).join("");
}"""
THEMES = ["light", "dark by browser preference", "dark by theme toggle"]
# Every numbness zone (all three nerve roots labelled), over pain on the same legs.
MAPPED = {
    **worked_case("V01"),
    "pain_regions": ["lower_back", "buttock", "back_of_thigh", "lower_leg", "ankle", "heel"],
    "numbness_areas": [
        "shin_and_top_of_foot",
        "outer_foot_and_sole",
        "inner_shin",
        "both_feet_sock_area",
    ],
    "pain_below_knee_side": "both",
    "leg_symptoms_side": "both",
    "leg_neuro_side": "both",
}


def choose(page: Page, theme: str) -> None:
    page.emulate_media(color_scheme="dark" if theme == "dark by browser preference" else "light")
    if theme == "dark by theme toggle":
        page.add_init_script("localStorage.setItem('theme', 'dark')")


def snap(element: Locator, name: str) -> None:
    """The drawing alone, under test-artifacts/screenshots/admin/, for a person to look at."""
    (SCREENSHOTS / "admin").mkdir(parents=True, exist_ok=True)
    element.screenshot(path=SCREENSHOTS / "admin" / f"{name.replace(' ', '-')}.png")


def drawn(page: Page, selector: str, prop: str) -> list[str]:
    found = page.locator(selector)
    expect(found.first).to_be_attached()
    return found.evaluate_all(f"(els) => ({DRAWN_PROPERTY})([els, {prop!r}])")


def one(page: Page, selector: str, prop: str) -> str:
    values = set(drawn(page, selector, prop))
    assert len(values) == 1, (selector, prop, values)
    return values.pop()


@pytest.mark.parametrize("theme", THEMES)
def test_the_dashboard_bars_and_the_body_map_keep_3_to_1_in_either_theme(page: Page, theme: str):
    make_staff("lead_lin", TRIAGE_LEAD_GROUP)
    submit("V09", patient=details(family_name="Morgan", phone="07700 900003"))  # emergency
    submit("V17", patient=details(family_name="Patel", phone="07700 900004"))  # urgent
    submit("V11", patient=details(family_name="Evans", phone="07700 900005"))  # routine
    mapped = submit(answers=MAPPED, patient=details(family_name="Hughes", phone="07700 900001"))
    choose(page, theme)
    log_in(page, "lead_lin")
    low: list[tuple[str, str, str, float]] = []

    def need(what: str, fg: str, bg: str, ratio: float = NON_TEXT) -> None:
        if contrast(fg, bg) < ratio:
            low.append((what, fg, bg, round(contrast(fg, bg), 2)))

    page.goto("/admin/")
    chart = page.locator(".dash-chart svg")
    module = chart.evaluate(PAGE_BEHIND)
    assert (module == "#121212") == theme.startswith("dark")
    for urgency in ("emergency", "urgent", "routine"):
        bars = drawn(page, f".dash-chart rect.bar-{urgency}", "fill")
        assert len(bars) >= 2, urgency  # a bar and the legend
        for fill in bars:
            need(f"{urgency} bar", fill, module)
    snap(chart, f"dashboard-chart-{theme}")

    page.goto(f"/admin/referrals/referral/{mapped.referrals[0].public_id}/change/")
    body_map = page.locator(".body-map-wrap svg")
    bg = body_map.evaluate(PAGE_BEHIND)
    assert (bg == "#121212") == theme.startswith("dark")
    skin = one(page, ".body-map-wrap .map-skin", "fill")
    assert one(page, ".body-map-wrap .map-halo", "stroke") == skin
    outline = one(page, ".body-map-wrap .map-skin", "stroke")
    need("figure's outline on the page", outline, bg)
    need("figure's outline on its skin", outline, skin)
    for where in (".pain", ".legend-pain"):
        fill = one(page, f".body-map-wrap {where}", "fill")
        opacity = float(one(page, f".body-map-wrap {where}", "fillOpacity"))
        need(f"{where} on skin", over(fill, opacity, skin), skin)
        need(f"{where} on the page", over(fill, opacity, bg), bg)
    for where in (".pain", ".numb", ".numb-hatch", ".legend-numb", ".radiating"):
        line = one(page, f".body-map-wrap {where}", "stroke")
        need(f"{where} lines on skin", line, skin)
        need(f"{where} lines on the page", line, bg)
    need("radiating legend", one(page, ".body-map-wrap .legend-radiating", "stroke"), bg)
    labels = drawn(page, ".body-map-wrap .root-label", "fill")
    assert len(labels) == 3
    for label in labels:
        need("nerve-root label on the page", label, bg, AA_TEXT)
        need("nerve-root label on skin", label, skin, AA_TEXT)
    # The legend's keys and words apart (the numbness words once ran into the radiating key).
    boxes = page.locator(".body-map-wrap .legend > *").evaluate_all(
        "(els) => els.map((el) => { const b = el.getBBox(); return [b.x, b.width]; })"
    )
    spans = sorted((x, x + width) for x, width in boxes)
    assert all(end <= start for (_, end), (start, _) in pairwise(spans)), spans
    snap(body_map, f"case-body-map-{theme}")
    assert low == []
