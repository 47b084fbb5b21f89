"""The queue and the case page fit the window at laptop and desktop widths, the admin's sidebar
open: nothing scrolls sideways, neither the page nor a box in it, with long names, usernames and
many flags. At 1280 px with the sidebar open the queue's last columns (due, assigned, status,
queue) were cut off, scrolled to sideways inside the table's box; at 1920 px too, by a long
surname and a long username that could not wrap (referrals/static/referrals/admin.css)."""

import datetime as dt
import random
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import FloatRect, Page, expect

from intake.demo import birth_date_for
from intake.models import Intake
from intake.sampling import random_answers
from intake.triage import evaluate
from referrals.access import TRIAGE_LEAD_GROUP
from referrals.models import Referral
from referrals.services import referral_claim, referral_contact
from tests.browser.conftest import screenshot
from tests.browser.test_staff_admin import log_in
from tests.clinic_fixtures import details, make_staff, submit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

LEAD = "anna-katharina.oyelaran-whitfield"
# The widths of ordinary laptops and desktops, with the sidebar open; at 1024 px it is closed.
# Chromium draws no scrollbar here: 1263 is 1280 less a classic one (17 px, as on Windows).
# The filters are under the table where it and they do not fit side by side.
WIDTHS = [
    pytest.param(1280, True, "under", id="1280-sidebar-open"),
    pytest.param(1263, True, "under", id="1280-less-a-scrollbar-sidebar-open"),
    pytest.param(1366, True, "under", id="1366-sidebar-open"),
    pytest.param(1440, True, "under", id="1440-sidebar-open"),
    pytest.param(1920, True, "beside", id="1920-sidebar-open"),
    pytest.param(1024, False, "under", id="1024-sidebar-closed"),
]

# What scrolls sideways: the page, and any box in it whose content is wider than the box (the
# table's box, .results, scrolls by itself); and anything drawn past the window's right edge.
SIDEWAYS = """() => {
    const root = document.documentElement;
    const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + (typeof el.className === "string" && el.className ? "." + el.classList[0] : "");
    const found = [];
    if (root.scrollWidth > root.clientWidth) {
        found.push(`page ${root.scrollWidth} > ${root.clientWidth}`);
    }
    for (const el of document.body.querySelectorAll("*")) {
        const style = getComputedStyle(el);
        if (["auto", "scroll"].includes(style.overflowX) && el.scrollWidth > el.clientWidth) {
            found.push(`${name(el)} scrolls: ${el.scrollWidth} > ${el.clientWidth}`);
        }
        const box = el.getBoundingClientRect();
        if (box.width > 0 && box.right > root.clientWidth + 0.5) {
            found.push(`${name(el)} ends at ${Math.round(box.right)} > ${root.clientWidth}`);
        }
    }
    return found;
}"""

# Where an element's text goes on to a new line in the middle of a word: the line before
# ends with neither a space, a hyphen, an underscore nor a slash. And how many lines it takes.
LINE_BREAKS = """(el) => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    let top = null, previous = "", spaced = false, lines = 0;
    const midword = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (let i = 0; i < node.data.length; i++) {
            const char = node.data[i];
            if (/\\s/.test(char) && char !== "\\u00a0") { spaced = true; continue; }
            range.setStart(node, i);
            range.setEnd(node, i + 1);
            const rects = range.getClientRects();
            if (!rects.length) continue;
            if (top === null || rects[0].top > top + 2) {
                lines += 1;
                if (top !== null && !spaced && !"-_/".includes(previous)) {
                    midword.push(previous + "|" + char);
                }
            }
            top = rects[0].top;
            previous = char;
            spaced = false;
        }
    }
    return {lines, midword};
}"""


def most_flags() -> dict[str, Any]:
    """Valid answers that fire the most flags among a thousand drawn (fifteen, four red)."""
    drawn = (random_answers(random.Random(seed)) for seed in range(1000))
    return max(drawn, key=lambda answers: len(evaluate(answers)[1]))


def long_content() -> Referral:
    """A queue with a surname longer than any column, a long username assigned, a case with
    fifteen flags (four red), an overdue case waiting for nine days, and references of the
    widest letters. Returns the many-flagged emergency's referral."""
    lead = make_staff(LEAD, TRIAGE_LEAD_GROUP)
    answers = most_flags()
    born = birth_date_for(answers.pop("age_years"), timezone.localdate())
    flagged = submit(
        answers=answers,
        patient=details(
            family_name="Wolfeschlegelsteinhausenbergerdorff",
            given_name="Maria-Magdalena Anastasia Theodora",
            date_of_birth=born,
            phone="07700 900111",
            email="maria-magdalena.wolfeschlegelsteinhausenbergerdorff@example.org",
        ),
    )
    assert len(flagged.intake.flag_codes) >= 12, flagged.intake.flag_codes
    submit(
        "V22",  # five flags, two queues
        patient=details(
            family_name="Featherstonehaugh-Cholmondeley",
            given_name="Bartholomew",
            phone="07700 900112",
        ),
    )
    claimed = submit(
        "V17",  # a red flag, urgent
        patient=details(
            family_name="Okonkwo-Abernathy", given_name="Oluwaseun", phone="07700 900113"
        ),
    ).referrals[0]
    referral_claim(referral=claimed, actor=lead)
    referral_contact(referral=claimed, actor=lead)
    now = timezone.now()
    long_ago = now - dt.timedelta(days=9, hours=5)
    Referral.objects.filter(pk=claimed.pk).update(
        created_at=long_ago, due_at=long_ago + dt.timedelta(days=1)
    )
    # "3 hours, 48 minutes": the widest waiting time, its number and unit kept together.
    Referral.objects.exclude(pk=claimed.pk).update(created_at=now - dt.timedelta(minutes=228))
    for n, intake in enumerate(Intake.objects.order_by("pk")):
        intake.reference = ("WMWMWMWM", "MWMWMWMW", "WWWWMMMM")[n]
        intake.save(update_fields=["reference"])
    return flagged.referrals[0]


