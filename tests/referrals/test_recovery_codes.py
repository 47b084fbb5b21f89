"""Recovery codes (django-otp's static tokens): shown once at set-up, good for one sign-in each
instead of the authenticator's code, a new set ending the old; and the operator's one-time
code from `manage.py addstatictoken` for a first administrator whose set-up mail cannot come."""

import datetime as dt
import io
import logging
import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from referrals.recovery_codes import RECOVERY_CODE_COUNT, recovery_codes_replace
from tests.clinic_fixtures import make_staff
from tests.referrals.test_staff_login import LOGIN, PASSWORD, QR, code_for, log_in, prove_mailbox

pytestmark = pytest.mark.django_db

RECOVERY = reverse("staff-recovery-codes")
SETUP = reverse("staff-two-factor")
CODE = re.compile(r"<code>([a-z2-7]{8})</code>")


def lead_with_codes(username: str = "lead_lin") -> tuple[User, TOTPDevice, list[str]]:
    user = make_staff(username, "Triage lead")
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    return user, device, recovery_codes_replace(user=user)


def held(user: User) -> set[str]:
    return set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))


def test_setting_up_an_authenticator_shows_the_recovery_codes_once(client, settings):
    settings.STAFF_2FA_REQUIRED = "lead"
    user = make_staff("lead_lin", "Triage lead")
    log_in(client, "lead_lin")
    prove_mailbox(client)
    assert QR in client.get(SETUP).content.decode()
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    confirmed = client.post(SETUP, {"token": code_for(device)})
    assert confirmed.status_code == 302
    assert confirmed["Location"] == RECOVERY
    page = client.get(RECOVERY)
    text = page.content.decode()
    codes = CODE.findall(text)
    assert len(codes) == RECOVERY_CODE_COUNT
    assert set(codes) == held(user)
    assert "shown only this once" in text
    assert "no-store" in page["Cache-Control"]
    again = client.get(RECOVERY).content.decode()
    assert CODE.findall(again) == []
    assert f"You have {RECOVERY_CODE_COUNT} unused codes" in again
    assert client.get(reverse("admin:referrals_referral_changelist")).status_code == 200


def test_a_recovery_code_signs_in_once_and_not_twice(client, settings):
    settings.STAFF_2FA_REQUIRED = "lead"
    user, _device, codes = lead_with_codes()
    assert log_in(client, "lead_lin", otp_token=codes[0]).status_code == 302
    assert client.get(reverse("admin:referrals_referral_changelist")).status_code == 200
    client.logout()
    refused = log_in(client, "lead_lin", otp_token=codes[0])
    assert refused.status_code == 200
    assert "_auth_user_id" not in client.session
    assert held(user) == set(codes[1:])


def test_a_recovery_code_is_taken_however_it_was_copied_out(client):
    _user, _device, codes = lead_with_codes()
    typed = f" {codes[1][:4].upper()}-{codes[1][4:].upper()} "
    assert log_in(client, "lead_lin", otp_token=typed).status_code == 302


