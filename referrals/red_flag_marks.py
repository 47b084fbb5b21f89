"""The specialty referrals' ``red_flag_elsewhere`` changing, told through ``updated_at`` and
the ``referral.red_flag_elsewhere_changed`` webhook."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Final

from django.db.models import F, QuerySet, Value
from django.db.models.functions import Greatest

from intake.models import Intake
from referrals import webhooks
from referrals.models import OPEN_STATUSES, Referral
from referrals.selectors import NOT_FOR_RED_FLAGS

# The least a stamp moves updated_at: a stamp must change it, or a poller that skips the rows
# whose id and updated_at it holds (docs/API.md) would skip this one too.
TICK: Final = dt.timedelta(microseconds=1)


def _marked(patient_id: int) -> QuerySet[Referral]:
    """The referrals whose ``red_flag_elsewhere`` a red flag of the patient's changes."""
    return Referral.objects.filter(
        patient_id=patient_id, queue__in=NOT_FOR_RED_FLAGS, status__in=OPEN_STATUSES
    )


def red_flag_elsewhere_changed(
    patient_id: int, *, now: dt.datetime, cause: str, case: Callable[[], Intake | None]
) -> int:
    """Stamp ``updated_at`` on the patient's open referrals of chiropractic, podiatry and
    orthotic fitting: whether another case of the patient has a red flag no reviewer has
    cleared (their ``red_flag_elsewhere``) may have changed, a red flag having come or been
    cleared. A system polling the API's list by ``updated_since`` reads them again (a review
    found the flag turning true never reached one). ``now``, or just after the stamp they
    have when that is later (another host's clock ahead); one statement; the number stamped.

    A webhook subscriber hears of each stamped one in this transaction
    (``webhooks.on_red_flag_elsewhere_changed``: ``cause``, a ``webhooks.RedFlagCause``, and
    ``case``, the case that came with the red flag or was cleared, read only when someone
    subscribes); nothing more is read when nobody does, or nothing was stamped.

    The caller holds the patient's lock (``lock_patient``), taken before any row lock, as
    every write that locks several of a patient's referrals does: the rows are locked in the
    index's order, which a submission joining them, locking in another, would otherwise meet
    head on (a review).

    The cases feeding them that the worker has not announced yet are announced first, here,
    as before a status move (``tasks.announce_pending``): a subscriber hears of a referral's
    creation, with its ``red_flag_elsewhere`` as this transaction has it, before the stamp's
    event. One the worker is announcing at this moment is waited for (its case's row lock),
    then told: a clearance committing while a worker's announcement, which had read the red
    flag standing, was still to commit, skipped the referral as untold, and a webhook receiver
    kept its creation's ``true`` for good (a known gap). One read when none is pending. A
    caller that locks the patient's referrals before this (a clearance joining one by a
    release) announces them before it locks any, as ``intake_clear_red_flag`` does: a case
    locked after its referral deadlocks with a move, which locks the case first."""
    from referrals.tasks import announce_pending_of  # tasks imports this module

    announce_pending_of(_marked(patient_id))
    stamped = _marked(patient_id).update(
        updated_at=Greatest(F("updated_at") + Value(TICK), Value(now))
    )
    if stamped:
        webhooks.on_red_flag_elsewhere_changed(_marked(patient_id), case=case, cause=cause)
    return stamped
