"""Fast bulk inserts for the bulk writer: ``executemany`` on SQLite, ``COPY`` on PostgreSQL.

``QuerySet.bulk_create`` compiles every value through the ORM (about 5 µs each); a generated case
writes a dozen rows and some 140 values, which caps it near 1,000 cases a second. Here each
column gets one converter chosen once per table (what Django's ``get_db_prep_save`` would do for
that field on this backend), rows are plain tuples, and primary keys are allocated up front in
one query so children can point at their parents before anything is inserted.

Rows bypass ``Model.save``/``pre_save``: ``auto_now`` fields and defaults must already be set on
the values passed in (the model instances built by the shared builders have their defaults).
"""

from __future__ import annotations

import datetime as dt
import json
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import orjson
from django.db import connection, models

Converter = Callable[[Any], Any]

_PLAIN = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "CharField",
        "EmailField",
        "ForeignKey",
        "IntegerField",
        "PositiveIntegerField",
        "PositiveSmallIntegerField",
        "SmallIntegerField",
        "TextField",
    }
)


def _sqlite_datetime(value: dt.datetime | None) -> str | None:
    """Django's SQLite adapter: naive UTC in ``str()`` form.

    ``str()`` of an aware UTC datetime is that form plus "+00:00"; slicing the offset off skips
    two new datetimes per value (a case writes about 25 datetimes).
    """
    if value is None:
        return None
    if value.tzinfo is not dt.UTC:
        value = value.astimezone(dt.UTC)
    return str(value)[:-6]


class DatetimeTexts:
    """``_sqlite_datetime`` that remembers the text of each datetime object it converted.

    A generated case's rows carry the same datetime object in several columns (the submission
    time is the intake's ``submitted_at``, ``created_at``, ``updated_at`` and
    ``messages_shown_at``, and its referrals', links' and events' times): about a quarter of
    the conversions are new objects. Keyed by ``id()`` with the object itself kept, so an id
    cannot be reused while remembered; a datetime is immutable, so its text cannot change.
    ``forget()`` after each batch (and at most ``LIMIT`` objects) bounds the memory.
    """

    LIMIT = 65_536

    def __init__(self) -> None:
        self.texts: dict[int, tuple[dt.datetime, str | None]] = {}

    def __call__(self, value: dt.datetime | None) -> str | None:
        # About a quarter of the calls are for an empty column (a referral not yet claimed,
        # closed or overdue): None is never remembered, so it would miss and convert every time.
        if value is None:
            return None
        hit = self.texts.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        text = _sqlite_datetime(value)
        if len(self.texts) >= self.LIMIT:
            self.texts.clear()
        self.texts[id(value)] = (value, text)
        return text

    def forget(self) -> None:
        self.texts.clear()


datetime_texts = DatetimeTexts()


# orjson for the plain JSON types only: anything else (a datetime, a Decimal, a subclass, a
# non-text key, an integer past 64 bits) raises and takes the field's own encoder instead.
_ORJSON_STRICT = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def _json_dumper(encoder: type[json.JSONEncoder] | None) -> Converter:
    """The JSON text of a value, equal once parsed to what ``JSONField`` stores
    (``json.dumps(value, cls=encoder)``).

    A generated case writes some 5 KB of JSON (answers, triage result, messages): the standard
    encoder spends about 80 µs a case on it, orjson about 7. The text differs only in spacing
    and in writing non-ASCII as UTF-8 rather than ``\\u`` escapes; the values are the same.
    Where the two would differ in value, a datetime, Decimal, subclass, non-text key or integer
    past 64 bits takes the field's own encoder. Two cases are left, and no builder makes either
    (answers are validated booleans, integers and text; triage results, messages and event
    data hold no floats, UUIDs or Enums): a non-finite float, which ``json.dumps`` writes as
    ``NaN`` (refused by SQLite's JSON_VALID check and by PostgreSQL's jsonb) and orjson as
    ``null``; a UUID or an Enum, which ``json.dumps`` without an encoder refuses and orjson
    writes as its text or value.
    """

    def dump(value: Any) -> str:
        # Most event rows carry an empty dict.
        if type(value) is dict and not value:
            return "{}"
        try:
            return orjson.dumps(value, option=_ORJSON_STRICT).decode()
        except TypeError:
            return json.dumps(value, cls=encoder)

    return dump


def _converter(field: models.Field[Any, Any]) -> Converter | None:
    kind = field.get_internal_type()
    sqlite = connection.vendor == "sqlite"
    if kind in _PLAIN:
        return None
    if kind == "DateTimeField":
        return datetime_texts if sqlite else None
    if kind == "DateField":
        return (lambda v: None if v is None else v.isoformat()) if sqlite else None
    if kind == "UUIDField":
        return (lambda v: None if v is None else v.hex) if sqlite else None
    if kind == "JSONField":
        return _json_dumper(getattr(field, "encoder", None))
    return lambda v: field.get_db_prep_save(v, connection=connection)


