"""Secondary indexes a bulk load into empty tables builds once at the end, not row by row.

``generate_cases`` into a database with no intakes drops the named indexes of the tables it
fills (the models' ``Meta.indexes``: the queue orderings, the searches, the sparse links),
writes, then builds them again, inside its timed run: sorting each index once is cheaper
than keeping some twenty of them up to date through every insert, as SQLite's and
PostgreSQL's documentation advise for a bulk load ("Populating a Database": create the
indexes after loading). On SQLite the writer's CPU a case fell from about 170 µs to about
130, and building the indexes of 50,000 cases takes about 0.6 s.

Kept throughout: what the writer itself reads or relies on. The matching index (each batch
looks its keys up in it), the unique constraints (an open referral per patient and queue,
the references: a clash must still fail the insert) and the fields' own indexes (the foreign
keys the writer reads open referrals by).

A run that stops (an error, ``kill -9``) would leave the indexes missing: every run of the
command builds the missing ones first, and so does ``migrate`` once no migration is left to
apply (``restore_after_migrate``), as a deployment runs it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Index, Model

KEPT: frozenset[str] = frozenset(
    {
        # The writer reads it while loading: each batch's patients are matched through it.
        "patient_match_idx",
        # Partial indexes of rows the generator never makes (a staff member's case, a
        # clearance, a reroute, a referral made again, an intake not yet announced): empty
        # while loading, they cost nothing to keep and a scan of their table each to build
        # (10-30 ms at 50,000 cases, 0.15 s in all).
        "intake_flag_cleared_by_idx",
        "intake_created_by_idx",
        "intake_unannounced_idx",
        "referral_rerouted_from_idx",
        "referral_created_by_idx",
        "referral_again_from_idx",
        "referral_rerouted_into_idx",
    }
)


def deferrable() -> list[tuple[type[Model], Index]]:
    from intake.bulk import WRITTEN_MODELS

    return [
        (model, index)
        for model in WRITTEN_MODELS
        for index in model._meta.indexes
        if index.name not in KEPT
    ]


def missing(connection: BaseDatabaseWrapper) -> list[str]:
    """The deferrable indexes the database lacks, by name."""
    present: set[str] = set()
    with connection.cursor() as cursor:
        for model in {model for model, _index in deferrable()}:
            present.update(connection.introspection.get_constraints(cursor, model._meta.db_table))
    return [index.name for _model, index in deferrable() if index.name not in present]


def drop(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for _model, index in deferrable():
            cursor.execute(f"DROP INDEX IF EXISTS {connection.ops.quote_name(index.name)}")


def build_missing(connection: BaseDatabaseWrapper) -> list[str]:
    """Build the deferrable indexes the database lacks; their names.

    ``IF NOT EXISTS``: another run of the command may build the same index meanwhile. The SQL
    is Django's own for the index (``Index.create_sql``), without entering a schema editor,
    which SQLite refuses inside a transaction (a test's, or a caller's).
    """
    absent = set(missing(connection))
    editor = connection.schema_editor()
    built = []
    # One transaction: one commit, not one for each index.
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if absent and connection.vendor == "postgresql":
            # Inside a caller's transaction that wrote rows, PostgreSQL refuses to index a
            # table with foreign key checks still pending: run them now, as Django's own
            # schema editor does before altering a table.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED")
        for model, index in deferrable():
            if index.name not in absent:
                continue
            sql = str(index.create_sql(model, editor))
            prefix = "CREATE INDEX "
            if not sql.startswith(prefix):  # pragma: no cover - Django's own template
                raise ValueError(f"unexpected index SQL: {sql}")
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {sql.removeprefix(prefix)}")
            built.append(index.name)
    return built


@contextlib.contextmanager
def deferred(connection: BaseDatabaseWrapper, *, enabled: bool) -> Iterator[list[float]]:
    """Drop the deferrable indexes (when ``enabled``), and build them again on the way out,
    whether the body finished or failed; yields a list that then holds the seconds the build
    took."""
    timing: list[float] = []
    if not enabled:
        yield timing
        return
    drop(connection)
    try:
        yield timing
    finally:
        began = time.perf_counter()
        build_missing(connection)
        timing.append(time.perf_counter() - began)


def restore_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """``post_migrate``: build what a stopped load left missing, once the schema is the models'
    (after a migration back to an older state, the models' indexes may not apply)."""
    connection = connections[using]
    if not missing(connection):  # the usual case, and cheap: flush sends this signal too
        return
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return
    build_missing(connection)
