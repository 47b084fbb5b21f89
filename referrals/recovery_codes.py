"""Recovery codes for staff two-factor sign-in (django-otp's static tokens), and the order in
which whatever locks or deletes them takes its locks: the account's row, then its static devices,
then their codes."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

RECOVERY_CODE_COUNT = 10

log = logging.getLogger(__name__)


def recovery_codes_held(user: Any) -> QuerySet[StaticToken]:
    """The user's recovery codes that sign in (one from `manage.py addstatictoken` too)."""
    return StaticToken.objects.filter(device__user=user, device__confirmed=True)


def _new_recovery_code() -> str:
    # A code with a letter in it is never taken for an authenticator's (digits only).
    while (code := StaticToken.random_token()).isdigit():
        pass
    return code


class AccountGone(Exception):
    """The account was deleted while this waited for its row (an administrator's deletion
    of it came first)."""


def account_locked(user_id: Any) -> bool:
    """Lock the account's row (in the caller's transaction); False when it is gone. Taken
    first, before its devices and their codes, by whatever locks or deletes those (a new set,
    the removal of a device, the deletion of the account): in one order, none of them waits
    for another that waits for it."""
    return bool(get_user_model().objects.select_for_update().filter(pk=user_id).values_list("pk"))


def recovery_codes_replace(*, user: Any) -> list[str]:
    """A new set of recovery codes for ``user``; every code held before (the last set's, an
    operator's from addstatictoken) stops working. AccountGone when the account was deleted
    while this waited for it."""
    with transaction.atomic():
        # The account's row orders two requests at once: each would delete the old set and
        # add its own, and both new sets would work.
        if not account_locked(user.pk):
            raise AccountGone(user.pk)
        # Then the devices, as a sign-in with a code locks its device before it deletes the
        # code: taken in the other order (the new codes' inserts check their device), the two
        # deadlocked on PostgreSQL, and a code of the old set could be taken after it ended.
        devices = list(StaticDevice.objects.select_for_update().filter(user=user).order_by("id"))
        StaticToken.objects.filter(device__user=user).delete()
        device = devices[0] if devices else None
        if device is None:
            device = StaticDevice.objects.create(user=user, name="Recovery codes")
        elif not device.confirmed:
            device.confirmed = True
            device.save(update_fields=["confirmed"])
        codes: set[str] = set()
        while len(codes) < RECOVERY_CODE_COUNT:
            codes.add(_new_recovery_code())
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    log.info("two-factor: user %s made a new set of recovery codes", user.pk)
    return sorted(codes)


def recovery_codes_lock_before_delete(sender: Any, instance: StaticDevice, **kwargs: Any) -> None:
    """Before a static device is deleted (an administrator removing a member of staff's
    codes, or deleting the account), its account's row and then its devices are locked, the
    order a new set takes. Django deletes the device's codes first and the device after:
    against a sign-in, which locks the device and then deletes its code, the two deadlocked on
    PostgreSQL (a 500). Deleting the account, Django deletes its devices and codes before its
    row: with the devices locked first, against a new set holding the row and waiting for
    them, the two deadlocked too."""
    # pre_delete is sent inside the deletion's transaction, before its first delete. The
    # account's row is there still: Django deletes it after everything that refers to it.
    account_locked(instance.user_id)
    list(
        StaticDevice.objects.select_for_update()
        .filter(user_id=instance.user_id)
        .order_by("id")
        .values_list("pk")
    )


def recovery_codes_left(user: Any) -> int:
    return recovery_codes_held(user).count()
