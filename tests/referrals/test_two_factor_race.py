"""Two-factor requests of one account at once, on real PostgreSQL connections: two set-up
pages, two sign-ins with one recovery code, a sign-in with a code and a new set of codes."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.db.models.signals import post_delete
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

import referrals.recovery_codes
from referrals.recovery_codes import RECOVERY_CODE_COUNT, recovery_codes_replace
from tests.clinic_fixtures import make_staff
from tests.referrals.test_concurrency import run_at_once
from tests.referrals.test_staff_login import QR, code_for, log_in, prove_mailbox

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

RECOVERY = reverse("staff-recovery-codes")


def test_two_set_up_pages_opened_at_once_make_one_authenticator(monkeypatch):
    """Each page's get_or_create found no authenticator in the making and made one: two, and
    every later visit of the page was a 500 (get_or_create found two rows)."""
    assert connection.vendor == "postgresql"
    user = make_staff("lead_lin", "Triage lead")
    first = Client()
    log_in(first, "lead_lin")
    setup = prove_mailbox(first)
    second = Client()
    second.cookies = first.cookies  # two tabs of one browser

    arrived = threading.Condition()
    inserting = [0]
    real_save = TOTPDevice.save

    def save_once_both_insert(self: TOTPDevice, *args: Any, **kwargs: Any) -> None:
        if self._state.adding:
            with arrived:
                inserting[0] += 1
                arrived.notify_all()
                # Until the other page inserts too; one that instead waits for this one (as
                # it must) never does, and this page goes on.
                arrived.wait_for(lambda: inserting[0] == 2, timeout=3)
        real_save(self, *args, **kwargs)

    monkeypatch.setattr(TOTPDevice, "save", save_once_both_insert)
    outcomes = run_at_once(lambda: first.get(setup), lambda: second.get(setup))
    monkeypatch.setattr(TOTPDevice, "save", real_save)
    for outcome in outcomes:
        assert outcome is not None, outcomes
        assert outcome[0] == "ok", outcomes
        assert outcome[1].status_code == 200, outcomes
    assert TOTPDevice.objects.filter(user=user, confirmed=False).count() == 1
    assert QR in first.get(setup).content.decode()


def test_one_recovery_code_given_by_two_sign_ins_at_once_lets_one_in(monkeypatch):
    """django-otp's static device reads the code, then deletes it: two sign-ins at once both
    read it and both were let in. The device's row is locked first; the second finds it used."""
    assert connection.vendor == "postgresql"
    user = make_staff("lead_lin", "Triage lead")
    TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    code = recovery_codes_replace(user=user)[0]

    arrived = threading.Condition()
    deleting = [0]
    real_delete = StaticToken.delete

    def delete_once_both_delete(self: StaticToken, *args: Any, **kwargs: Any) -> Any:
        with arrived:
            deleting[0] += 1
            arrived.notify_all()
            # Until the other sign-in deletes too; one that waits for this one never does.
            arrived.wait_for(lambda: deleting[0] == 2, timeout=3)
        return real_delete(self, *args, **kwargs)

    monkeypatch.setattr(StaticToken, "delete", delete_once_both_delete)
    clients = [Client(), Client()]
    outcomes = run_at_once(
        *(
            lambda client=client, n=n: log_in(
                client, "lead_lin", otp_token=code, addr=f"203.0.113.{n}"
            )
            for n, client in enumerate(clients, start=1)
        )
    )
    monkeypatch.setattr(StaticToken, "delete", real_delete)
    for outcome in outcomes:
        assert outcome is not None, outcomes
        assert outcome[0] == "ok", outcomes
    assert sorted(outcome[1].status_code for outcome in outcomes if outcome) == [200, 302]
    assert not StaticToken.objects.filter(device__user=user, token=code).exists()


def _start(job: Any) -> tuple[threading.Thread, list[Any]]:
    """``job`` on a thread of its own (its own connection), its outcome in the list."""
    outcome: list[Any] = []

    def runner() -> None:
        try:
            outcome.append(("ok", job()))
        except Exception as exc:
            outcome.append(("error", exc))
        finally:
            connection.close()

    thread = threading.Thread(target=runner)
    thread.start()
    return thread, outcome


def _another_connection_waits_for_a_lock(timeout: float = 10) -> bool:
    # Read on the test's own connection, in autocommit: pg_stat_activity is read afresh by each
    # statement (inside one transaction it would be the first read's snapshot).
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


