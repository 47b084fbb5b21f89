"""Two set-up pages of one account opened at once, on real PostgreSQL connections."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from tests.clinic_fixtures import make_staff
from tests.referrals.test_concurrency import run_at_once
from tests.referrals.test_staff_login import QR, log_in, prove_mailbox

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


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
    from django_otp.plugins.otp_static.models import StaticToken

    from referrals.twofactor import recovery_codes_replace

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
