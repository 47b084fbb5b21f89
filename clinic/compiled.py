"""A hot query compiled by the ORM once, then run with its placeholders' values changed per call.

Compiling a statement through the ORM costs more CPU than running it when the statement is
small and runs on every request (the signed-in user, the API token), or when building it is
most of the work (the API list's keyset pages). The query is built once with a placeholder
value that appears nowhere else among its parameters; its places there are the value's on every
later call. The statement is the ORM's own: the same SQL, the same columns. ``compiled`` has one
placeholder; ``compiled_values`` (a ``values()`` query) has named ones, and checks them against
the same statement built with other stand-ins.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model, QuerySet
from django.db.models.fetch_modes import FETCH_ONE
from django.db.models.sql import Query
from django.db.transaction import TransactionManagementError


@dataclass(frozen=True)
class CompiledQuery:
    query: Query
    sql: str
    params: tuple[Any, ...]
    where: int  # the placeholder's position in params
    columns: list[Any]  # the selected columns, in the statement's order

    def params_with(self, value: Any) -> list[Any]:
        """The parameters with ``value`` in the placeholder's place."""
        return [*self.params[: self.where], value, *self.params[self.where + 1 :]]

    def converted(self, row: Any, connection: BaseDatabaseWrapper) -> list[Any]:
        """A fetched row through the selected fields' database converters."""
        return next(_converted(self.query, self.columns, [row], connection))


def compiled(queryset: QuerySet[Any], placeholder: Any) -> CompiledQuery:
    """``queryset`` compiled for its database; ``placeholder`` must be exactly one of its
    parameters (ValueError otherwise)."""
    sql, params, columns = _compile(queryset)
    places = [index for index, value in enumerate(params) if value == placeholder]
    if len(places) != 1:
        raise ValueError(f"The placeholder is {len(places)} of the query's parameters, not one.")
    return CompiledQuery(queryset.query, sql, tuple(params), places[0], columns)


def _compile(queryset: QuerySet[Any]) -> tuple[str, list[Any], list[Any]]:
    """The statement, its parameters and its selected columns, for the queryset's database."""
    compiler = queryset.query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    return sql, list(params), [column for column, _sql, _alias in compiler.select]


def _converted(
    query: Query, columns: list[Any], rows: Iterable[Any], connection: BaseDatabaseWrapper
) -> Iterator[list[Any]]:
    """Fetched rows through the selected fields' database converters, as the ORM converts the
    rows it reads (on ``connection``, this thread's, not the one compiled on)."""
    compiler = query.get_compiler(connection=connection)
    return compiler.apply_converters(rows, compiler.get_converters(columns))


@dataclass(frozen=True)
class CompiledValues:
    """A ``values()`` queryset compiled once, run with its named placeholders' values."""

    query: Query
    sql: str
    params: tuple[Any, ...]
    places: dict[str, tuple[int, ...]]  # each placeholder's positions among the parameters
    columns: list[Any]
    names: tuple[str, ...]  # the values() row's keys, in the statement's column order

    def params_for(self, **values: Any) -> list[Any]:
        """The parameters with ``values`` (each as ``db_value`` makes it) in the placeholders'
        places."""
        params = list(self.params)
        for name, value in values.items():
            for place in self.places[name]:
                params[place] = value
        return params

    def rows(self, connection: BaseDatabaseWrapper, **values: Any) -> list[dict[str, Any]]:
        """The rows ``values()`` would give with ``values`` in the placeholders' places."""
        return [
            dict(zip(self.names, row, strict=True))
            for row in self.converted_rows(connection, **values)
        ]

    def converted_rows(self, connection: BaseDatabaseWrapper, **values: Any) -> Iterator[list[Any]]:
        """The statement's rows with ``values`` in the placeholders' places, each through the
        selected fields' database converters, in the statement's column order."""
        with connection.cursor() as cursor:
            cursor.execute(self.sql, self.params_for(**values))
            fetched = cursor.fetchall()
        return _converted(self.query, self.columns, fetched, connection)


def db_value(field: Any, value: Any, connection: BaseDatabaseWrapper) -> Any:
    """``value`` as a lookup on ``field`` passes it to the database (a datetime as SQLite's
    text, a small integer as psycopg's Int2)."""
    return field.get_db_prep_value(field.get_prep_value(value), connection, prepared=True)