class Table:
    """The insert for one model and a fixed list of columns (attribute names)."""

    def __init__(self, model: type[models.Model], columns: Sequence[str]) -> None:
        by_attname = {field.attname: field for field in model._meta.concrete_fields}
        self.model = model
        self.db_table = model._meta.db_table
        self.columns = list(columns)
        # A tuple even for one column (itemgetter of one name returns the bare value).
        getter = operator.itemgetter(*self.columns)
        self.take: Callable[[dict[str, Any]], Sequence[Any]] = (
            getter if len(self.columns) > 1 else lambda d: (getter(d),)
        )
        fields = [by_attname[column] for column in self.columns]
        converters = [(index, _converter(field)) for index, field in enumerate(fields)]
        self.converters: list[tuple[int, Converter]] = [
            (index, convert) for index, convert in converters if convert is not None
        ]

    def row(self, values: Sequence[Any]) -> tuple[Any, ...]:
        if not self.converters:
            return tuple(values)
        out = list(values)
        for index, convert in self.converters:
            out[index] = convert(out[index])
        return tuple(out)

    def rows_from(self, objects: Iterable[models.Model]) -> list[Sequence[Any]]:
        # Straight from each instance's __dict__, where Model.__init__ (and unsaved) put every
        # concrete field: getattr would run the foreign keys' attribute descriptors in Python.
        # A deferred field (not in __dict__) is read through getattr, which loads it.
        columns, take, row = self.columns, self.take, self.row
        out: list[Sequence[Any]] = []
        for obj in objects:
            try:
                values = take(obj.__dict__)
            except KeyError:
                values = [getattr(obj, column) for column in columns]
            out.append(row(values))
        return out

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        quote = connection.ops.quote_name
        table = quote(self.db_table)
        names = ", ".join(quote(column_name(self.model, c)) for c in self.columns)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                raw = cursor.cursor
                with raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.columns))
                cursor.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 - names are quoted identifiers
                    rows,
                )

    def update(self, objects: Iterable[models.Model]) -> None:
        """Write this table's columns of stored ``objects`` by primary key, one ``executemany``:
        what ``QuerySet.bulk_update`` stores, without compiling a ``CASE`` per value.

        The table's last column must be the primary key (``WHERE``); the others are ``SET``.
        """
        rows = self.rows_from(objects)
        if not rows:
            return
        quote = connection.ops.quote_name
        *fields, key = (quote(column_name(self.model, c)) for c in self.columns)
        assignments = ", ".join(f"{name} = %s" for name in fields)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {quote(self.db_table)} SET {assignments} WHERE {key} = %s",  # noqa: S608 - quoted identifiers
                rows,
            )


def stored_values(model: type[models.Model], column: str, values: Sequence[Any]) -> list[Any]:
    """Which of ``values`` (text or numbers, as stored) ``column`` of ``model`` holds: one plain
    ``IN`` query per 4,000 (the ORM compiles each value of a lookup, some µs apiece)."""
    quote = connection.ops.quote_name
    name, table = quote(column_name(model, column)), quote(model._meta.db_table)
    found: list[Any] = []
    with connection.cursor() as cursor:
        for start in range(0, len(values), IN_ROWS):
            part = values[start : start + IN_ROWS]
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(f"SELECT {name} FROM {table} WHERE {name} IN ({marks})", part)  # noqa: S608 - quoted identifiers
            found.extend(row[0] for row in cursor.fetchall())
    return found


# Values per IN list: under SQLite's bound-parameter limit (32,766).
IN_ROWS = 4000


def column_name(model: type[models.Model], attname: str) -> str:
    for field in model._meta.concrete_fields:
        if field.attname == attname:
            return str(field.column)
    raise LookupError(attname)


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """``count`` fresh primary keys, reserved for this transaction's inserts."""
    if count == 0:
        return []
    table = model._meta.db_table
    pk = model._meta.pk
    assert pk is not None  # noqa: S101 - every model has a primary key
    pk_column = str(pk.column)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [connection.ops.quote_name(table), pk_column, count],
            )
            return sorted(row[0] for row in cursor.fetchall())
        # SQLite: the transaction holds the write lock from BEGIN IMMEDIATE (settings), so the
        # next ids cannot be taken by another writer; AUTOINCREMENT never reuses an id, hence
        # sqlite_sequence as well as MAX().
        quoted = connection.ops.quote_name(table)
        cursor.execute(
            f"SELECT MAX(COALESCE((SELECT MAX({connection.ops.quote_name(pk_column)}) "  # noqa: S608
            f"FROM {quoted}), 0), COALESCE((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
            [table],
        )
        start = int(cursor.fetchone()[0]) + 1
        return list(range(start, start + count))