def _lead_with_codes_and_a_session_signed_in_with_the_authenticator() -> tuple[
    Any, list[str], Client
]:
    user = make_staff("lead_lin", "Triage lead")
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    codes = recovery_codes_replace(user=user)
    owner = Client()
    assert log_in(owner, "lead_lin", otp_token=code_for(device)).status_code == 302
    return user, codes, owner


def _held(user: Any) -> set[str]:
    return set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))


def _new_set_shown(owner: Client) -> list[str]:
    return re.findall(r"<code>([a-z2-7]{8})</code>", owner.get(RECOVERY).content.decode())


def _beside_a_sign_in_holding_its_code(
    monkeypatch: Any, code: str, other: Any
) -> tuple[list[Any], list[Any], bool]:
    """A sign-in with ``code`` held once it has locked its device and read the code, ``other``
    started then and let go as far as it can (until another connection waits for a lock, and a
    little longer), then the sign-in let go: each one's outcome, and whether ``other`` waited."""
    holding, go_on = threading.Event(), threading.Event()
    real_verify = StaticDevice.verify_token

    def verify_when_let_go(self: StaticDevice, token: str) -> bool:
        holding.set()
        go_on.wait(timeout=10)
        return real_verify(self, token)

    monkeypatch.setattr(StaticDevice, "verify_token", verify_when_let_go)
    sign_in, signed_in = _start(
        lambda: log_in(Client(), "lead_lin", otp_token=code, addr="203.0.113.1")
    )
    assert holding.wait(timeout=10)
    beside, done = _start(other)
    waiting = _another_connection_waits_for_a_lock()
    time.sleep(0.2)  # the other goes as far as it can before the sign-in goes on
    go_on.set()
    for thread in (sign_in, beside):
        thread.join(timeout=30)
    monkeypatch.setattr(StaticDevice, "verify_token", real_verify)
    return signed_in, done, waiting


def test_a_new_set_made_while_a_sign_in_holds_its_code_waits_for_it_and_ends_the_rest(
    monkeypatch,
):
    """The sign-in has locked its device and read the code; the new set comes then. Deleting
    the codes before locking the devices (as the new set once did), each waited for the other:
    the new set's inserts for the sign-in's device lock, the sign-in's delete for the new set's
    deleted row, and PostgreSQL ended one of them ("deadlock detected", a 500)."""
    assert connection.vendor == "postgresql"
    user, codes, owner = _lead_with_codes_and_a_session_signed_in_with_the_authenticator()

    signed_in, replaced, waiting = _beside_a_sign_in_holding_its_code(
        monkeypatch, codes[0], lambda: owner.post(RECOVERY)
    )
    assert waiting, "the new set did not wait for the sign-in's lock"

    assert [kind for kind, _ in signed_in] == ["ok"], signed_in
    assert [kind for kind, _ in replaced] == ["ok"], replaced
    assert signed_in[0][1].status_code == 302  # the code was good when it was read
    assert replaced[0][1].status_code == 302
    new = _new_set_shown(owner)
    assert len(new) == RECOVERY_CODE_COUNT
    assert _held(user) == set(new)
    assert not set(new) & set(codes)
    assert log_in(Client(), "lead_lin", otp_token=new[0], addr="203.0.113.2").status_code == 302
    refused = Client()
    assert log_in(refused, "lead_lin", otp_token=codes[1], addr="203.0.113.3").status_code == 200
    assert "_auth_user_id" not in refused.session
    assert _held(user) == set(new[1:])