def compiled_values(
    queryset: QuerySet[Any],
    placeholders: dict[str, Any],
    again: tuple[QuerySet[Any], dict[str, Any]] | None = None,
) -> CompiledValues:
    """``queryset`` (a ``values()`` queryset) compiled for its database, with ``placeholders``
    (each as ``db_value`` makes it) found among its parameters.

    ``again`` is the same queryset built with other stand-ins: its statement must be this one
    with those in the placeholders' places. That catches a parameter that only happened to
    equal a stand-in (it would be overwritten on every call) and a statement whose SQL depends
    on the values. ValueError when a placeholder is missing, two share a parameter, or the
    check fails.
    """
    sql, params, columns = _compile(queryset)
    places = {
        name: tuple(i for i, param in enumerate(params) if _same(param, value))
        for name, value in placeholders.items()
    }
    if not all(places.values()):
        missing = [name for name, found in places.items() if not found]
        raise ValueError(f"Placeholders not among the query's parameters: {missing}.")
    taken = [place for found in places.values() for place in found]
    if len(taken) != len(set(taken)):
        raise ValueError("Two placeholders share a parameter.")
    query = queryset.query
    if not query.values_select:
        raise ValueError("Not a values() query.")
    # As ValuesIterable names a row's values.
    names = tuple(
        query.selected or (*query.extra_select, *query.values_select, *query.annotation_select)
    )
    if len(names) != len(columns):
        raise ValueError("The row's names and the statement's columns differ.")
    statement = CompiledValues(query, sql, tuple(params), places, columns, names)
    if again is not None:
        other, stand_ins = again
        expected = (sql, statement.params_for(**stand_ins))
        sql_again, params_again, _columns = _compile(other)
        if (sql_again, params_again) != expected:
            raise ValueError("The statement built with other stand-ins is not this one with them.")
    return statement


def _same(param: Any, value: Any) -> bool:
    return type(param) is type(value) and param == value


@contextmanager
def statements_sent(alias: str) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """The statements sent on ``alias`` inside the block, as (sql, params), caught on their
    way to the database (they run as usual)."""
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def catch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        sent.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)

    with connections[alias].execute_wrapper(catch):
        yield sent


@dataclass(frozen=True)
class CompiledInstances:
    """A model queryset compiled once (through ``values()`` of every concrete field), run with
    its named placeholders' values and read back as the model's instances, as the ORM makes
    them (``Model.from_db``)."""

    statement: CompiledValues
    model: type[Model]

    def instances(self, connection: BaseDatabaseWrapper, **values: Any) -> list[Any]:
        if (
            self.statement.query.select_for_update
            and connection.features.has_select_for_update
            and connection.features.supports_transactions
            and connection.get_autocommit()
        ):
            # Django checks this when it compiles; compiled once, it is checked here each run.
            raise TransactionManagementError(
                "select_for_update cannot be used outside of a transaction."
            )
        names = list(self.statement.names)
        rows = self.statement.converted_rows(connection, **values)
        return [self.model.from_db(connection.alias, names, row) for row in rows]


def compiled_instances(
    queryset: QuerySet[Any],
    placeholders: dict[str, Any],
    again: tuple[QuerySet[Any], dict[str, Any]],
) -> CompiledInstances:
    """``queryset``'s statement compiled for its database with ``placeholders`` (each as
    ``db_value`` makes it) among its parameters, checked against ``again`` as
    ``compiled_values`` checks it; ValueError as there, and for a queryset that reads other
    than every concrete field, in their order, with the default fetch mode."""
    fields = [field.attname for field in queryset.model._meta.concrete_fields]
    if getattr(queryset, "_fetch_mode", FETCH_ONE) is not FETCH_ONE:  # not in django-stubs
        raise ValueError("Only the default fetch mode: from_db is given no other.")
    other, stand_ins = again
    statement = compiled_values(
        queryset.values(*fields), placeholders, (other.values(*fields), stand_ins)
    )
    if statement.names != tuple(fields):  # from_db takes the values in this order
        raise ValueError("The statement does not read every concrete field in order.")
    return CompiledInstances(statement, queryset.model)