def box(page: Page, selector: str) -> FloatRect:
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return found


def open_at(page: Page, width: int, sidebar_open: bool) -> None:
    page.add_init_script(
        f"localStorage.setItem('django.admin.navSidebarIsOpen', '{str(sidebar_open).lower()}')"
    )
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, LEAD)


@pytest.mark.parametrize(("width", "sidebar_open", "filters_go"), WIDTHS)
def test_the_queue_fits_the_window_and_every_column_is_readable(
    page: Page, width: int, sidebar_open: bool, filters_go: str
):
    long_content()
    open_at(page, width, sidebar_open)
    page.goto("/admin/referrals/referral/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(5)
    expect(page.locator("#main")).to_have_class("main shifted" if sidebar_open else "main")
    screenshot(page, f"admin/queue-long-{width}")

    assert page.evaluate(SIDEWAYS) == []
    cells = page.locator("#result_list td, #result_list th")
    spilt = cells.evaluate_all(
        "(cells) => cells.filter((c) => c.scrollWidth > c.clientWidth).map((c) => c.className)"
    )
    assert spilt == []
    for badge in page.locator("#result_list .urgency").all():
        assert badge.evaluate(LINE_BREAKS)["lines"] == 1, badge.text_content()
    # A flag code goes on to the next line only after one of its underscores.
    for chip in page.locator("#result_list td.field-flags code").all():
        assert chip.evaluate(LINE_BREAKS)["midword"] == [], chip.text_content()
    # The due time, the waiting time, the link, the status and the queue break between words;
    # only a name or username longer than its column is broken inside a word.
    for column in ("reference", "urgency_badge", "link", "waiting", "due", "status", "queue"):
        for cell in page.locator(f"#result_list .field-{column}").all():
            assert cell.evaluate(LINE_BREAKS)["midword"] == [], (column, cell.text_content())
    if filters_go == "beside":
        # Roomy: the filters beside the table, and the ordinary names whole.
        table, filters = box(page, "#changelist-form .results"), box(page, "#changelist-filter")
        assert filters["x"] >= table["x"] + table["width"]
        for name in ("FEATHERSTONEHAUGH", "OKONKWO"):
            cell = page.locator("#result_list td.field-patient_name", has_text=name).first
            assert cell.evaluate(LINE_BREAKS)["midword"] == [], cell.text_content()
    else:
        # The filters under the table, all of them.
        table, filters = box(page, "#result_list"), box(page, "#changelist-filter")
        assert filters["y"] >= table["y"] + table["height"]
    expect(page.locator("#changelist-filter details")).to_have_count(6)


@pytest.mark.parametrize(("width", "sidebar_open", "_"), WIDTHS)
def test_the_case_page_fits_the_window(page: Page, width: int, sidebar_open: bool, _: str):
    referral = long_content()
    open_at(page, width, sidebar_open)
    page.goto(f"/admin/referrals/referral/{referral.public_id}/change/")
    expect(page.get_by_role("heading", name="Flags and why they fired")).to_be_visible()
    expect(page.locator("#main")).to_have_class("main shifted" if sidebar_open else "main")
    screenshot(page, f"admin/case-long-{width}")
    assert page.evaluate(SIDEWAYS) == []


def test_on_a_phone_only_the_queues_table_scrolls_sideways(page: Page):
    """Django's narrow layout: the filters under the table, and the table in a box of its own
    that scrolls sideways, not the page. The case page fits."""
    referral = long_content()
    open_at(page, 390, True)
    page.goto("/admin/referrals/referral/")
    expect(page.locator("#result_list tbody tr")).to_have_count(5)
    screenshot(page, "admin/queue-long-390")
    page_width = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    scroll_width, client_width = page.evaluate(page_width)
    assert scroll_width <= client_width
    results = page.locator("#changelist-form .results")
    assert results.evaluate("(el) => el.scrollWidth > el.clientWidth")
    table, filters = box(page, "#result_list"), box(page, "#changelist-filter")
    assert filters["y"] >= table["y"] + table["height"]
    page.goto(f"/admin/referrals/referral/{referral.public_id}/change/")
    screenshot(page, "admin/case-long-390")
    assert page.evaluate(SIDEWAYS) == []
