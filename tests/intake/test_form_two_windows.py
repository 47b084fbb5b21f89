"""Two windows of one browser (one session) side by side, one left idle until it closes itself.

The idle page's close (POST /form/close/, as intake-form.js sends it) ended the form's hold in
the browser, and so the form a patient was filling in in the other window (a review). It now
ends the hold only from the latest page of the form held (its mark, intake.closing). One test
client is one browser: its windows share the cookies.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

from intake.drafts import SESSION_KEY
from intake.models import Intake
from tests.clinic_fixtures import worked_case
from tests.intake.test_form_views import (
    OMAR,
    closed_mark,
    complete,
    complete_rest,
    html,
    page_mark,
    saved_draft,
)

pytestmark = pytest.mark.django_db


def close(browser: Client, mark: str = "") -> None:
    """The idle window's page closes itself, sending the mark it carries (none: it showed
    nothing held)."""
    response = browser.post("/form/close/", {"page": mark} if mark else {})
    assert response.status_code == 204


def still_held(browser: Client, token: str) -> str:
    """The other window carries on: its form is held, its answers there, its link its own.
    Returns the mark of the page it draws there, the latest from now on."""
    assert browser.session[SESSION_KEY] == token
    page = html(browser.get("/form/about_you/"))
    assert 'value="180"' in page  # her height, saved on that step
    assert f"/resume/{token}/" in page
    return page_mark(page)


def test_an_idle_first_step_never_saved_leaves_the_form_in_the_other_window(client):
    idle = html(client.get("/form/identity/"))  # window 1: nothing saved, nothing held
    assert "data-close-page" not in idle
    complete(client, worked_case("V01"), upto="pain_locations")  # window 2: Grace at work
    token = client.session[SESSION_KEY]
    key = client.session.session_key
    kept = dict(client.session.items())
    close(client)
    assert dict(client.session.items()) == kept  # nothing changed: no new mark, no new key
    assert client.session.session_key == key
    still_held(client, token)
    complete_rest(client, worked_case("V01"), after="about_you")  # and she sends it
    assert client.get("/form/done/").status_code == 200
    assert Intake.objects.get().patient.given_name == "Grace"


def test_an_idle_result_page_leaves_the_next_form_in_the_other_window(client):
    complete(client, worked_case("V17"), OMAR)  # window 1: Omar's result page, left open
    result = page_mark(html(client.get("/form/done/")))
    complete(client, worked_case("V01"), upto="pain_locations")  # window 2: Grace's form
    token = client.session[SESSION_KEY]
    close(client, result)
    still_held(client, token)


def test_an_idle_page_of_a_form_replaced_since_leaves_the_new_one(client):
    complete(client, worked_case("V01"), OMAR, upto="pain_locations")
    omars = page_mark(html(client.get("/form/about_you/")))  # window 1, left idle
    assert client.post("/form/new/").status_code == 302  # window 2: "Start a new form"
    complete(client, worked_case("V01"), upto="pain_locations")  # and Grace's
    token = client.session[SESSION_KEY]
    close(client, omars)
    still_held(client, token)


def test_an_older_page_of_the_form_in_use_elsewhere_leaves_it_held(client):
    """The same form in both windows (its link opened in the second, say): the page drawn
    first, idle since, does not end it under the patient at work in the other."""
    complete(client, worked_case("V01"), upto="pain_locations")
    token = client.session[SESSION_KEY]
    older = page_mark(html(client.get("/form/about_you/")))  # window 1
    newer = page_mark(html(client.get("/form/pain_locations/")))  # window 2, drawn after
    assert older != newer
    close(client, older)
    assert client.session[SESSION_KEY] == token
    close(client, newer)  # the latest page still ends it, when it closes in its turn
    assert SESSION_KEY not in client.session
    assert client.get("/form/about_you/")["Location"] == "/form/identity/"
    assert saved_draft_by_link(client, token).data["patient"]["given_name"] == "Grace"


def saved_draft_by_link(client: Client, token: str):
    assert client.get(f"/resume/{token}/").status_code == 302
    return saved_draft(client)


def test_typing_in_an_older_page_makes_it_the_latest(client):
    """Kept open by its patient (intake-form.js, while they type), an older page gets a new
    mark: the page drawn after it, idle since, no longer ends the form."""
    complete(client, worked_case("V01"), upto="pain_locations")
    token = client.session[SESSION_KEY]
    older = page_mark(html(client.get("/form/about_you/")))
    newer = page_mark(html(client.get("/form/pain_locations/")))
    answer = client.post("/form/keep-open/", {"page": older}).json()
    assert answer["open"] is True
    kept = answer["page"]
    assert kept not in (older, newer)
    close(client, newer)
    assert client.session[SESSION_KEY] == token
    close(client, kept)
    assert SESSION_KEY not in client.session


def test_a_page_closing_before_its_new_mark_reaches_it_still_ends_the_form(client):
    """The keep-open's answer and the page's close may cross (intake-form.js sends them
    without waiting: the browser test's clock made them cross): the mark the page had when it
    was kept open still ends the form, until another page of it is drawn."""
    complete(client, worked_case("V01"), upto="pain_locations")
    token = client.session[SESSION_KEY]
    older = page_mark(html(client.get("/form/about_you/")))
    newer = page_mark(html(client.get("/form/pain_locations/")))
    assert client.post("/form/keep-open/", {"page": older}).json()["open"] is True
    close(client, newer)  # the other window's, idle since
    assert client.session[SESSION_KEY] == token
    close(client, older)
    assert SESSION_KEY not in client.session


def test_the_mark_a_page_had_before_it_was_kept_open_ends_nothing_once_another_is_drawn(
    client,
):
    complete(client, worked_case("V01"), upto="pain_locations")
    token = client.session[SESSION_KEY]
    older = page_mark(html(client.get("/form/about_you/")))
    assert client.post("/form/keep-open/", {"page": older}).json()["open"] is True
    still_held(client, token)  # a page of the form drawn in the other window
    close(client, older)
    still_held(client, token)


def test_keeping_open_a_page_of_a_form_replaced_since_says_it_is_closed(client):
    """A page of Omar's form, Grace's held since: it is told its form is closed here (and
    closes itself), and gets no mark of hers."""
    complete(client, worked_case("V01"), OMAR, upto="pain_locations")
    omars = page_mark(html(client.get("/form/about_you/")))
    assert client.post("/form/new/").status_code == 302
    complete(client, worked_case("V01"), upto="pain_locations")
    token = client.session[SESSION_KEY]
    graces = page_mark(html(client.get("/form/about_you/")))
    assert client.post("/form/keep-open/", {"page": omars}).json() == {"open": False}
    close(client, graces)  # Grace's page is still the latest
    assert SESSION_KEY not in client.session
    assert token


def test_a_page_that_sends_no_mark_and_keeps_open_ends_nobody_elses_page(client):
    """A page drawn before pages carried marks is kept open as before; in use, no older page
    may end its form."""
    complete(client, worked_case("V01"), upto="pain_locations")
    token = client.session[SESSION_KEY]
    mark = page_mark(html(client.get("/form/about_you/")))
    assert client.post("/form/keep-open/").json() == {"open": True}
    close(client, mark)
    still_held(client, token)


@pytest.mark.parametrize("mark", ["", "forged", "0123456789abcdef.0123456789abcdef", "ü"])
def test_a_mark_the_server_did_not_draw_ends_nothing(client, mark):
    complete(client, worked_case("V01"), upto="pain_locations")
    token = client.session[SESSION_KEY]
    drawn = page_mark(html(client.get("/form/about_you/")))
    held = drawn.partition(".")[0]
    close(client, mark.replace("0123456789abcdef.", f"{held}."))
    still_held(client, token)


def test_the_latest_page_closing_itself_still_ends_the_form_and_gives_a_new_mark(client):
    complete(client, worked_case("V01"), upto="pain_locations")
    before = closed_mark(html(client.get("/form/identity/")))
    assert before is None  # the first step of the form in progress: no mark, its mark instead
    mark = page_mark(html(client.get("/form/about_you/")))
    key = client.session.session_key
    close(client, mark)
    assert SESSION_KEY not in client.session
    assert client.session.session_key != key
    first = html(client.get("/form/identity/"))
    assert closed_mark(first) == client.session["intake_closed"]
    assert "Grace" not in first


def test_the_close_is_a_post_with_the_pages_csrf_token(client, settings):
    complete(client, worked_case("V01"), upto="pain_locations")
    browser = Client(enforce_csrf_checks=True)
    browser.cookies = client.cookies
    mark = page_mark(html(browser.get("/form/about_you/")))
    assert browser.get("/form/close/", {"page": mark}).status_code == 405
    assert browser.post("/form/close/", {"page": mark}).status_code == 403
    assert SESSION_KEY in browser.session
    csrf = {"X-CSRFToken": browser.cookies[settings.CSRF_COOKIE_NAME].value}
    assert browser.post("/form/close/", {"page": mark}, headers=csrf).status_code == 204
    assert SESSION_KEY not in browser.session


def test_marks_are_drawn_only_on_pages_of_what_is_held(client):
    assert "data-close-page" not in html(client.get("/form/identity/"))
    assert settings_cookie_absent(client)
    complete(client, worked_case("V01"), upto="about_you")
    pages = [html(client.get(path)) for path in ("/form/identity/", "/form/about_you/")]
    marks = [page_mark(page) for page in pages]
    assert len(set(marks)) == 2
    assert len({mark.partition(".")[0] for mark in marks}) == 1  # one form
    assert re.fullmatch(r"[0-9a-f]{16}\.[0-9a-f]{16}", marks[0])


def settings_cookie_absent(client: Client) -> bool:
    return "sessionid" not in client.cookies
