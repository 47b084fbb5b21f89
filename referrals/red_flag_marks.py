"""The specialty referrals' ``red_flag_elsewhere`` changing, told through ``updated_at``."""

from __future__ import annotations

import datetime as dt

from django.db.models import F, Value
from django.db.models.functions import Greatest

from referrals.models import OPEN_STATUSES, Referral
from referrals.selectors import NOT_FOR_RED_FLAGS


def red_flag_elsewhere_changed(patient_id: int, *, now: dt.datetime) -> int:
    """Stamp ``updated_at`` on the patient's open referrals of chiropractic, podiatry and
    orthotic fitting: whether another case of the patient has a red flag no reviewer has
    cleared (their ``red_flag_elsewhere``) may have changed, a red flag having come or been
    cleared. A system polling the API's list by ``updated_since`` reads them again (a review
    found the flag turning true never reached one). Never earlier than the stamp they have
    (the moves' rule); one statement; the number stamped."""
    return Referral.objects.filter(
        patient_id=patient_id, queue__in=NOT_FOR_RED_FLAGS, status__in=OPEN_STATUSES
    ).update(updated_at=Greatest(F("updated_at"), Value(now)))
