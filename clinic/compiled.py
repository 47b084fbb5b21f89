"""A hot query compiled by the ORM once, then run with one parameter changed per call.

Compiling a statement through the ORM costs more CPU than running it when the statement is
small and runs on every request (the signed-in user, the API token). The query is built once
with a placeholder value that appears nowhere else among its parameters; its place there is the
value's on every later call. The statement is the ORM's own: the same SQL, the same columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.db.models.sql import Query


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
        """A fetched row through the selected fields' database converters, as the ORM converts
        the rows it reads (on ``connection``, this thread's, not the one compiled on)."""
        compiler = self.query.get_compiler(connection=connection)
        return next(compiler.apply_converters([row], compiler.get_converters(self.columns)))


def compiled(queryset: QuerySet[Any], placeholder: Any) -> CompiledQuery:
    """``queryset`` compiled for its database; ``placeholder`` must be exactly one of its
    parameters (ValueError otherwise)."""
    compiler = queryset.query.get_compiler(using=queryset.db)
    sql, params = compiler.as_sql()
    places = [index for index, value in enumerate(params) if value == placeholder]
    if len(places) != 1:
        raise ValueError(f"The placeholder is {len(places)} of the query's parameters, not one.")
    columns = [column for column, _sql, _alias in compiler.select]
    return CompiledQuery(queryset.query, sql, tuple(params), places[0], columns)
