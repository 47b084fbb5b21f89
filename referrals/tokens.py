"""API tokens: created once, shown once, stored as a SHA-256 hash, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction
from django.utils import timezone

from clinic.compiled import CompiledQuery, compiled
from clinic.prepared import preparing
from referrals.access import API_TOKEN_ATTRIBUTE
from referrals.models import ApiToken, Queue, Scope

TOKEN_PREFIX: Final = "clk"  # noqa: S105 - a public marker, not a secret
PREFIX_BYTES: Final = 5
LAST_USED_EVERY: Final = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedToken:
    token: ApiToken
    raw: str  # shown to the administrator once, never stored


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _checked(values: Iterable[str], allowed: Iterable[str], what: str) -> list[str]:
    chosen = sorted(set(values))
    unknown = set(chosen) - set(allowed)
    if unknown:
        raise ValueError(f"Unknown {what}: {', '.join(sorted(unknown))}.")
    return chosen


def api_token_create(
    *, name: str, scopes: Iterable[str], queues: Iterable[str] = (), created_by: Any = None
) -> CreatedToken:
    """Make a token and the service user it acts as; return the only copy of the secret."""
    scope_list = _checked(scopes, Scope.values, "scopes")
    queue_list = _checked(queues, Queue.values, "queues")
    prefix = secrets.token_hex(PREFIX_BYTES)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        user = get_user_model().objects.create_user(
            username=f"api-{prefix}", first_name=name[:150], is_staff=False
        )
        user.set_unusable_password()
        user.save(update_fields=["password"])
        token = ApiToken.objects.create(
            name=name,
            prefix=prefix,
            token_hash=token_hash(raw),
            user=user,
            scopes=scope_list,
            queues=queue_list,
            created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        )
    return CreatedToken(token=token, raw=raw)


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def api_token_authenticate(raw: str, *, now: dt.datetime | None = None) -> ApiToken | None:
    """The live token for ``raw``, or None. Records the last use at most once a minute."""
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or len(parts[1]) > 16:
        return None
    token = _live_token(parts[1])
    if token is None or not hmac.compare_digest(token.token_hash, token_hash(raw)):
        return None
    if not token.user.is_active:
        return None
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    # The service user carries its token so that access.queues_for limits it to the token's queues.
    setattr(token.user, API_TOKEN_ATTRIBUTE, token)
    return token


# A prefix no token has (prefixes are URL-safe base64): its place among the compiled query's
# parameters is the prefix's.
_ANY_PREFIX: Final = "\x00any"


@dataclass(frozen=True)
class _Lookup:
    statement: CompiledQuery
    names: list[str]  # the selected fields: the token's concrete fields, then its user's
    token_fields: int


@cache
def _live_token_lookup(alias: str) -> _Lookup:
    """The ORM's own statement for the live token with its user, compiled once per database:
    compiling it for every request cost about 1 ms of CPU, five times the rest of the lookup.
    The prefix is unique, so the statement needs no ordering."""
    statement = compiled(
        ApiToken.objects.using(alias)
        .select_related("user")
        .filter(prefix=_ANY_PREFIX, revoked_at=None)
        .order_by(),
        _ANY_PREFIX,
    )
    names = [column.target.attname for column in statement.columns]
    token_names = [field.attname for field in ApiToken._meta.concrete_fields]
    user_names = [field.attname for field in get_user_model()._meta.concrete_fields]
    if names != token_names + user_names:  # pragma: no cover - a Django that selects otherwise
        raise ImproperlyConfigured("select_related('user') no longer selects token, then user.")
    return _Lookup(statement, names, len(token_names))


def _live_token(prefix: str) -> ApiToken | None:
    """``ApiToken.objects.select_related("user").get(prefix=prefix, revoked_at=None)``, or
    None: the same statement and the same instances (values through the fields' database
    converters, the user cached on the token and the token on the user), without compiling."""
    alias = ApiToken._default_manager.db
    lookup = _live_token_lookup(alias)
    connection = connections[alias]
    with preparing(alias), connection.cursor() as cursor:
        cursor.execute(lookup.statement.sql, lookup.statement.params_with(prefix))
        row = cursor.fetchone()
    if row is None:
        return None
    values = lookup.statement.converted(row, connection)
    split = lookup.token_fields
    token = ApiToken.from_db(alias, lookup.names[:split], values[:split])
    token.user = get_user_model().from_db(alias, lookup.names[split:], values[split:])
    return token


def token_of(user: Any) -> ApiToken | None:
    token = getattr(user, API_TOKEN_ATTRIBUTE, None)
    return token if isinstance(token, ApiToken) else None