def test_a_sign_in_while_a_new_set_is_being_made_waits_and_its_old_code_is_refused(monkeypatch):
    """The new set has taken its locks and ended the old codes; a sign-in with one of them
    comes then. In the old order (the codes deleted, then the inserts checking the device)
    the sign-in locked the device, read the code the new set had not yet committed the end
    of, and waited on its delete, while the new set's inserts waited for the device: a
    deadlock, and a 500 (the reviewer's reproduction)."""
    assert connection.vendor == "postgresql"
    user, codes, owner = _lead_with_codes_and_a_session_signed_in_with_the_authenticator()

    holding, go_on = threading.Event(), threading.Event()
    real_new_code = referrals.recovery_codes._new_recovery_code

    def new_code_when_let_go() -> str:
        # Called after the old codes are deleted, before the new ones are inserted.
        holding.set()
        go_on.wait(timeout=10)
        return real_new_code()

    monkeypatch.setattr(referrals.recovery_codes, "_new_recovery_code", new_code_when_let_go)
    replace, replaced = _start(lambda: owner.post(RECOVERY))
    assert holding.wait(timeout=10)
    sign_in, signed_in = _start(
        lambda: log_in(Client(), "lead_lin", otp_token=codes[0], addr="203.0.113.1")
    )
    waiting = _another_connection_waits_for_a_lock()
    time.sleep(0.2)  # the sign-in goes as far as it can before the new set goes on
    go_on.set()
    for thread in (replace, sign_in):
        thread.join(timeout=30)
    monkeypatch.setattr(referrals.recovery_codes, "_new_recovery_code", real_new_code)
    assert waiting, "the sign-in did not wait for the new set's locks"

    assert [kind for kind, _ in replaced] == ["ok"], replaced
    assert [kind for kind, _ in signed_in] == ["ok"], signed_in
    assert replaced[0][1].status_code == 302
    assert signed_in[0][1].status_code == 200  # the old set ended before the code was read
    new = _new_set_shown(owner)
    assert len(new) == RECOVERY_CODE_COUNT
    assert _held(user) == set(new)
    assert not set(new) & set(codes)


def _administrator() -> Client:
    admin = User.objects.create_superuser("admin_ada", "ada@clinic.test", "x" * 16)
    client = Client()
    client.force_login(admin)
    return client


def _delete_page(device: StaticDevice) -> str:
    return reverse("admin:otp_static_staticdevice_delete", args=[device.pk])


def test_codes_removed_by_an_administrator_while_a_sign_in_holds_one_wait_for_it(monkeypatch):
    """An administrator removes a member of staff's codes (Otp_Static -> Static devices) while
    they sign in with one. Django deletes the device's codes, then the device: in that order,
    against the sign-in's device lock and then its code's delete, each waited for the other."""
    assert connection.vendor == "postgresql"
    user, codes, _owner = _lead_with_codes_and_a_session_signed_in_with_the_authenticator()
    device = StaticDevice.objects.get(user=user)
    administrator = _administrator()

    signed_in, removed, waiting = _beside_a_sign_in_holding_its_code(
        monkeypatch, codes[0], lambda: administrator.post(_delete_page(device), {"post": "yes"})
    )
    assert waiting, "the removal did not wait for the sign-in's lock"

    assert [kind for kind, _ in signed_in] == ["ok"], signed_in
    assert [kind for kind, _ in removed] == ["ok"], removed
    assert signed_in[0][1].status_code == 302  # the code was good when it was read
    assert removed[0][1].status_code == 302
    assert not StaticDevice.objects.filter(user=user).exists()
    assert _held(user) == set()


def test_a_sign_in_while_an_administrator_removes_the_codes_is_refused(monkeypatch):
    """The removal has deleted the codes and not yet the device; a sign-in with one comes
    then, and is refused once the removal is done (it had found the code, and then the
    device gone under its lock: a 500)."""
    assert connection.vendor == "postgresql"
    user, codes, _owner = _lead_with_codes_and_a_session_signed_in_with_the_authenticator()
    device = StaticDevice.objects.get(user=user)
    administrator = _administrator()

    holding, go_on = threading.Event(), threading.Event()

    def codes_deleted(sender: Any, **kwargs: Any) -> None:
        # Sent after the codes' delete, before the device's.
        if not holding.is_set():
            holding.set()
            go_on.wait(timeout=10)

    post_delete.connect(codes_deleted, sender=StaticToken, dispatch_uid="race-codes-deleted")
    try:
        remove, removed = _start(lambda: administrator.post(_delete_page(device), {"post": "yes"}))
        assert holding.wait(timeout=10)
        sign_in, signed_in = _start(
            lambda: log_in(Client(), "lead_lin", otp_token=codes[0], addr="203.0.113.1")
        )
        waiting = _another_connection_waits_for_a_lock()
        time.sleep(0.2)  # the sign-in goes as far as it can before the removal goes on
        go_on.set()
        for thread in (remove, sign_in):
            thread.join(timeout=30)
    finally:
        post_delete.disconnect(sender=StaticToken, dispatch_uid="race-codes-deleted")
    assert waiting, "the sign-in did not wait for the removal's locks"

    assert [kind for kind, _ in removed] == ["ok"], removed
    assert [kind for kind, _ in signed_in] == ["ok"], signed_in
    assert removed[0][1].status_code == 302
    assert signed_in[0][1].status_code == 200
    assert not StaticDevice.objects.filter(user=user).exists()


