"""A clinician typing on a case page stays signed in, is warned before the idle limit with text
not yet sent, and is told plainly, with the text kept, when the session has ended anyway.

Staff sessions end after SESSION_IDLE_MINUTES (30) without a request. A long note, or one left
half-typed during a phone call, sent after the limit went to the login page and was lost (a QA
round). The page's clock is run forward (page.clock); the server's is moved with it by moving
the session's end back by as much (server_time_passes).
"""

import datetime as dt
import re
from urllib.parse import quote

import pytest
from django.db.models import F
from django.urls import reverse
from playwright.sync_api import Page, Response, expect

from referrals.models import Referral, StaffNote
from tests.browser.conftest import describe, run_axe, screenshot
from tests.clinic_fixtures import make_staff, submit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "correct horse battery staple"
KEEP_ALIVE = "/admin/keep-alive/"


def asks_to_keep_alive(response: Response) -> bool:
    return response.url.endswith(KEEP_ALIVE)


def server_time_passes(minutes: float) -> None:
    """The server's side of the page's clock run forward: every session's end comes nearer."""
    from django.contrib.sessions.models import Session

    Session.objects.update(expire_date=F("expire_date") - dt.timedelta(minutes=minutes))


def session_minutes_left() -> float:
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    (session,) = Session.objects.all()
    return (session.expire_date - timezone.now()).total_seconds() / 60


def on_the_case_page_with_a_clock(page: Page) -> Referral:
    """Carla, signed in, at a case page of her queue; the page's clock ours to run forward."""
    make_staff("chiro_carla", "Chiropractic team")
    (referral,) = submit("V01").referrals
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("chiro_carla")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Open referrals", exact=True)).to_be_visible()
    page.clock.install()
    page.goto(reverse("admin:referrals_referral_change", args=[referral.public_id]))
    expect(page.get_by_role("heading", name="Staff notes")).to_be_visible()
    return referral


def test_typing_a_note_for_forty_minutes_keeps_the_session_and_the_note_is_saved(page: Page):
    referral = on_the_case_page_with_a_clock(page)
    note = page.get_by_label("Add a note")
    words = [f"Call {n}: patient describes the pain again. " for n in range(10)]
    answered: list[int] = []
    page.on("response", lambda r: answered.append(r.status) if asks_to_keep_alive(r) else None)
    for count, typed in enumerate(words):
        page.clock.run_for("04:00")
        server_time_passes(4)
        note.press_sequentially(typed)
        for _ in range(100):  # the keep-alive it made has been answered before time moves on
            if len(answered) > count:
                break
            page.wait_for_timeout(100)
    expect(page.locator("#staff-session-warning")).to_be_hidden()

    page.get_by_role("button", name="Add note").click()
    expect(page).to_have_url(re.compile(r"/change/#notes$"))
    expect(page.get_by_text(words[-1].strip())).to_be_visible()
    # Once a round (at most once a minute), and once more as the note was sent.
    assert answered == [204] * (len(words) + 1)
    assert session_minutes_left() > 29
    (saved,) = StaffNote.objects.filter(referral=referral)
    assert saved.text == "".join(words).strip()


def test_a_page_left_with_typed_text_warns_before_the_limit_and_stay_signed_in_keeps_it(
    page: Page,
):
    on_the_case_page_with_a_clock(page)
    note = page.get_by_label("Add a note")
    note.fill("Patient rang back: pain worse at night, ")
    warning = page.locator("#staff-session-warning")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith(KEEP_ALIVE) else None)

    page.clock.run_for("25:00")  # a phone call: nothing typed, no request, no warning yet
    server_time_passes(25)
    expect(warning).to_be_hidden()
    page.clock.run_for("01:30")  # three minutes (and a refresh interval) before the limit
    server_time_passes(1.5)
    expect(warning).to_be_visible()
    expect(warning).to_have_attribute("role", "alert")
    expect(warning).to_contain_text("signed out after 30 minutes without activity")
    expect(warning).to_be_in_viewport()
    assert asked == []
    assert session_minutes_left() < 4
    screenshot(page, "admin/case-idle-warning-1280")
    assert run_axe(page) == [], describe(run_axe(page))

    with page.expect_response(asks_to_keep_alive) as answered:
        page.get_by_role("button", name="Stay signed in").click()
    assert answered.value.status == 204
    expect(warning).to_be_hidden()
    expect(note).to_be_focused()  # back where the typing was
    assert session_minutes_left() > 29
    note.press_sequentially("no fever.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("Patient rang back: pain worse at night, no fever.")).to_be_visible()


def test_a_page_with_nothing_typed_neither_warns_nor_keeps_the_session_open(page: Page):
    """Only text not yet sent is worth a warning: reading a case is no reason to keep a
    session open on a screen left alone."""
    on_the_case_page_with_a_clock(page)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith(KEEP_ALIVE) else None)
    page.clock.run_for("29:30")
    expect(page.locator("#staff-session-warning")).to_be_hidden()
    page.clock.run_for("10:00")
    expect(page.locator("#staff-session-warning")).to_be_hidden()
    expect(page.locator("#staff-session-ended")).to_be_hidden()
    assert asked == []


