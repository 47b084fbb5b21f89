"""Staff sign-in: lockout after repeated failures, optional TOTP, TOTP required where configured."""

import re
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.clinic_fixtures import make_staff

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
PASSWORD = "correct horse battery staple"
QR = "Set-up QR code"  # the title of the QR code's SVG


def log_in(client, username, password=PASSWORD, addr="203.0.113.5", **extra):
    return client.post(
        LOGIN,
        {"username": username, "password": password, "next": "/admin/", **extra},
        REMOTE_ADDR=addr,
    )


def prove_mailbox(client):
    """The set-up page's first step: the link emailed to the account's own address."""
    setup = reverse("staff-two-factor")
    mail.outbox.clear()
    assert client.post(setup).status_code == 302
    (message,) = mail.outbox
    found = re.search(r"https?://\S+", str(message.body))
    assert found is not None
    link = found.group(0)
    assert client.get(link).status_code == 302
    return setup


def code_for(device):
    return str(totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)).zfill(
        device.digits
    )


def test_an_account_is_locked_after_repeated_failures_even_with_the_right_password(
    client, settings
):
    settings.AXES_FAILURE_LIMIT = 3
    make_staff("chiro_carla", "Chiropractic team")
    for addr in ("203.0.113.1", "203.0.113.2"):
        assert log_in(client, "chiro_carla", "wrong", addr=addr).status_code == 200
    assert log_in(client, "chiro_carla", "wrong", addr="203.0.113.3").status_code == 429
    locked = log_in(client, "chiro_carla", addr="203.0.113.4")
    assert locked.status_code == 429
    assert "too many failed sign-in attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_lockout_page_is_titled_and_headed_as_the_clinics(client, settings):
    """django-axes draws it without the admin's context: it was titled " | Django site admin"
    (the first thing a screen reader says of a page) under "Django administration"."""
    settings.AXES_FAILURE_LIMIT = 1
    make_staff("chiro_carla", "Chiropractic team")
    html = log_in(client, "chiro_carla", "wrong").content.decode()
    assert "<title>Sign-in paused | Clinic staff</title>" in html
    assert '<a href="/admin/">Clinic intake — staff</a>' in html
    assert "Django administration" not in html
    assert "Django site admin" not in html


