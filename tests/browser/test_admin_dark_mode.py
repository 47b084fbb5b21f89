"""The queue and the case page stay readable in the admin's dark theme, chosen by the browser's
preference or by the theme toggle: our colours measured as chromium draws them (the cascade, not
just our rules; Django's ``tr:nth-child`` row backgrounds once hid the flagged-answer highlight)."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from referrals.models import Referral
from tests.browser.conftest import describe, run_axe
from tests.browser.test_staff_admin import log_in
from tests.clinic_fixtures import details, make_staff, submit
from tests.referrals.test_admin_contrast import AA_TEXT, contrast

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
