"""Keyset pagination over the queue order (-priority, due_at, id).

DRF's CursorPagination keys on the first ordering field only and walks ties by offset; with a
handful of priority values that is an OFFSET scan at depth and skips or repeats rows when
referrals change between pages. Here the cursor is the last row's full sort key, so each page is
one index range scan and rows moving elsewhere never shift the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Final

from django.core import signing
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import F, Q, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from clinic.compiled import CompiledValues, compiled_values, db_value
from clinic.memo import BoundedMemo
from clinic.prepared import preparing
from referrals.models import Referral

CURSOR_SALT: Final = "referrals.api.cursor"
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 200


def encode_cursor(row: Referral | Mapping[str, Any]) -> str:
    """The cursor after ``row``: a referral, or a ``values()`` row with priority, due_at, id."""
    if isinstance(row, Mapping):
        key = [row["priority"], row["due_at"].isoformat(), row["id"]]
    else:
        key = [row.priority, row.due_at.isoformat(), row.pk]
    return signing.dumps(key, salt=CURSOR_SALT)


def decode_cursor(cursor: str) -> tuple[int, dt.datetime, int]:
    try:
        priority, due, pk = signing.loads(cursor, salt=CURSOR_SALT)
        return int(priority), dt.datetime.fromisoformat(due), int(pk)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise ValidationError({"cursor": ["This cursor is not valid."]}) from exc


def after(queryset: QuerySet[Referral], cursor: str, limit: int) -> QuerySet[Referral]:
    """The first ``limit`` rows after the cursor, in queue order.

    The order mixes directions (-priority, then due_at and id ascending), so "after the cursor"
    is not one range of the (-priority, due_at, id) index but two: the rest of the cursor's
    priority, then every lower priority. Each part is one index range scan of the referral table
    alone that stops after ``limit`` rows, giving ids; the page's rows (and their joins) are
    then read for those ids only, so at most ``2 * limit`` rows are sorted whatever the
    planner estimates (bench/explain.py). ``queryset`` must not be a ``values()`` queryset
    reading other tables: their joins would stay in the id ranges (``keyset_page`` applies
    the columns after). An OR of the two ranges makes the planner walk the index from the top
    and filter, which grows with the depth of the page; a UNION of the two ranges as whole
    rows with their joins let PostgreSQL, when it underestimated a range (open referrals crowd
    the recent due times), join first and sort them all: 616 rows for a page of 50 in a
    1,000,000-case database.
    """
    priority, due, pk = decode_cursor(cursor)
    rest = TupleGreaterThan(Tuple(F("due_at"), F("id")), (due, pk))
    # due_at >= due is implied by the row comparison; it gives the planner a range it can
    # estimate (it guessed 11 rows for the row comparison alone where there were 627).
    same = queryset.filter(rest, priority=priority, due_at__gte=due)
    lower = queryset.filter(priority__lt=priority)
    if not connections[queryset.db].features.supports_slicing_ordering_in_compound:
        # SQLite cannot limit the parts of a UNION, but it can limit a subquery: the two
        # limited ranges as two id lists (an OR of the two conditions instead walked the index
        # from the top: 190 ms a page half-way down 1,000,000 cases).
        return queryset.filter(
            Q(pk__in=same.values("pk")[:limit]) | Q(pk__in=lower.values("pk")[:limit])
        )
    return queryset.filter(
        pk__in=same.values("pk")[:limit].union(lower.values("pk")[:limit], all=True)
    )


def keyset_page(
    queryset: QuerySet[Referral], cursor: str | None, limit: int, columns: tuple[str, ...] = ()
) -> QuerySet[Any]:
    """The first ``limit`` rows after ``cursor`` (from the top without one), in queue order, as
    ``values(*columns)`` rows when columns are given (else instances).

    The columns are applied after the id ranges of ``after``: a column of a related table
    joins that table, and with the joins in the ranges PostgreSQL without statistics joined
    every row of a range (3.2-3.7 s for a page half-way down 1,000,000 cases; 0.8 s without
    them, which generate_cases's ANALYZE removes; about 1 ms with statistics either way,
    planning and execution together about 0.6 ms shorter without the joins).
    """
    ordered = queryset.order_by("-priority", "due_at", "id")
    if cursor:
        ordered = after(ordered, cursor, limit)
    if columns:
        ordered = ordered.values(*columns)
    return ordered[:limit]


# Stand-ins for a cursor's sort key while a page statement is compiled: each must equal no
# other parameter of the statement (compiled_values checks that against the second set). A real
# cursor equal to them is harmless: values go in by position.
_STAND_INS: Final = (
    (32_001, dt.datetime(1901, 2, 3, 4, 5, 6, 789_012, tzinfo=dt.UTC), -424_242),
    (32_002, dt.datetime(1902, 3, 4, 5, 6, 7, 890_123, tzinfo=dt.UTC), -434_343),
)
STATEMENTS_KEPT: Final = 256
# What adds a page's computed columns to its queryset (the API list's red_flag_elsewhere).
Annotate = Callable[[QuerySet[Referral]], QuerySet[Referral]]
_STATEMENTS: BoundedMemo[tuple[Any, ...], CompiledValues] = BoundedMemo(STATEMENTS_KEPT)


def keyset_rows(
    queryset: QuerySet[Referral],
    key: tuple[Any, ...],
    cursor: str | None,
    limit: int,
    columns: tuple[str, ...],
    annotate: Annotate | None = None,
) -> list[dict[str, Any]]:
    """``list(keyset_page(annotate(queryset), cursor, limit, columns))``, compiled once per
    ``key`` (``annotate``, the rows' computed columns, is applied only then: resolving an
    annotation cost about as much as the column's reading).

    ``key`` must tell apart every queryset the caller passes (for the API's list,
    ``selectors.referral_list_key``). The ORM's statement for the page is compiled with a
    stand-in sort key, checked against the one built with another, kept (the
    ``STATEMENTS_KEPT`` most recently used per process), and run with the cursor's key in its
    place: building and compiling the two id ranges and the joins cost about as much CPU as
    reading and converting the page (about 2 ms of 5).
    """
    alias = queryset.db
    database = connections[alias]
    decoded = decode_cursor(cursor) if cursor else None

    def compile_page() -> CompiledValues:
        annotated = queryset if annotate is None else annotate(queryset)
        if decoded is None:
            return compiled_values(keyset_page(annotated, None, limit, columns), {})
        first, second = (
            (
                keyset_page(annotated, _signed(stand_in), limit, columns),
                _key_values(stand_in, database),
            )
            for stand_in in _STAND_INS
        )
        return compiled_values(*first, again=second)

    try:
        statement = _STATEMENTS.get((alias, key, decoded is not None, limit, columns), compile_page)
    except EmptyResultSet:  # no rows can match (no queues): the ORM reads nothing either
        return []
    # The first page's statement is the same on every request of a queue set: PostgreSQL
    # prepares it (clinic.prepared), which saves planning it (longer than running it). Not a
    # deep page's: a generic plan, made without the cursor, read 16 ms where the cursor's own
    # plan read 2.5 (bench/explain.py checks the first page's).
    with preparing(alias, when=decoded is None):
        return statement.rows(database, **(_key_values(decoded, database) if decoded else {}))


def _signed(key: tuple[int, dt.datetime, int]) -> str:
    return encode_cursor({"priority": key[0], "due_at": key[1], "id": key[2]})


def _key_values(key: tuple[int, dt.datetime, int], database: Any) -> dict[str, Any]:
    fields = Referral._meta
    priority, due, pk = key
    return {
        "priority": db_value(fields.get_field("priority"), priority, database),
        "due": db_value(fields.get_field("due_at"), due, database),
        "pk": db_value(fields.pk, pk, database),
    }


class KeysetPagination(BasePagination):
    """Keyset pages of ``view.list_columns`` rows (instances when the view has none); compiled
    once per ``view.statement_key`` when the view sets one (``keyset_rows``), with the columns
    ``view.list_annotate`` adds to the queryset, if it has one."""

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        self.request = request
        limit_text = request.query_params.get("limit")
        # ASCII digits only, as the schema says: int() also took " 5", "+5", "5_0" and other
        # scripts' digits (a review).
        if limit_text is None:
            limit = DEFAULT_LIMIT
        elif limit_text.isascii() and limit_text.isdigit():
            limit = int(limit_text)
        else:
            limit = 0
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError({"limit": [f"Use a whole number from 1 to {MAX_LIMIT}."]})
        cursor = request.query_params.get("cursor")
        columns = getattr(view, "list_columns", ())
        key = getattr(view, "statement_key", None)
        annotate: Annotate | None = getattr(view, "list_annotate", None)
        if key is not None and columns:
            rows: list[Any] = keyset_rows(queryset, key, cursor, limit + 1, columns, annotate)
        else:
            annotated = queryset if annotate is None else annotate(queryset)
            rows = list(keyset_page(annotated, cursor, limit + 1, columns))
        self.next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return rows[:limit]

    def get_paginated_response(self, data: Any) -> Response:
        next_url = None
        if self.next_cursor is not None:
            next_url = replace_query_param(
                self.request.build_absolute_uri(), "cursor", self.next_cursor
            )
        return Response({"next": next_url, "results": data})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["next", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "format": "uri",
                    "nullable": True,
                    "description": "The next page, or null on the last page.",
                },
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "cursor",
                "in": "query",
                "required": False,
                "description": "Opaque; copy it from `next`.",
                "schema": {"type": "string"},
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Page size, 1 to {MAX_LIMIT} (default {DEFAULT_LIMIT}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            },
        ]