def test_an_address_is_locked_after_failures_across_accounts(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_staff("podiatry_pat", "Podiatry team")
    for name in ("alice", "bob", "carol"):
        log_in(client, name, "guess", addr="198.51.100.9")
    assert log_in(client, "podiatry_pat", addr="198.51.100.9").status_code == 429
    assert log_in(client, "podiatry_pat", addr="198.51.100.10").status_code == 302


def test_a_successful_login_resets_the_count(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    make_staff("chiro_carla", "Chiropractic team")
    log_in(client, "chiro_carla", "wrong")
    log_in(client, "chiro_carla", "wrong")
    assert log_in(client, "chiro_carla").status_code == 302
    client.logout()
    log_in(client, "chiro_carla", "wrong")
    assert log_in(client, "chiro_carla").status_code == 302


def test_signing_in_to_ones_own_account_does_not_clear_failures_at_another(client, settings):
    """axes' reset on success cleared every failure from the address: an insider could guess a
    colleague's password four times, sign in as themselves, and go on without end (a review
    found it). Only the failures at one's own username are forgotten."""
    settings.AXES_FAILURE_LIMIT = 5
    make_staff("chiro_carla", "Chiropractic team")
    make_staff("pod_pete", "Podiatry team")
    office = "203.0.113.77"
    for _round in range(2):
        for _guess in range(2):
            assert log_in(client, "chiro_carla", "guess", addr=office).status_code == 200
        assert log_in(client, "pod_pete", addr=office).status_code == 302
        client.logout()
    assert log_in(client, "chiro_carla", "guess", addr="198.51.100.3").status_code == 429
    assert log_in(client, "chiro_carla", addr="198.51.100.4").status_code == 429


def test_signing_in_stamps_the_accounts_last_sign_in(client):
    user = make_staff("chiro_carla", "Chiropractic team")
    assert user.last_login is None
    assert log_in(client, "chiro_carla").status_code == 302
    user.refresh_from_db()
    assert user.last_login is not None


def test_staff_with_an_authenticator_must_give_its_code(client):
    user = make_staff("dr_umar", "Urgent medical review team")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    refused = log_in(client, "dr_umar")
    assert refused.status_code == 200
    assert "_auth_user_id" not in client.session
    assert log_in(client, "dr_umar", otp_token=code_for(device)).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_staff_without_an_authenticator_sign_in_with_the_password_alone(client):
    make_staff("chiro_carla", "Chiropractic team")
    assert log_in(client, "chiro_carla").status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_triage_lead_is_sent_to_set_up_two_factor_when_it_is_required(client, settings):
    settings.STAFF_2FA_REQUIRED = "lead"
    make_staff("lead_lin", "Triage lead")
    assert log_in(client, "lead_lin").status_code == 302
    setup = reverse("staff-two-factor")
    response = client.get(reverse("admin:referrals_referral_changelist"))
    assert response.status_code == 302
    assert response["Location"] == setup
    page = client.get(setup)
    assert QR not in page.content.decode()  # no secret before the mailbox is proved
    assert "l***@clinic.test" in page.content.decode()
    prove_mailbox(client)
    page = client.get(setup)
    assert QR in page.content.decode()
    device = TOTPDevice.objects.get(user__username="lead_lin", confirmed=False)
    assert client.post(setup, {"token": code_for(device)}).status_code == 302
    assert client.get(reverse("admin:referrals_referral_changelist")).status_code == 200


def test_the_api_grants_a_session_nothing_until_its_required_second_factor(client, settings):
    """The admin sent the lead to set up two-factor, but the API took the password-only
    session and read and changed every case (a review found it): now a 403 saying why."""
    from tests.clinic_fixtures import submit

    settings.STAFF_2FA_REQUIRED = "lead"
    case = submit("V01")
    make_staff("lead_lin", "Triage lead")
    assert log_in(client, "lead_lin").status_code == 302
    for url in (
        "/api/v1/referrals",
        f"/api/v1/intakes/{case.intake.public_id}",
        f"/api/v1/intakes/{case.intake.public_id}/fhir",
    ):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "second factor" in response.json()["errors"]["non_field_errors"][0]
    setup = prove_mailbox(client)
    client.get(setup)
    device = TOTPDevice.objects.get(user__username="lead_lin", confirmed=False)
    assert client.post(setup, {"token": code_for(device)}).status_code == 302
    assert client.get("/api/v1/referrals").status_code == 200


def test_other_staff_are_not_forced_when_only_the_lead_must(client, settings):
    settings.STAFF_2FA_REQUIRED = "lead"
    make_staff("chiro_carla", "Chiropractic team")
    log_in(client, "chiro_carla")
    assert client.get(reverse("admin:referrals_referral_changelist")).status_code == 200


def test_an_authenticator_still_being_set_up_does_not_sign_in(client):
    """The set-up page makes an authenticator and shows its secret before any code confirms it
    (a session from before the account's authenticator was set up is sent there when two-factor
    is required). The sign-in form's hidden otp_device names a device, and django-otp took any
    of the account's, confirmed or not: the password and the secret of a set-up never finished
    (shown, perhaps to someone else) signed in without the account's authenticator."""
    user = make_staff("dr_umar", "Urgent medical review team")
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    pending = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    code = code_for(pending)
    answer = log_in(client, "dr_umar", otp_token=code, otp_device=pending.persistent_id)
    assert answer.status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_wrong_code_is_refused_on_login_and_on_set_up(client):
    user = make_staff("dr_umar", "Urgent medical review team")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    wrong = "000000" if code_for(device) != "000000" else "111111"
    assert log_in(client, "dr_umar", otp_token=wrong).status_code == 200
    assert "_auth_user_id" not in client.session


def test_wrong_authenticator_codes_count_towards_the_lockout(client, settings):
    """The right password with wrong codes: each a failed sign-in (they were not counted, so
    codes could be guessed past the limit; a review found it)."""
    settings.AXES_FAILURE_LIMIT = 3
    user = make_staff("dr_umar", "Urgent medical review team")
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    right = code_for(device)
    wrong = [code for code in ("000000", "111111", "222222", "333333") if code != right]
    for n, code in enumerate(wrong[:3], start=1):
        answer = log_in(client, "dr_umar", otp_token=code, addr=f"203.0.113.{n}")
        assert answer.status_code == (429 if n == 3 else 200), n  # as with wrong passwords
    locked = log_in(client, "dr_umar", otp_token=right, addr="203.0.113.9")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_staff_session_ends_after_the_idle_time_and_activity_extends_it(client, settings):
    import datetime as dt

    from django.contrib.sessions.models import Session
    from django.utils import timezone

    settings.SESSION_COOKIE_AGE = 30 * 60
    make_staff("chiro_carla", "Chiropractic team")
    assert log_in(client, "chiro_carla").status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    # Every request pushes the expiry to idle time from now.
    remaining = (session.expire_date - timezone.now()).total_seconds()
    assert 29 * 60 < remaining <= 30 * 60
    # Idle past the limit: the next request finds no session and asks to log in again.
    session.expire_date = timezone.now() - dt.timedelta(seconds=1)
    session.save(update_fields=["expire_date"])
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_activity_writes_the_session_at_most_once_a_refresh_interval(client, settings):
    """Reading pages is not a write each time (issue 7): the expiry moves at most once per
    SESSION_REFRESH_SECONDS, so the idle limit holds to within that interval."""
    from django.contrib.sessions.models import Session
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def session_writes() -> list[str]:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("admin:index")).status_code == 200
        return [
            q["sql"]
            for q in queries.captured_queries
            if "django_session" in q["sql"] and q["sql"].startswith(("UPDATE", "INSERT"))
        ]

    make_staff("chiro_carla", "Chiropractic team")
    assert log_in(client, "chiro_carla").status_code == 302
    assert session_writes() == []  # signing in stamped the refresh time
    assert session_writes() == []
    before = Session.objects.get(session_key=client.session.session_key).expire_date
    settings.SESSION_REFRESH_SECONDS = 0
    assert len(session_writes()) == 1
    after = Session.objects.get(session_key=client.session.session_key).expire_date
    assert after > before


def test_a_stolen_password_alone_cannot_add_an_authenticator(client, settings):
    """Trust on first use let whoever had a lead's password first add their own authenticator
    and keep the account (a review named it): the set-up now needs the owner's mailbox."""
    settings.STAFF_2FA_REQUIRED = "lead"
    make_staff("lead_lin", "Triage lead")
    log_in(client, "lead_lin")
    setup = reverse("staff-two-factor")
    page = client.get(setup).content.decode()
    assert QR not in page
    assert "type the key" not in page
    # A code sent without the link does nothing, and no device (no secret) is made.
    assert client.post(setup, {"token": "123456"}).status_code == 302
    assert not TOTPDevice.objects.filter(user__username="lead_lin").exists()
    # Forged, another account's, or another site's links are refused.
    other = make_staff("chiro_carla", "Chiropractic team")
    from referrals.twofactor import LINK_NONCE_KEY, enrol_link_token

    forged = (
        lambda nonce: "nonsense",
        lambda nonce: enrol_link_token(other, nonce),  # another account's, this session's value
        lambda nonce: enrol_link_token(other, nonce)[:-1] + "x",
    )
    for forge in forged:
        client.post(setup)  # a link of its own is sent: the session holds its one-time value
        proof = forge(client.session[LINK_NONCE_KEY])
        client.get(setup, {"proof": proof})
        assert QR not in client.get(setup).content.decode(), proof
    assert client.get(reverse("admin:referrals_referral_changelist")).status_code == 302


def test_a_set_up_link_expires_and_a_new_password_ends_it(client, settings, monkeypatch):
    import time

    from referrals.twofactor import ENROL_LINK_MAX_AGE, LINK_NONCE_KEY, enrol_link_valid

    user = make_staff("lead_lin", "Triage lead")
    log_in(client, "lead_lin")
    client.post(reverse("staff-two-factor"))
    (message,) = mail.outbox
    found = re.search(r"proof=(\S+)", str(message.body))
    assert found is not None
    token = unquote(found.group(1))
    nonce = client.session[LINK_NONCE_KEY]
    assert enrol_link_valid(user, token, nonce)
    assert not enrol_link_valid(user, token, None)  # another session: no value kept
    assert not enrol_link_valid(user, token, "another value")
    later = time.time() + ENROL_LINK_MAX_AGE.total_seconds() + 1
    monkeypatch.setattr("django.core.signing.time.time", lambda: later)
    assert not enrol_link_valid(user, token, nonce)
    monkeypatch.undo()
    user.set_password("a brand new passphrase 42")
    user.save()
    assert not enrol_link_valid(user, token, nonce)


def test_the_owner_is_told_when_an_authenticator_is_set_up(client, settings):
    make_staff("dr_umar", "Urgent medical review team")
    log_in(client, "dr_umar")
    setup = prove_mailbox(client)
    client.get(setup)
    device = TOTPDevice.objects.get(user__username="dr_umar", confirmed=False)
    mail.outbox.clear()
    assert client.post(setup, {"token": code_for(device)}).status_code == 302
    (notice,) = mail.outbox
    assert notice.to == ["dr_umar@clinic.test"]
    assert "If this was not you" in notice.body
    assert "?proof=" not in notice.body


def test_staff_without_an_email_address_are_told_whom_to_ask(client, settings):
    settings.STAFF_2FA_REQUIRED = "lead"
    make_staff("lead_lin", "Triage lead", email="")
    from django.contrib.auth.models import User

    User.objects.filter(username="lead_lin").update(email="")
    log_in(client, "lead_lin")
    setup = reverse("staff-two-factor")
    page = client.get(setup).content.decode()
    assert "no email address" in page
    assert client.post(setup).status_code == 200
    assert mail.outbox == []


def test_a_mail_server_that_is_away_gives_a_message_not_an_error(client, settings, monkeypatch):
    make_staff("lead_lin", "Triage lead")
    log_in(client, "lead_lin")

    def away(*args, **kwargs):
        raise ConnectionRefusedError("no mail server")

    monkeypatch.setattr("referrals.twofactor.send_mail", away)
    setup = reverse("staff-two-factor")
    answer = client.post(setup, follow=True)
    assert answer.status_code == 200
    assert "could not be sent" in answer.content.decode()


def test_a_set_up_link_works_once_and_only_in_the_session_that_asked_for_it(client):
    """A review found a used link setting up a second authenticator from another session of
    the account within its 30 minutes."""
    from django.test import Client

    make_staff("lead_lin", "Triage lead")
    other_session = Client()
    log_in(other_session, "lead_lin", addr="203.0.113.7")
    log_in(client, "lead_lin")
    setup = reverse("staff-two-factor")
    mail.outbox.clear()
    client.post(setup)
    (message,) = mail.outbox
    link = re.search(r"https?://\S+", str(message.body))
    assert link is not None
    # Opened by another session of the same account first: refused, and nothing shown there.
    other_session.get(link.group(0))
    assert QR not in other_session.get(setup).content.decode()
    # The session that asked uses it once ...
    client.get(link.group(0))
    assert QR in client.get(setup).content.decode()
    device = TOTPDevice.objects.get(user__username="lead_lin", confirmed=False)
    assert client.post(setup, {"token": code_for(device)}).status_code == 302
    # ... and not again, there or elsewhere.
    for session in (client, other_session):
        session.get(link.group(0))
    assert QR not in other_session.get(setup).content.decode()
    assert TOTPDevice.objects.filter(user__username="lead_lin").count() == 1


def test_a_set_up_begun_before_the_mailbox_step_gets_a_new_secret(client):
    """An unconfirmed authenticator made before (its secret shown to whoever had the password
    then) is not offered to the owner: proving the mailbox starts a new one."""
    user = make_staff("lead_lin", "Triage lead")
    old = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)
    log_in(client, "lead_lin")
    setup = prove_mailbox(client)
    page = client.get(setup).content.decode()
    (device,) = TOTPDevice.objects.filter(user=user)
    assert device.pk != old.pk
    assert device.key != old.key
    assert old.config_url.split("secret=")[1].split("&")[0] not in page