def test_the_owner_is_told_and_the_log_says_when_a_recovery_code_is_used(
    client, caplog, django_capture_on_commit_callbacks
):
    user, _device, codes = lead_with_codes()
    mail.outbox.clear()
    with (
        caplog.at_level(logging.INFO, logger="referrals.twofactor"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert log_in(client, "lead_lin", otp_token=codes[0]).status_code == 302
    (notice,) = mail.outbox
    assert notice.to == ["lead_lin@clinic.test"]
    assert "A recovery code was used" in notice.subject
    assert f"you have {RECOVERY_CODE_COUNT - 1} left" in notice.body
    assert "If this was not you" in notice.body
    assert codes[0] not in notice.body
    (record,) = [r for r in caplog.records if "signed in with" in r.getMessage()]
    assert record.getMessage() == (
        f"two-factor: user {user.pk} signed in with a recovery code, {RECOVERY_CODE_COUNT - 1} left"
    )
    assert "lead_lin" not in record.getMessage()


def test_wrong_recovery_codes_count_towards_the_lockout(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    user, _device, codes = lead_with_codes()
    wrong = [code for code in ("aaaaaaaa", "bbbbbbbb", "cccccccc") if code not in codes]
    for n, code in enumerate(wrong, start=1):
        answer = log_in(client, "lead_lin", otp_token=code, addr=f"203.0.113.{n}")
        assert answer.status_code == (429 if n == len(wrong) else 200), n
    locked = log_in(client, "lead_lin", otp_token=codes[0], addr="203.0.113.9")
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
    assert held(user) == set(codes)  # the locked-out sign-in spent nothing


def test_a_new_set_ends_the_old_one(client, settings):
    settings.STAFF_2FA_REQUIRED = "lead"
    user, device, old = lead_with_codes()
    assert log_in(client, "lead_lin", otp_token=code_for(device)).status_code == 302
    page = client.get(RECOVERY).content.decode()
    assert f"You have {RECOVERY_CODE_COUNT} unused codes" in page
    assert 'name="csrfmiddlewaretoken"' in page
    mail.outbox.clear()
    assert client.post(RECOVERY).status_code == 302
    new = CODE.findall(client.get(RECOVERY).content.decode())
    assert len(new) == RECOVERY_CODE_COUNT
    assert held(user) == set(new)
    assert not set(new) & set(old)
    (notice,) = mail.outbox
    assert "New two-factor recovery codes" in notice.subject
    client.logout()
    assert log_in(client, "lead_lin", otp_token=new[0]).status_code == 302
    client.logout()
    assert log_in(client, "lead_lin", otp_token=old[0]).status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_new_set_needs_a_session_signed_in_with_its_second_factor(client, settings):
    settings.STAFF_2FA_REQUIRED = "lead"
    user = make_staff("lead_lin", "Triage lead")
    assert log_in(client, "lead_lin").status_code == 302  # the password alone
    for answer in (client.get(RECOVERY), client.post(RECOVERY)):
        assert answer.status_code == 302
        assert answer["Location"] == SETUP
    assert held(user) == set()
    client.logout()
    anonymous = client.post(RECOVERY)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(LOGIN)


def test_the_page_for_a_new_set_is_linked_from_two_factor_sign_in(client):
    _user, device, _codes = lead_with_codes()
    log_in(client, "lead_lin", otp_token=code_for(device))
    index = client.get(reverse("admin:index")).content.decode()
    assert f'href="{SETUP}"' in index
    done = client.get(SETUP).content.decode()
    assert f"You have {RECOVERY_CODE_COUNT} unused recovery codes" in done
    assert f'href="{RECOVERY}"' in done


def test_the_sign_in_field_says_a_recovery_code_is_taken_too(client):
    page = client.get(LOGIN).content.decode()
    assert "Authenticator code or recovery code" in page
    assert '<label for="id_otp_token"' in page
    assert 'inputmode="numeric"' not in page  # a recovery code has letters


def test_a_recovery_code_lets_in_staff_whose_authenticator_was_removed_to_set_up_a_new_one(
    client, settings
):
    """A lost phone: an administrator removes the authenticator; a code signs in, and the
    set-up page starts again (the mailbox step), not 'set up'. The new authenticator comes with
    a new set."""
    settings.STAFF_2FA_REQUIRED = "lead"
    user, device, codes = lead_with_codes()
    device.delete()
    assert log_in(client, "lead_lin").status_code == 200  # codes left: one is asked for
    assert log_in(client, "lead_lin", otp_token=codes[0]).status_code == 302
    assert "Email me the set-up link" in client.get(SETUP).content.decode()
    prove_mailbox(client)
    client.get(SETUP)
    new_device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert client.post(SETUP, {"token": code_for(new_device)}).status_code == 302
    assert not held(user) & set(codes)
    assert len(held(user)) == RECOVERY_CODE_COUNT  # the new authenticator's own set


def test_a_session_signed_in_with_a_recovery_code_cannot_make_a_new_set(client, settings):
    """One leaked code (a photographed printout) and the password made a set of ten of the
    thief's own and ended the owner's: a new set needs the authenticator (a review)."""
    settings.STAFF_2FA_REQUIRED = "lead"
    user, device, codes = lead_with_codes()
    assert log_in(client, "lead_lin", otp_token=codes[0]).status_code == 302
    answer = client.post(RECOVERY, follow=True)
    assert "sign in with your authenticator app" in answer.content.decode()
    assert held(user) == set(codes[1:])
    client.logout()
    assert log_in(client, "lead_lin", otp_token=code_for(device)).status_code == 302
    client.post(RECOVERY)
    assert not held(user) & set(codes)


def test_an_authenticator_code_typed_as_the_app_shows_it_signs_in(client, settings):
    """Apps show "123 456": with the space it was refused, and counted against the recovery
    codes' throttle, not the authenticator's."""
    settings.STAFF_2FA_REQUIRED = "lead"
    _user, device, _codes = lead_with_codes()
    code = code_for(device)
    assert log_in(client, "lead_lin", otp_token=f"{code[:3]} {code[3:]}").status_code == 302


def test_staff_whose_codes_are_all_used_and_with_no_authenticator_sign_in_as_before(
    client, settings
):
    """A spent set asks for no code it could take: the lead is sent to set up, as any lead
    without an authenticator."""
    settings.STAFF_2FA_REQUIRED = "lead"
    user, device, _codes = lead_with_codes()
    device.delete()
    StaticToken.objects.filter(device__user=user).delete()
    assert log_in(client, "lead_lin").status_code == 302
    answer = client.get(reverse("admin:referrals_referral_changelist"))
    assert answer["Location"] == SETUP


def test_the_operators_addstatictoken_code_lets_the_first_administrator_in_once(client, settings):
    """README, Production: the first administrator's set-up mail cannot arrive; the operator
    runs `manage.py addstatictoken <username>` and passes the printed code on."""
    settings.STAFF_2FA_REQUIRED = "lead"
    User.objects.create_superuser("admin_ada", "ada@clinic.test", PASSWORD)
    assert log_in(client, "admin_ada").status_code == 302
    assert client.get(reverse("admin:index"))["Location"] == SETUP  # as before: set up first
    client.logout()
    out = io.StringIO()
    call_command("addstatictoken", "admin_ada", stdout=out)
    token = out.getvalue().strip()
    assert re.fullmatch(r"[a-z2-7]{8}", token)
    assert log_in(client, "admin_ada").status_code == 200  # a code is asked for now
    assert log_in(client, "admin_ada", otp_token=token).status_code == 302
    assert client.get(reverse("admin:index")).status_code == 200
    # Once in, the set-up page still offers the authenticator (by mail, once it works).
    assert "Email me the set-up link" in client.get(SETUP).content.decode()
    client.logout()
    # Spent: no code is left to ask for, so the password signs in as at first, and the
    # session is sent to set up again, not let in.
    assert held(User.objects.get(username="admin_ada")) == set()
    assert log_in(client, "admin_ada", otp_token=token).status_code == 302
    assert client.get(reverse("admin:index"))["Location"] == SETUP


def test_a_code_typed_during_the_wait_after_a_wrong_one_says_how_long_to_wait(client, settings):
    """django-otp checks no code for 1, 2, 4 ... seconds after wrong ones. Its message said
    "please try again soon", and the right code typed at once was refused and counted towards
    the lockout with no word of it: the page now says how long, and that a code typed sooner
    counts as a failed sign-in. Once the wait is over the right code signs in."""
    settings.AXES_FAILURE_LIMIT = 5
    _user, device, _codes = lead_with_codes()
    right = code_for(device)
    wrong = next(c for c in ("000000", "111111") if c != right)
    assert log_in(client, "lead_lin", otp_token=wrong).status_code == 200
    answer = log_in(client, "lead_lin", otp_token=right)
    assert answer.status_code == 200
    text = answer.content.decode()
    assert "wait 1 second, then type your code again" in text
    assert "counts as a failed sign-in" in text
    assert "try again soon" not in text
    assert "_auth_user_id" not in client.session
    device.refresh_from_db()
    device.throttling_failure_timestamp -= dt.timedelta(seconds=2)  # the second has passed
    device.save(update_fields=["throttling_failure_timestamp"])
    assert log_in(client, "lead_lin", otp_token=code_for(device)).status_code == 302


def test_an_administrator_deletes_staff_accounts_with_their_codes_one_or_several_at_once(client):
    """The admin locks the accounts' rows before Django looks for what goes with them."""
    admin = User.objects.create_superuser("admin_ada", "ada@clinic.test", "x" * 16)
    client.force_login(admin)
    lin, _device, _codes = lead_with_codes("lead_lin")
    one = client.post(reverse("admin:auth_user_delete", args=[lin.pk]), {"post": "yes"})
    assert one.status_code == 302
    pat, _device, _codes = lead_with_codes("lead_pat")
    tom, _device, _codes = lead_with_codes("lead_tom")
    several = client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "delete_selected", "_selected_action": [pat.pk, tom.pk], "post": "yes"},
    )
    assert several.status_code == 302
    assert list(User.objects.values_list("username", flat=True)) == ["admin_ada"]
    assert not StaticToken.objects.exists()
    assert not TOTPDevice.objects.exists()