def test_two_first_sets_made_at_once_leave_one_device_and_one_set(monkeypatch):
    """Two requests for an account's first set at once (no device yet, nothing to lock but
    the account's row): each made a device of its own and its set, and both sets worked."""
    assert connection.vendor == "postgresql"
    user = make_staff("lead_lin", "Triage lead")

    holding, go_on = threading.Event(), threading.Event()
    real_new_code = referrals.recovery_codes._new_recovery_code

    def first_new_code_when_let_go() -> str:
        # The first set, its device made and the old codes deleted, waits here once.
        if not holding.is_set():
            holding.set()
            go_on.wait(timeout=10)
        return real_new_code()

    monkeypatch.setattr(referrals.recovery_codes, "_new_recovery_code", first_new_code_when_let_go)
    first, made_first = _start(lambda: recovery_codes_replace(user=user))
    assert holding.wait(timeout=10)
    second, made_second = _start(lambda: recovery_codes_replace(user=user))
    waiting = _another_connection_waits_for_a_lock(timeout=3)
    time.sleep(0.2)  # the second set goes as far as it can before the first goes on
    go_on.set()
    for thread in (first, second):
        thread.join(timeout=30)
    monkeypatch.setattr(referrals.recovery_codes, "_new_recovery_code", real_new_code)

    assert [kind for kind, _ in made_first] == ["ok"], made_first
    assert [kind for kind, _ in made_second] == ["ok"], made_second
    assert StaticDevice.objects.filter(user=user).count() == 1
    assert _held(user) == set(made_second[0][1])
    assert len(_held(user)) == RECOVERY_CODE_COUNT
    assert waiting, "the second set did not wait for the first"


def _account_delete_page(user: Any) -> str:
    return reverse("admin:auth_user_delete", args=[user.pk])


def _gone(user: Any) -> bool:
    return not (
        User.objects.filter(pk=user.pk).exists()
        or StaticDevice.objects.filter(user_id=user.pk).exists()
        or StaticToken.objects.filter(device__user_id=user.pk).exists()
        or TOTPDevice.objects.filter(user_id=user.pk).exists()
    )