def test_a_proved_mailbox_lasts_as_long_as_the_link(client):
    import time

    from referrals.twofactor import ENROL_LINK_MAX_AGE, MAILBOX_PROVEN_KEY

    user = make_staff("lead_lin", "Triage lead")
    log_in(client, "lead_lin")
    setup = prove_mailbox(client)
    assert QR in client.get(setup).content.decode()
    session = client.session
    proved_a_while_ago = int(time.time() - ENROL_LINK_MAX_AGE.total_seconds() + 60)
    session[MAILBOX_PROVEN_KEY] = [user.pk, proved_a_while_ago]
    session.save()
    assert QR in client.get(setup).content.decode()
    proved_long_ago = int(time.time() - ENROL_LINK_MAX_AGE.total_seconds() - 1)
    session[MAILBOX_PROVEN_KEY] = [user.pk, proved_long_ago]
    session.save()
    page = client.get(setup).content.decode()
    assert QR not in page
    assert "Email me the set-up link" in page  # the mailbox step again, still signed in


def test_the_page_showing_the_authenticator_secret_is_never_cached(client):
    # The QR code and the secret in clear: a shared cache or the browser's disk cache kept a
    # copy, from which anyone could make the codes of this account (a review found no headers).
    make_staff("lead_lin", "Triage lead")
    log_in(client, "lead_lin")
    setup = prove_mailbox(client)
    page = client.get(setup)
    assert QR in page.content.decode()
    assert "no-store" in page["Cache-Control"]
    assert "private" in page["Cache-Control"]


