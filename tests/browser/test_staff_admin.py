"""A clinician works a case in the admin in a real browser: no CSP errors, nothing inaccessible."""

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import describe, run_axe, screenshot
from tests.clinic_fixtures import details, make_staff, submit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "correct horse battery staple"


def log_in(page: Page, username: str) -> None:
    page.goto("/admin/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_the_medical_reviewer_sees_the_queue_opens_a_case_and_clears_the_red_flag(page: Page):
    make_staff("dr_umar", "Urgent medical review team")
    ces = submit("V09", patient=details(family_name="Morgan", phone="07700 900003"))
    submit("V01", patient=details(family_name="Hughes", phone="07700 900001"))
    log_in(page, "dr_umar")
    expect(page.get_by_role("heading", name="Open referrals", exact=True)).to_be_visible()
    screenshot(page, "admin/dashboard-1280")

    page.goto("/admin/referrals/referral/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("RED_FLAG_CAUDA_EQUINA")
    expect(rows.first).to_contain_text("Emergency")
    screenshot(page, "admin/queue-1280")
    assert run_axe(page) == [], describe(run_axe(page))

    rows.first.get_by_role("link", name=ces.intake.reference).click()
    expect(page.get_by_role("heading", name="Flags and why they fired")).to_be_visible()
    expect(page.get_by_text("prompts for clinical reasoning, not diagnoses")).to_be_visible()
    screenshot(page, "admin/case-1280")
    assert run_axe(page) == [], describe(run_axe(page))

    page.get_by_label("Reason (clinical finding)").fill("Examined: saddle sensation normal")
    page.get_by_role("button", name="Clear red flag and release").click()
    expect(page.get_by_text("Red flag cleared. Released to: Chiropractic")).to_be_visible()
    screenshot(page, "admin/case-cleared-1280")


@pytest.mark.parametrize(
    "path",
    ["/admin/referrals/referral/", "/admin/intake/intake/", "/admin/referrals/auditentry/"],
    ids=["queue", "submissions", "audit trail"],
)
def test_the_lists_and_their_search_boxes_have_no_serious_axe_findings(page: Page, path: str):
    """Django's search box is labelled by a magnifying glass, an image with alt text: a label
    with no text of its own (axe's label-title-only, "serious", where the box is described by
    the list's search help). Checked here, as the label screen readers read is named."""
    from referrals.access import TRIAGE_LEAD_GROUP

    make_staff("lead_lin", TRIAGE_LEAD_GROUP)
    submit("V01", patient=details(family_name="Hughes", phone="07700 900001"))
    log_in(page, "lead_lin")
    expect(page.get_by_role("heading", name="Open referrals", exact=True)).to_be_visible()
    page.goto(path)
    search = page.locator("#searchbar")
    expect(search).to_be_visible()
    assert run_axe(page) == [], describe(run_axe(page))
    rule = page.evaluate("axe.run('#changelist-search', {runOnly: ['label-title-only']})")
    assert [node["target"] for node in rule["passes"][0]["nodes"]] == [["#searchbar"]]
    expect(search).to_have_accessible_name(re.compile(r"^Search \w"))


def test_the_dashboards_tables_fit_their_sections_at_1280_px(page: Page):
    """The foot-and-back table stuck out of its section at 1280 px, its headings kept on one
    line (found by a review)."""
    from referrals.access import TRIAGE_LEAD_GROUP

    make_staff("lead_lin", TRIAGE_LEAD_GROUP)
    submit("V17", patient=details(family_name="Patel", phone="07700 900004"))
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, "lead_lin")
    expect(page.get_by_role("heading", name="Open referrals", exact=True)).to_be_visible()
    overflow = page.locator(".dash-table").evaluate_all(
        """(tables) => tables.map((t) => {
            const section = t.closest("section").getBoundingClientRect();
            return t.getBoundingClientRect().right - section.right;
        })"""
    )
    assert len(overflow) == 2
    assert all(px <= 0 for px in overflow), overflow


def test_the_dashboards_column_headings_break_between_words_not_letters(page: Page):
    """The admin's index gives its tables' headings the whole width: the other columns shrank
    to a letter a line ("Emergency" in nine lines) at 1280 and 1920 px (found by a review)."""
    from referrals.access import TRIAGE_LEAD_GROUP

    make_staff("lead_lin", TRIAGE_LEAD_GROUP)
    submit("V17", patient=details(family_name="Patel", phone="07700 900004"))
    log_in(page, "lead_lin")
    expect(page.get_by_role("heading", name="Open referrals", exact=True)).to_be_visible()
    lines = page.locator(".dash-table thead th").evaluate_all(
        """(cells) => cells.map((cell) => {
            const range = document.createRange();
            range.selectNodeContents(cell);
            const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
            return [cell.textContent.trim(), tops.size];
        })"""
    )
    assert len(lines) == 10
    too_many = [(text, n) for text, n in lines if n > len(text.split())]
    assert too_many == [], too_many


def test_a_reason_given_back_to_copy_is_laid_out_as_the_forms_boxes_at_375_px(
    page: Page, console_errors: list[str]
):
    """A move refused because a colleague closed the referral meanwhile gives its reason back
    in a read-only box, to copy: its label ran beside a narrow box (a QA round, at 375 px),
    where every other box on the page has its label above and the section's width."""
    from django.urls import reverse

    from referrals.services import referral_transition

    make_staff("chiro_carla", "Chiropractic team")
    (referral,) = submit("V01").referrals
    page.set_viewport_size({"width": 375, "height": 800})
    log_in(page, "chiro_carla")
    page.goto(reverse("admin:referrals_referral_change", args=[referral.public_id]))
    referral_transition(
        referral=referral,
        action="cancel",
        actor=make_staff("chiro_chen", "Chiropractic team"),
        reason="Duplicate",
    )
    page.get_by_label("Action").select_option("decline")
    page.get_by_label("Reason", exact=True).fill("Declined after the call")
    page.get_by_role("button", name="Apply").click()
    to_copy = page.get_by_label("Not saved: the reason you typed, to copy")
    expect(to_copy).to_have_value("Declined after the call")
    label = page.locator("label[for=unsaved-reason]").bounding_box()
    box = to_copy.bounding_box()
    again = page.get_by_label("Closed by mistake? Reason to refer the case again").bounding_box()
    assert label is not None
    assert box is not None
    assert again is not None
    assert label["y"] + label["height"] <= box["y"], (label, box)
    assert (box["x"], box["width"]) == (again["x"], again["width"])
    screenshot(page, "admin/case-reason-to-copy-375")
    assert run_axe(page) == [], describe(run_axe(page))
    refused = [error for error in console_errors if "status of 409" in error]
    assert len(refused) == 1, console_errors
    console_errors.remove(refused[0])


def test_the_triage_lead_releases_selected_referrals_through_a_confirmation_page(page: Page):
    """The queue's release lists the selection as it is now before anything is released
    (referrals/admin.py, release_selected): drawn without CSP errors, nothing inaccessible."""
    from referrals.access import QUEUE_GROUPS, TRIAGE_LEAD_GROUP
    from referrals.services import referral_claim

    make_staff("lead_lin", TRIAGE_LEAD_GROUP)
    chiro = make_staff("chiro_carla", QUEUE_GROUPS["chiropractic"])
    cases = [submit("V01", patient=details(phone=f"07700 90070{i}")) for i in range(2)]
    for case in cases:
        referral_claim(referral=case.referrals[0], actor=chiro)
    log_in(page, "lead_lin")
    page.goto("/admin/referrals/referral/")
    page.locator("#result_list tbody tr input.action-select").nth(0).check()
    page.locator("#result_list tbody tr input.action-select").nth(1).check()
    page.locator("select[name=action]").first.select_option("release_selected")
    page.locator("button[name=index]").first.click()
    expect(
        page.get_by_role("heading", name="Release these referrals to the queue?")
    ).to_be_visible()
    for case in cases:
        expect(page.get_by_role("link", name=case.intake.reference)).to_be_visible()
    expect(page.get_by_text("Claimed — chiro_carla")).to_have_count(2)
    screenshot(page, "admin/release-confirmation-1280")
    assert run_axe(page) == [], describe(run_axe(page))
    # "No, take me back" goes back as Django's delete confirmation does: to the list with its
    # selection still ticked (it went to the bare list, the selection lost: a QA round).
    page.get_by_role("button", name="No, take me back").click()
    expect(page).to_have_url(re.compile(r"/admin/referrals/referral/$"))
    expect(page.locator("#result_list tbody tr input.action-select:checked")).to_have_count(2)
    page.locator("button[name=index]").first.click()
    page.get_by_role("button", name="Release 2 referrals").click()
    expect(page.get_by_text("Released 2 referrals to the queue.")).to_be_visible()


def tab_to_the_link_past_the_filters(page: Page, name: str) -> Locator:
    """Tab from the top of the page to the link past the filters, no filter link on the way."""
    skip = page.get_by_role("link", name=name, exact=True)
    expect(skip).to_be_attached()
    for _ in range(100):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.closest('#changelist-filter') !== null")
        assert not focused, "a filter link took the focus before the link past them"
        if skip.evaluate("link => link === document.activeElement"):
            break
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    return skip


def test_a_keyboard_reaches_the_queues_search_before_its_filters(page: Page):
    """The queue draws its filters under the table on narrower windows, but they come first in
    the page: the first Tab presses past the sidebar offer a link that goes past them."""
    from referrals.access import TRIAGE_LEAD_GROUP

    make_staff("lead_lin", TRIAGE_LEAD_GROUP)  # every queue: the most filters
    submit("V01", patient=details(family_name="Hughes", phone="07700 900001"))
    log_in(page, "lead_lin")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/admin/referrals/referral/")
    tab_to_the_link_past_the_filters(page, "Skip the filters to the search and the referrals")
    page.keyboard.press("Enter")
    expect(page.locator("#searchbar")).to_be_focused()


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/admin/intake/intake/", "Skip the filters to the search and the intakes"),
        ("/admin/referrals/auditentry/", "Skip the filters to the search and the audit entries"),
        ("/admin/referrals/apitoken/", "Skip the filters to the search and the API tokens"),
        (
            "/admin/referrals/webhookdelivery/",
            "Skip the filters to the search and the webhook deliveries",
        ),
        ("/admin/auth/user/", "Skip the filters to the search and the users"),
    ],
    ids=["submissions", "audit trail", "API tokens", "webhook deliveries", "users"],
)
def test_a_keyboard_reaches_each_lists_search_before_its_filters(page: Page, path: str, name: str):
    """The queue's link past its filters, on every other list with filters: their filters
    came first in the page too, before the search box and the rows (one template for all,
    templates/admin/change_list.html)."""
    from django.contrib.auth.models import User

    User.objects.create_superuser("admin_ada", "ada@clinic.test", PASSWORD)
    submit("V01", patient=details(family_name="Hughes", phone="07700 900001"))
    log_in(page, "admin_ada")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    page.goto(path)
    expect(page.locator("#changelist-filter")).to_be_attached()
    assert run_axe(page) == [], describe(run_axe(page))
    tab_to_the_link_past_the_filters(page, name)
    page.keyboard.press("Enter")
    expect(page.locator("#searchbar")).to_be_focused()


def test_a_keyboard_reaches_the_rows_of_a_list_with_filters_and_no_search(page: Page):
    """The webhook endpoints have a filter and no search box: the link goes to the rows, and
    the next Tab is in them, not in the filters."""
    from django.contrib.auth.models import User

    from referrals.models import WebhookEndpoint

    User.objects.create_superuser("admin_ada", "ada@clinic.test", PASSWORD)
    WebhookEndpoint.objects.create(
        name="Practice system", url="https://pms.clinic.test/hook", secret="s" * 32
    )
    log_in(page, "admin_ada")
    expect(page).to_have_url(re.compile(r"/admin/$"))
    page.goto("/admin/referrals/webhookendpoint/")
    assert run_axe(page) == [], describe(run_axe(page))
    tab_to_the_link_past_the_filters(page, "Skip the filters to the webhook endpoints")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#result_list') !== null")