def _held_after_the_account_lock(job: Any, holding: Any, go_on: Any) -> Any:
    """``job``, its connection held still once it has locked an account's row (its first
    SELECT ... FROM auth_user ... FOR UPDATE) until ``go_on`` is set."""

    def hold(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if not holding.is_set() and 'FROM "auth_user"' in sql and "FOR UPDATE" in sql:
            holding.set()
            go_on.wait(timeout=10)
        return result

    def run() -> Any:
        with connection.execute_wrapper(hold):
            return job()

    return run


def _a_new_set_then_a_deletion(owner: Client, delete: Any) -> tuple[list[Any], list[Any]]:
    """The owner's new set held once it has locked the account's row, ``delete`` started then
    and let go as far as it can (it must wait for that lock), then the set let go: each one's
    outcome."""
    holding, go_on = threading.Event(), threading.Event()
    replace, replaced = _start(
        _held_after_the_account_lock(lambda: owner.post(RECOVERY), holding, go_on)
    )
    assert holding.wait(timeout=10)
    deletion, deleted = _start(delete)
    waiting = _another_connection_waits_for_a_lock()
    time.sleep(0.2)  # the deletion goes as far as it can before the new set goes on
    go_on.set()
    for thread in (replace, deletion):
        thread.join(timeout=30)
    assert waiting, "the deletion did not wait for the new set's lock"
    return replaced, deleted


@pytest.mark.parametrize("codes_before", [True, False], ids=["new set", "first set"])
def test_an_account_deleted_while_its_owner_makes_codes_waits_and_takes_them_with_it(
    codes_before,
):
    """The owner's new set has locked the account's row; an administrator deletes the account
    then. Django's deletion locked the devices and deleted them and their codes before the
    account's row, which the new set held while it waited for the devices: "deadlock
    detected", a 500. The first set (no device yet): the deletion had looked for what to
    delete before the new set made its device, and the account's delete failed on it."""
    assert connection.vendor == "postgresql"
    user = make_staff("lead_lin", "Triage lead")
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    if codes_before:
        recovery_codes_replace(user=user)
    owner = Client()
    assert log_in(owner, "lead_lin", otp_token=code_for(device)).status_code == 302
    administrator = _administrator()

    replaced, deleted = _a_new_set_then_a_deletion(
        owner, lambda: administrator.post(_account_delete_page(user), {"post": "yes"})
    )
    assert [kind for kind, _ in replaced] == ["ok"], replaced
    assert [kind for kind, _ in deleted] == ["ok"], deleted
    assert replaced[0][1].status_code == 302
    assert replaced[0][1]["Location"] == RECOVERY  # the set was made, then deleted
    assert deleted[0][1].status_code == 302
    assert _gone(user)


def test_an_account_deleted_outside_the_admin_while_its_owner_makes_a_new_set_waits_for_it():
    """As above, the account deleted by its model (a shell, a command) rather than the admin's
    page, which locks the row first: the devices' pre_delete receiver locks it before them."""
    assert connection.vendor == "postgresql"
    user, _codes, owner = _lead_with_codes_and_a_session_signed_in_with_the_authenticator()

    replaced, deleted = _a_new_set_then_a_deletion(
        owner, lambda: User.objects.get(pk=user.pk).delete()
    )
    assert [kind for kind, _ in replaced] == ["ok"], replaced
    assert [kind for kind, _ in deleted] == ["ok"], deleted
    assert replaced[0][1]["Location"] == RECOVERY
    assert _gone(user)


def _beside_an_account_deletion(
    administrator: Client, user: Any, other: Any
) -> tuple[list[Any], list[Any], bool]:
    """The account's deletion held once it has deleted a code (its locks taken, the account's
    row not yet deleted), ``other`` started then and let go as far as it can, then the
    deletion let go: each one's outcome, and whether ``other`` waited."""
    holding, go_on = threading.Event(), threading.Event()

    def code_deleted(sender: Any, **kwargs: Any) -> None:
        if not holding.is_set():
            holding.set()
            go_on.wait(timeout=10)

    post_delete.connect(code_deleted, sender=StaticToken, dispatch_uid="race-code-deleted")
    try:
        delete, deleted = _start(
            lambda: administrator.post(_account_delete_page(user), {"post": "yes"})
        )
        assert holding.wait(timeout=10)
        beside, done = _start(other)
        waiting = _another_connection_waits_for_a_lock()
        time.sleep(0.2)  # the other goes as far as it can before the deletion goes on
        go_on.set()
        for thread in (delete, beside):
            thread.join(timeout=30)
    finally:
        post_delete.disconnect(sender=StaticToken, dispatch_uid="race-code-deleted")
    return deleted, done, waiting


def test_new_codes_asked_for_while_the_account_is_deleted_wait_and_find_it_gone():
    """The deletion has locked the devices and deleted codes; the owner asks for a new set
    then. The new set locked the account's row (the deletion had not) and waited for the
    devices, the deletion then for the row: "deadlock detected", a 500."""
    assert connection.vendor == "postgresql"
    user, _codes, owner = _lead_with_codes_and_a_session_signed_in_with_the_authenticator()
    administrator = _administrator()

    deleted, replaced, waiting = _beside_an_account_deletion(
        administrator, user, lambda: owner.post(RECOVERY)
    )
    assert waiting, "the new set did not wait for the deletion's locks"

    assert [kind for kind, _ in deleted] == ["ok"], deleted
    assert [kind for kind, _ in replaced] == ["ok"], replaced
    assert deleted[0][1].status_code == 302
    assert replaced[0][1].status_code == 302
    assert replaced[0][1]["Location"] == reverse("admin:login")
    assert _gone(user)


def test_an_account_deleted_while_a_sign_in_holds_its_code_waits_for_it(monkeypatch):
    """The sign-in has locked its device and read the code; the account's deletion comes
    then, waits for the device, and deletes the account once the code is used: the sign-in
    goes on to stamp the account's last sign-in and finds it gone."""
    assert connection.vendor == "postgresql"
    user, codes, _owner = _lead_with_codes_and_a_session_signed_in_with_the_authenticator()
    administrator = _administrator()

    signed_in, deleted, waiting = _beside_a_sign_in_holding_its_code(
        monkeypatch,
        codes[0],
        lambda: administrator.post(_account_delete_page(user), {"post": "yes"}),
    )
    assert waiting, "the deletion did not wait for the sign-in's lock"

    assert [kind for kind, _ in signed_in] == ["ok"], signed_in
    assert [kind for kind, _ in deleted] == ["ok"], deleted
    assert signed_in[0][1].status_code == 302  # the code was good when it was read
    assert deleted[0][1].status_code == 302
    assert _gone(user)


def test_a_sign_in_with_a_code_while_the_account_is_deleted_is_refused():
    """The deletion has locked the devices and deleted codes; a sign-in with one comes then,
    waits for its device, and finds it gone: its authenticator, read before, was gone too,
    and saving the refused code's count on it was a 500."""
    assert connection.vendor == "postgresql"
    user, codes, _owner = _lead_with_codes_and_a_session_signed_in_with_the_authenticator()
    administrator = _administrator()
    refused = Client()

    deleted, signed_in, waiting = _beside_an_account_deletion(
        administrator,
        user,
        lambda: log_in(refused, "lead_lin", otp_token=codes[0], addr="203.0.113.1"),
    )
    assert waiting, "the sign-in did not wait for the deletion's locks"

    assert [kind for kind, _ in deleted] == ["ok"], deleted
    assert [kind for kind, _ in signed_in] == ["ok"], signed_in
    assert deleted[0][1].status_code == 302
    assert signed_in[0][1].status_code == 200
    assert "_auth_user_id" not in refused.session
    assert _gone(user)


def test_a_set_up_page_opened_while_the_account_is_deleted_waits_and_finds_it_gone():
    """The deletion holds the account's row; its owner opens the set-up page (the mailbox
    proved) then, which waits for the row, and made an authenticator in the making for the
    account deleted meanwhile: the commit failed on it (a 500)."""
    assert connection.vendor == "postgresql"
    user = make_staff("lead_lin", "Triage lead")
    owner = Client()
    assert log_in(owner, "lead_lin").status_code == 302
    setup = prove_mailbox(owner)
    administrator = _administrator()

    holding, go_on = threading.Event(), threading.Event()
    delete, deleted = _start(
        _held_after_the_account_lock(
            lambda: administrator.post(_account_delete_page(user), {"post": "yes"}),
            holding,
            go_on,
        )
    )
    assert holding.wait(timeout=10)
    opened, page = _start(lambda: owner.get(setup))
    waiting = _another_connection_waits_for_a_lock()
    time.sleep(0.2)  # the page goes as far as it can before the deletion goes on
    go_on.set()
    for thread in (delete, opened):
        thread.join(timeout=30)
    assert waiting, "the set-up page did not wait for the deletion's lock"

    assert [kind for kind, _ in deleted] == ["ok"], deleted
    assert [kind for kind, _ in page] == ["ok"], page
    assert deleted[0][1].status_code == 302
    assert page[0][1].status_code == 302
    assert page[0][1]["Location"] == reverse("admin:login")
    assert _gone(user)


def test_a_set_up_confirmed_while_the_account_is_deleted_finishes_before_the_deletion(
    monkeypatch,
):
    """The owner's code for a new authenticator has been checked; an administrator deletes the
    account then. The confirmation held no lock: the deletion went through, and the
    authenticator's save found no row (a 500; a review found it). Now the deletion waits for
    the confirmation, which finishes, and takes the new authenticator and codes with it."""
    assert connection.vendor == "postgresql"
    user = make_staff("lead_lin", "Triage lead")
    owner = Client()
    assert log_in(owner, "lead_lin").status_code == 302
    setup = prove_mailbox(owner)
    assert owner.get(setup).status_code == 200  # the authenticator in the making
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    administrator = _administrator()

    checked, go_on = threading.Event(), threading.Event()
    real_verify = TOTPDevice.verify_token

    def verify_then_hold(self: TOTPDevice, token: Any) -> bool:
        verified = bool(real_verify(self, token))
        checked.set()
        go_on.wait(timeout=10)
        return verified

    monkeypatch.setattr(TOTPDevice, "verify_token", verify_then_hold)
    confirm, confirmed = _start(lambda: owner.post(setup, {"token": code_for(device)}))
    assert checked.wait(timeout=10)
    delete, deleted = _start(
        lambda: administrator.post(_account_delete_page(user), {"post": "yes"})
    )
    waiting = _another_connection_waits_for_a_lock()
    go_on.set()
    for thread in (confirm, delete):
        thread.join(timeout=30)
    assert waiting, "the deletion did not wait for the confirmation"

    assert [kind for kind, _ in confirmed] == ["ok"], confirmed
    assert [kind for kind, _ in deleted] == ["ok"], deleted
    assert confirmed[0][1].status_code == 302
    assert confirmed[0][1]["Location"] == RECOVERY
    assert deleted[0][1].status_code == 302
    assert _gone(user)