def test_the_signed_out_page_says_so_plainly_and_links_to_sign_in(client):
    """Django's own said "Thanks for spending some quality time with the web site today." (a
    QA round)."""
    client.force_login(make_staff("chiro_carla", "Chiropractic team"))
    page = client.post(reverse("admin:logout"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "<p>You are signed out.</p>" in html
    assert f'<a href="{LOGIN}">Sign in again</a>' in html
    assert "quality time" not in html


@pytest.mark.parametrize(("minutes", "said"), [(30, "30 minutes"), (1, "1 minute")])
def test_the_login_page_says_a_session_ended_by_inactivity(client, settings, minutes, said):
    """Reached from the idle warning's "Sign in again" (static/js/staff-session.js adds
    ?ended=idle), the page said nothing of why the session had ended (a QA round)."""
    settings.SESSION_COOKIE_AGE = minutes * 60
    html = client.get(LOGIN, {"ended": "idle", "next": "/admin/"}).content.decode()
    assert f"You were signed out after {said} without activity." in html


@pytest.mark.parametrize("ended", ["", "other", "<b>idle</b>", "IDLE"])
def test_the_login_page_names_no_reason_for_any_other_ended_value_nor_echoes_it(client, ended):
    html = client.get(LOGIN, {"ended": ended}).content.decode()
    assert "You were signed out" not in html
    assert "<b>idle" not in html  # the form's own address keeps the query, escaped


class _UsernameBox(HTMLParser):
    """The login page's username box, and the text of every element with an id."""

    VOID = frozenset({"input", "br", "img", "meta", "link", "hr", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.box: dict[str, str | None] = {}
        self.open: list[str | None] = []
        self.text: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "input" and found.get("name") == "username":
            self.box = found
        if tag not in self.VOID:
            self.open.append(found.get("id"))
            self.text.setdefault(found.get("id") or "", "")

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.open:
            self.open.pop()

    def handle_data(self, data):
        for element_id in filter(None, self.open):
            self.text[element_id] += data


def username_box(page):
    """The box's attributes and its description, as aria-describedby gives it."""
    parsed = _UsernameBox()
    parsed.feed(page.content.decode())
    ids = (parsed.box.get("aria-describedby") or "").split()
    return parsed.box, " ".join(" ".join(parsed.text[i].split()) for i in ids)


def test_the_login_box_focused_as_the_page_loads_says_nothing_more_when_nothing_is_said(client):
    box, description = username_box(client.get(LOGIN, {"next": "/admin/"}))
    assert "autofocus" in box
    assert "aria-describedby" not in box
    assert description == ""


@pytest.mark.parametrize(
    ("page", "said"),
    [
        (
            lambda client: client.get(LOGIN, {"ended": "idle", "next": "/admin/"}),
            "You were signed out after 30 minutes without activity.",
        ),
        (
            lambda client: log_in(client, "dr_umar", "wrong"),
            "Please enter the correct username and password for a staff account.",
        ),
        (lambda client: log_in(client, "dr_umar"), "Please enter your OTP token."),
        (
            lambda client: log_in(client, "dr_umar", otp_token="000000"),
            "Invalid token. Please make sure you have entered it correctly.",
        ),
        (
            lambda client: client.post(LOGIN, {"username": "", "password": PASSWORD}),
            "Please correct the errors below. This field is required.",
        ),
    ],
    ids=["signed-out-idle", "wrong-password", "no-code", "wrong-code", "no-username"],
)
def test_what_the_login_page_says_above_the_form_describes_the_box_focused_on_load(
    client, page, said
):
    """A screen reader starts at the username box, focused as the page loads (Django's
    autofocus), past what the page said above the form: a staff member using one heard only
    the title's "Error:", or nothing at all of a session ended by inactivity. What
    is said is now the box's description, read out with it; Django's own ids (the box's own
    errors) stay."""
    user = make_staff("dr_umar", "Urgent medical review team")
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    box, description = username_box(page(client))
    assert "autofocus" in box
    assert description.startswith(said)


def test_a_signed_in_member_without_access_is_told_so_with_the_box_focused_on_load(client):
    client.force_login(User.objects.create_user("receptionist_rae", password=PASSWORD))
    box, description = username_box(client.get(LOGIN, {"next": "/admin/"}))
    assert "autofocus" in box
    assert description.startswith("You are authenticated as receptionist_rae, but are not")
