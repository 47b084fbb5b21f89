"""Idempotency keys: a retried request gets the first response and stores nothing again."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from referrals.models import ApiToken, IdempotencyRecord

MAX_KEY_LENGTH: Final = 255


class KeyReused(Exception):
    """The key was first used with a different request body."""


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool


def request_hash(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def idempotent_call(
    *, token: ApiToken, key: str, data: Any, run: Callable[[], tuple[int, dict[str, Any]]]
) -> Outcome:
    """Run ``run`` once per (token, key) and store its response in the same transaction.

    The record is inserted before the work is done. A concurrent request with the same key
    blocks on the unique constraint until the first commits, then fails to insert and replays
    the stored response; if the first rolls back, the second does the work itself.
    """
    digest = request_hash(data)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    token=token, key=key, request_hash=digest, response_status=0, response_body={}
                )
        except IntegrityError:
            record = None
        if record is None:
            first = IdempotencyRecord.objects.get(token=token, key=key)
            if first.request_hash != digest:
                raise KeyReused()
            return Outcome(first.response_status, first.response_body, replayed=True)
        status, body = run()
        if status >= 400:
            # A refusal keeps nothing, the key included: the client corrects the body and sends
            # it again under the same key. (A refusal by the answers' checks was kept, and the
            # corrected body then a 409 "different body", where one by the outer checks was
            # not kept: a review found the two differ.)
            transaction.set_rollback(True)
            return Outcome(status, body, replayed=False)
        record.response_status = status
        record.response_body = body
        record.save(update_fields=["response_status", "response_body"])
    return Outcome(status, body, replayed=False)


def idempotency_purge(*, now: dt.datetime | None = None) -> int:
    """Forget keys older than IDEMPOTENCY_RETENTION_HOURS (docs/API.md: retry within a day)."""
    cutoff = (now or timezone.now()) - dt.timedelta(hours=settings.IDEMPOTENCY_RETENTION_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
