"""POST /admin/keep-alive/: the staff pages' script keeps a signed-in session open while
someone types (static/js/staff-session.js), and learns plainly when it has ended."""

import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.clinic_fixtures import make_staff

pytestmark = pytest.mark.django_db

KEEP_ALIVE = reverse("staff-keep-alive")
PASSWORD = "correct horse battery staple"
ENDED = {"signed_in": False}


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """What the server logs at INFO and above, Django's loggers included (the "django" logger
    does not pass its records on to the root logger, where caplog listens)."""
    django_logger = logging.getLogger("django")
    django_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="django"):
            yield caplog
    finally:
        django_logger.removeHandler(caplog.handler)


def signed_in(client: Client, username: str = "chiro_carla") -> str:
    make_staff(username, "Chiropractic team")
    response = client.post(
        reverse("admin:login"), {"username": username, "password": PASSWORD, "next": "/admin/"}
    )
    assert response.status_code == 302
    return str(client.session.session_key)


def ends_in_a_minute(key: str) -> None:
    """The session near its idle limit (the server's clock moved on by 29 minutes)."""
    Session.objects.filter(pk=key).update(expire_date=timezone.now() + dt.timedelta(minutes=1))


def test_a_signed_in_session_is_kept_open_for_the_idle_time_from_now(client, settings):
    """The session's own database row is moved (the session middleware's save, as for any
    request): every process sees it. Asked within the refresh interval too, where a page's
    request would not move it: the script asks at most once in it."""
    settings.SESSION_COOKIE_AGE = 30 * 60
    key = signed_in(client)
    ends_in_a_minute(key)
    response = client.post(KEEP_ALIVE)
    assert response.status_code == 204
    assert response.content == b""
    assert "no-cache" in response["Cache-Control"]
    ends = Session.objects.get(pk=key).expire_date
    assert ends > timezone.now() + dt.timedelta(minutes=29)
    assert client.get(reverse("admin:index")).status_code == 200


@pytest.mark.parametrize(
    "end",
    [
        pytest.param(lambda key: Session.objects.filter(pk=key).delete(), id="purged"),
        pytest.param(
            lambda key: Session.objects.filter(pk=key).update(
                expire_date=timezone.now() - dt.timedelta(seconds=1)
            ),
            id="past-its-expiry",
        ),
    ],
)
def test_an_ended_session_is_told_so_not_sent_to_the_login_page(client, end, server_log):
    """A fetch sent to the login page follows the redirect and reads a 200: the page would
    have thought itself still signed in, and its note was then lost on "Add note". An ended
    session is an answer the page expects, not an error: as a 403 it was logged "Forbidden"
    for every page left open past its limit."""
    key = signed_in(client)
    end(key)
    server_log.clear()
    response = client.post(KEEP_ALIVE)
    assert response.status_code == 200
    assert response.json() == ENDED
    assert not response.has_header("Location")
    assert "no-cache" in response["Cache-Control"]
    assert not Session.objects.filter(pk=key, expire_date__gt=timezone.now()).exists()
    assert [record.getMessage() for record in server_log.records] == []


def test_signing_out_ends_what_the_page_may_keep_open(client):
    signed_in(client)
    assert client.post(reverse("admin:logout")).status_code == 200
    response = client.post(KEEP_ALIVE)
    assert response.status_code == 200
    assert response.json() == ENDED


def test_a_browser_never_signed_in_gets_the_same_answer_and_no_session(db):
    browser = Client()
    response = browser.post(KEEP_ALIVE)
    assert response.status_code == 200
    assert response.json() == ENDED
    assert "sessionid" not in browser.cookies


def test_a_signed_in_account_that_is_not_staff_is_told_it_is_not_signed_in(client):
    user = make_staff("former_fran")
    user.is_staff = False
    user.save(update_fields=["is_staff"])
    client.force_login(user)
    response = client.post(KEEP_ALIVE)
    assert response.status_code == 200
    assert response.json() == ENDED


def test_a_get_is_refused(client):
    """Fetched ahead by a browser or a link checker, a GET would keep the session open."""
    key = signed_in(client)
    ends_in_a_minute(key)
    assert client.get(KEEP_ALIVE).status_code == 405
    assert Session.objects.get(pk=key).expire_date < timezone.now() + dt.timedelta(minutes=2)


def test_the_pages_csrf_token_is_required(server_log):
    """Another site could otherwise keep a member of staff's session open for ever. Refused,
    and logged as the refusal it is."""
    browser = Client(enforce_csrf_checks=True)
    signed_in_page = Client()  # signs in without the CSRF check, as the tests' log-ins do
    key = signed_in(signed_in_page)
    browser.cookies = signed_in_page.cookies
    ends_in_a_minute(key)
    server_log.clear()
    assert browser.post(KEEP_ALIVE).status_code == 403
    refused = [(r.name, r.levelname) for r in server_log.records]
    assert refused == [("django.security.csrf", "WARNING")], refused
    assert Session.objects.get(pk=key).expire_date < timezone.now() + dt.timedelta(minutes=2)
    page = browser.get(reverse("admin:index"))
    token = page.context["csrf_token"]
    assert browser.post(KEEP_ALIVE, headers={"X-CSRFToken": str(token)}).status_code == 204
    assert Session.objects.get(pk=key).expire_date > timezone.now() + dt.timedelta(minutes=29)


def test_a_session_still_to_give_its_second_factor_is_answered_not_redirected(client, settings):
    """The two-factor set-up page is a staff page with a box to type in: its script asks too.
    StaffTwoFactorMiddleware sent every other admin address to that page."""
    settings.STAFF_2FA_REQUIRED = "all"
    key = signed_in(client)
    ends_in_a_minute(key)
    response = client.post(KEEP_ALIVE)
    assert response.status_code == 204
    assert Session.objects.get(pk=key).expire_date > timezone.now() + dt.timedelta(minutes=29)


def test_the_signed_in_pages_carry_the_servers_limit_and_the_script_with_the_nonce(
    client, settings
):
    """The limit is SESSION_IDLE_MINUTES from the settings, never a number in the script; the
    script carries the page's CSP nonce; the login page, for nobody signed in, has neither."""
    settings.SESSION_COOKIE_AGE = 45 * 60
    signed_in(client)
    page = client.get(reverse("admin:index"))
    html = page.content.decode()
    assert f'data-keep-alive-url="{KEEP_ALIVE}"' in html
    assert 'data-idle-seconds="2700"' in html
    assert 'data-refresh-seconds="60"' in html
    assert "signed out after 45 minutes without activity" in html
    nonce = page.context["csp_nonce"]
    assert f'staff-session.js" nonce="{nonce}"></script>' in html
    assert f"'nonce-{nonce}'" in page["Content-Security-Policy"]
    client.post(reverse("admin:logout"))
    login = client.get(reverse("admin:login")).content.decode()
    assert "staff-session" not in login
