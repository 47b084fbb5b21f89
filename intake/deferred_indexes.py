"""Secondary indexes a bulk load into empty tables builds once at the end, not row by row.

``generate_cases`` into a database with no intakes drops thirteen named indexes of the tables it
fills (the queue orderings, the searches, the events' order), writes, then builds them again
inside its timed run: sorting each index once is cheaper than keeping it up to date through
every insert, as SQLite's and PostgreSQL's documentation advise for a bulk load ("Populating a
Database": create the indexes after loading). At 50,000 cases on SQLite the writer's CPU fell
from about 170 µs a case to about 143 (the build, about 0.7 s, included).

Kept throughout (``KEPT``): what the writer reads or relies on while loading, and what costs
nothing to keep. The matching index (each batch looks its keys up in it), the unique
constraints (a clash must still fail the insert), the fields' own indexes (the open referrals
are read by patient), and the partial indexes of rows the generator never makes.

The indexes are read from the migrations' state, never the models: an index added to a model
and not yet in a migration is the migration's to create (building it here would make that
migration fail). A run that stops builds what it dropped on its way out; one killed outright
leaves them missing, and the next run of the command builds them first, as does ``migrate``
(before applying anything, from the state the database is in, and after).

On PostgreSQL a load holds an advisory lock while its indexes are missing; a second run, or a
``migrate``, leaves them to it rather than building them under it. SQLite has no such lock: there
a second run or a ``migrate`` during a load builds them at once (correct, only slower).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.apps.registry import Apps
from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Index, Model

logger = logging.getLogger(__name__)

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
# The tables the bulk writer fills (intake.bulk.WRITTEN_MODELS), as app label and model name.
WRITTEN: tuple[tuple[str, str], ...] = (
    ("intake", "Patient"),
    ("intake", "Intake"),
    ("referrals", "Referral"),
    ("referrals", "ReferralIntake"),
    ("referrals", "ReferralEvent"),
)
# PostgreSQL advisory lock key (two int4): "generate_cases' indexes".
LOCK_KEY = (0x6763, 0x1D8)


def deferrable(apps: Apps, connection: BaseDatabaseWrapper) -> list[tuple[type[Model], Index]]:
    """The deferred indexes in the state ``apps`` (a migration state, or the models'), for the
    tables of this database that exist."""
    tables = set(connection.introspection.table_names())
    found: list[tuple[type[Model], Index]] = []
    for app_label, name in WRITTEN:
        try:
            model = apps.get_model(app_label, name)
        except LookupError:  # a state before the model's first migration
            continue
        if model._meta.db_table not in tables:
            continue
        if not router.allow_migrate_model(connection.alias, model):
            continue
        found.extend((model, index) for index in model._meta.indexes if index.name not in KEPT)
    return found


def migrated_apps(connection: BaseDatabaseWrapper) -> Apps | None:
    """The migrations' state when the database has every migration applied; else None."""
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return None
    return executor.loader.project_state().apps


def _absent(apps: Apps, connection: BaseDatabaseWrapper) -> list[tuple[type[Model], Index]]:
    """The deferrable indexes of ``apps`` the database lacks."""
    indexes = deferrable(apps, connection)
    present: set[str] = set()
    with connection.cursor() as cursor:
        for table in {model._meta.db_table for model, _index in indexes}:
            present.update(connection.introspection.get_constraints(cursor, table))
    return [(model, index) for model, index in indexes if index.name not in present]


def missing(apps: Apps, connection: BaseDatabaseWrapper) -> list[str]:
    """The deferrable indexes of ``apps`` the database lacks, by name."""
    return [index.name for _model, index in _absent(apps, connection)]


def drop(apps: Apps, connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for _model, index in deferrable(apps, connection):
            cursor.execute(f"DROP INDEX IF EXISTS {connection.ops.quote_name(index.name)}")


@contextlib.contextmanager
def _try_lock(connection: BaseDatabaseWrapper) -> Iterator[bool]:
    """Whether no load holds its indexes back: PostgreSQL's advisory lock taken if free, for the
    block (always True on SQLite, which has none)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", LOCK_KEY)
        row = cursor.fetchone()
    held = bool(row and row[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", LOCK_KEY)


@contextlib.contextmanager
def _load_lock(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """A load's hold on its indexes, on PostgreSQL: the advisory lock, waited for, on a
    connection of its own (the command closes its connections before forking its workers,
    which would let a session lock go)."""
    if connection.vendor != "postgresql":
        yield
        return
    own = connections.create_connection(connection.alias)
    try:
        with own.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", LOCK_KEY)
        yield
    finally:
        own.close()  # the lock goes with the session


def _build(apps: Apps, connection: BaseDatabaseWrapper) -> list[str]:
    """Build the deferrable indexes of ``apps`` the database lacks; their names.

    Each in its own statement, committed on its own outside a caller's transaction: the tables'
    locks are held one index at a time, and an index built stays built. ``IF NOT EXISTS``
    besides the lock: SQLite's other writers build the same index meanwhile. The SQL is
    Django's own for the index (``Index.create_sql``), without entering a schema editor, which
    SQLite refuses inside a transaction (a test's, or a caller's).
    """
    absent = _absent(apps, connection)
    if not absent:
        return []
    editor = connection.schema_editor()
    built = []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and connection.in_atomic_block:
            # Inside a caller's transaction that wrote rows, PostgreSQL refuses to index a
            # table with foreign key checks still pending: run them now, as Django's own
            # schema editor does before altering a table.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; SET CONSTRAINTS ALL DEFERRED")
        for model, index in absent:
            sql = str(index.create_sql(model, editor))
            prefix = "CREATE INDEX "
            if not sql.startswith(prefix):
                raise ValueError(f"unexpected index SQL: {sql}")
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {sql.removeprefix(prefix)}")
            built.append(index.name)
    return built


def build_missing(apps: Apps, connection: BaseDatabaseWrapper) -> list[str]:
    """Build the deferrable indexes of ``apps`` the database lacks, unless a load on PostgreSQL
    holds them back (then none); their names."""
    with _try_lock(connection) as held:
        if not held:
            return []
        return _build(apps, connection)


@contextlib.contextmanager
def deferred(
    apps: Apps,
    connection: BaseDatabaseWrapper,
    *,
    enabled: bool,
    announce: Callable[[str], None] = lambda _text: None,
) -> Iterator[list[float]]:
    """Drop the deferrable indexes (when ``enabled``), and build them again on the way out,
    whether the body finished or failed; yields a list that then holds the seconds the build
    took. A failure of the build after the body's own failure is logged, and the body's error
    is the one raised."""
    timing: list[float] = []
    if not enabled:
        yield timing
        return
    count = len(deferrable(apps, connection))
    with _load_lock(connection):
        failed = False
        try:
            drop(apps, connection)
            yield timing
        except BaseException:
            failed = True
            raise
        finally:
            announce(f"Building the {count} indexes deferred while loading ...")
            began = time.perf_counter()
            try:
                _build(apps, connection)
            except Exception:
                if not failed:
                    raise
                logger.exception("the indexes deferred while loading were not built")
            timing.append(time.perf_counter() - began)


def _restore(apps: Any, using: str) -> None:
    built = build_missing(apps, connections[using])
    if built:
        logger.warning("built %d indexes a stopped data load had left missing", len(built))


def restore_before_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """``pre_migrate``: build what a stopped load left missing, from the state the database is
    in (a pending migration may remove or rename one of them)."""
    _restore(kwargs["apps"], using)


def restore_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """``post_migrate``: the same, from the state migrate left. Not after ``flush``, which
    sends it with the models rather than a migration state (its ``plan`` is None)."""
    if kwargs.get("plan") is None:
        return
    _restore(kwargs["apps"], using)