def test_a_page_left_past_the_end_of_its_session_hides_the_patients_details(page: Page):
    """A case page with nothing typed, left on a screen nobody is at: it showed the patient's
    name, answers and flags long after the session had ended (a review; the patient form hides
    itself at its limit). Hidden once the session has ended by the page's own count, with no
    request made; shown again when another page of the browser kept the session open."""
    referral = on_the_case_page_with_a_clock(page)
    case_path = reverse("admin:referrals_referral_change", args=[referral.public_id])
    patient = page.get_by_text(referral.patient.family_name.upper()).first
    expect(patient).to_be_visible()
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith(KEEP_ALIVE) else None)
    page.clock.run_for("29:30")
    expect(patient).to_be_visible()
    page.clock.run_for("02:00")
    locked = page.locator("#staff-session-locked")
    expect(locked).to_be_visible()
    expect(locked).to_have_attribute("role", "alert")
    expect(locked).to_contain_text("You are signed out")
    expect(page.locator("#container")).to_be_hidden()
    expect(patient).to_be_hidden()
    again = locked.get_by_role("link", name="Sign in again")
    # The login page it opens says why (?ended=idle: the idle limit passed on this page's count).
    signed_in_again = f"/admin/login/?next={quote(case_path, safe='')}"
    expect(again).to_have_attribute("href", f"{signed_in_again}&ended=idle")
    assert asked == []
    screenshot(page, "admin/case-signed-out-1280")
    assert run_axe(page) == [], describe(run_axe(page))
    # Another page of this browser, in use (its session kept): this one is shown again.
    page.evaluate("localStorage.setItem('staff-session-kept', String(Date.now()))")
    page.evaluate("window.dispatchEvent(new StorageEvent('storage', {key: 'staff-session-kept'}))")
    expect(page.locator("#container")).to_be_visible()
    expect(locked).to_be_hidden()
    expect(patient).to_be_visible()
    expect(page.locator("#staff-session-locked a")).to_have_attribute("href", signed_in_again)


def test_sign_in_again_after_the_idle_limit_says_why_the_session_ended(page: Page):
    """The login page reached from "Sign in again" said nothing of the session's end (a QA
    round): it now names the idle limit, from the settings (SESSION_IDLE_MINUTES)."""
    on_the_case_page_with_a_clock(page)
    page.clock.run_for("32:00")
    server_time_passes(32)
    page.locator("#staff-session-locked").get_by_role("link", name="Sign in again").click()
    expect(page.get_by_label("Username")).to_be_visible()
    expect(
        page.get_by_text("You were signed out after 30 minutes without activity.")
    ).to_be_visible()
    # A screen reader starts at the box focused as the page loads, and reads this with it.
    username = page.get_by_label("Username")
    expect(username).to_be_focused()
    expect(username).to_have_accessible_description(
        "You were signed out after 30 minutes without activity."
    )
    assert run_axe(page) == [], describe(run_axe(page))


def test_a_note_sent_after_the_session_ended_stays_on_the_page_with_a_plain_message(
    page: Page,
):
    """Left half-typed during a call and sent after the session ended (here: signed out from
    another tab): the admin's login page took the note. Now the page says so and keeps it.
    The server's answer is no error (it was a 403, which the browser's console showed as a
    failed request, and the server logged as "Forbidden"): the page fixture fails on any."""
    referral = on_the_case_page_with_a_clock(page)
    case_url = page.url
    case_path = reverse("admin:referrals_referral_change", args=[referral.public_id])
    note = page.get_by_label("Add a note")
    note.fill("Discussed red flags with the patient")
    page.clock.run_for("02:00")
    from django.contrib.sessions.models import Session

    Session.objects.all().delete()
    with page.expect_response(asks_to_keep_alive) as answered:
        page.get_by_role("button", name="Add note").click()
    assert answered.value.status == 200
    assert answered.value.json() == {"signed_in": False}
    ended = page.locator("#staff-session-ended")
    expect(ended).to_be_visible()
    expect(ended).to_have_attribute("role", "alert")
    expect(ended).to_contain_text("You are signed out")
    expect(ended).to_contain_text("copy it before you sign in again")
    expect(ended).to_be_focused()
    again = ended.get_by_role("link", name="Sign in again in a new tab")
    expect(again).to_have_attribute("target", "_blank")
    expect(again).to_have_attribute("href", f"/admin/login/?next={quote(case_path, safe='')}")
    page.wait_for_timeout(500)  # a page that left for the login page would have by now
    assert page.url == case_url
    expect(note).to_have_value("Discussed red flags with the patient")
    assert not StaffNote.objects.filter(referral=referral).exists()
    assert run_axe(page) == [], describe(run_axe(page))


def test_a_page_left_past_the_limit_with_typed_text_says_the_session_has_ended(page: Page):
    """Nobody came back: the page asks nothing (that would keep a session open on a screen left
    alone), and says, by its own count, that the session has ended and the text is still here."""
    on_the_case_page_with_a_clock(page)
    note = page.get_by_label("Add a note")
    note.fill("Booked for Tuesday")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith(KEEP_ALIVE) else None)
    page.clock.run_for("31:30")
    expect(page.locator("#staff-session-warning")).to_be_hidden()
    expect(page.locator("#staff-session-ended")).to_be_visible()
    expect(note).to_have_value("Booked for Tuesday")
    assert asked == []


def test_a_page_left_beside_one_in_use_neither_warns_nor_ends(page: Page):
    """Two case pages of one browser share one session: typing in the second keeps it open, and
    the first, left with a note half-typed, warned on its own count."""
    referral = on_the_case_page_with_a_clock(page)
    page.get_by_label("Add a note").fill("To phone back after the clinic")
    other = page.context.new_page()
    other.goto(reverse("admin:referrals_referral_change", args=[referral.public_id]))
    other_note = other.get_by_label("Add a note")
    for _ in range(8):
        page.clock.run_for("04:00")
        with other.expect_response(asks_to_keep_alive):
            other_note.press_sequentially("x")
    expect(page.locator("#staff-session-warning")).to_be_hidden()
    expect(page.locator("#staff-session-ended")).to_be_hidden()
    other.close()


def test_a_refused_move_sent_back_with_its_reason_warns_and_is_not_hidden(
    page: Page, console_errors: list[str]
):
    """A move refused (a colleague claimed the referral meanwhile: 409) comes back with the
    reason in its box, drawn with the page: the script counted it as nothing typed, so it gave
    no warning before the limit and hid the page, reason and all, once the session had ended
    (a QA round); "Sign in again" then lost it."""
    from referrals.services import referral_transition

    referral = on_the_case_page_with_a_clock(page)
    referral_transition(
        referral=referral, action="claim", actor=make_staff("chiro_chen", "Chiropractic team")
    )
    page.get_by_label("Action").select_option("decline")
    reason = page.get_by_label("Reason", exact=True)
    reason.fill("Not suitable for manual therapy: spoke to the patient")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("a colleague changed this referral")).to_be_visible()
    expect(reason).to_have_value("Not suitable for manual therapy: spoke to the patient")
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if r.url.endswith(KEEP_ALIVE) else None)
    page.clock.run_for("27:30")
    expect(page.locator("#staff-session-warning")).to_be_visible()
    page.clock.run_for("04:00")
    expect(page.locator("#staff-session-ended")).to_be_visible()
    expect(page.locator("#staff-session-locked")).to_be_hidden()
    expect(reason).to_be_visible()
    expect(reason).to_have_value("Not suitable for manual therapy: spoke to the patient")
    assert asked == []
    # The browser logs the refusal (its 409) as an error: the one expected here.
    refused = [error for error in console_errors if "status of 409" in error]
    assert len(refused) == 1, console_errors
    console_errors.remove(refused[0])


def test_a_reason_given_back_to_copy_keeps_the_page_shown_after_the_session_ended(
    page: Page, console_errors: list[str]
):
    """A move refused because a colleague closed the referral meanwhile gives its reason back
    in a read-only box, to copy: the page was hidden with it once the session had ended."""
    from referrals.services import referral_transition

    referral = on_the_case_page_with_a_clock(page)
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
    page.clock.run_for("31:30")
    expect(page.locator("#staff-session-locked")).to_be_hidden()
    expect(to_copy).to_be_visible()
    refused = [error for error in console_errors if "status of 409" in error]
    assert len(refused) == 1, console_errors
    console_errors.remove(refused[0])
