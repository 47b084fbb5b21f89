"""generate_cases into empty tables builds the secondary indexes once, after loading."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test.utils import CaptureQueriesContext

from intake import deferred_indexes
from intake.bulk import WRITTEN_MODELS
from intake.models import Intake

pytestmark = pytest.mark.django_db


def generate(count: int, **options: object) -> tuple[str, list[str]]:
    out = io.StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command("generate_cases", "--count", str(count), stdout=out, **options)
    return out.getvalue(), [query["sql"] for query in queries.captured_queries]


def dropped(statements: list[str]) -> set[str]:
    drops = [s for s in statements if s.startswith("DROP INDEX")]
    return {name for name in deferrable_names() if any(name in s for s in drops)}


def deferrable_names() -> set[str]:
    return {index.name for _model, index in deferred_indexes.deferrable()}


def test_the_deferred_indexes_are_the_written_tables_named_ones_but_those_kept():
    named = {index.name for model in WRITTEN_MODELS for index in model._meta.indexes}
    assert deferrable_names() == named - deferred_indexes.KEPT
    assert named >= deferred_indexes.KEPT  # no stale name
    assert "patient_match_idx" not in deferrable_names()  # the writer matches through it
    assert "referral_queue_order_idx" in deferrable_names()


def test_into_empty_tables_the_indexes_are_dropped_then_built_after_loading():
    out, statements = generate(150)
    assert dropped(statements) == deferrable_names()
    assert deferred_indexes.missing(connection) == []
    assert f"{len(deferrable_names())} secondary indexes were built after loading" in out
    built = [s for s in statements if s.startswith("CREATE INDEX IF NOT EXISTS")]
    assert len(built) == len(deferrable_names())
    # Built after the last row was written.
    last_insert = max(i for i, s in enumerate(statements) if s.startswith("INSERT"))
    assert statements.index(built[0]) > last_insert


def test_into_tables_holding_cases_the_indexes_are_kept():
    generate(50)
    out, statements = generate(50, seed=2)
    assert dropped(statements) == set()
    assert "built after loading" not in out
    assert Intake.objects.count() == 100


def test_a_run_that_fails_part_way_still_builds_the_indexes(monkeypatch):
    from intake.management.commands import generate_cases

    real = generate_cases.intake_write_plan
    written: list[int] = []

    def fail_second(plan, **kwargs):
        if written:
            raise RuntimeError("disk full")
        written.append(real(plan, **kwargs))
        return written[-1]

    monkeypatch.setattr(generate_cases, "intake_write_plan", fail_second)
    with pytest.raises(RuntimeError, match="disk full"):
        generate(100, batch=40, workers=0)
    assert Intake.objects.count() == 40
    assert deferred_indexes.missing(connection) == []


def test_a_run_builds_the_indexes_a_stopped_run_left_missing_first():
    generate(20)
    deferred_indexes.drop(connection)
    assert set(deferred_indexes.missing(connection)) == deferrable_names()
    out, _statements = generate(20, seed=3)
    assert f"Built {len(deferrable_names())} indexes a stopped run had left missing" in out
    assert deferred_indexes.missing(connection) == []


def test_migrate_builds_missing_indexes_once_no_migration_is_left_to_apply():
    deferred_indexes.drop(connection)
    call_command("migrate", verbosity=0)
    assert deferred_indexes.missing(connection) == []


def test_migrate_leaves_them_while_migrations_are_unapplied():
    # As after `migrate intake <earlier>`: the models' indexes may not fit that schema.
    deferred_indexes.drop(connection)
    MigrationRecorder.Migration.objects.filter(app="referrals").order_by("-id")[:1].get().delete()
    deferred_indexes.restore_after_migrate(sender=None, using="default")
    assert set(deferred_indexes.missing(connection)) == deferrable_names()


def test_the_built_indexes_are_the_models_own():
    """Django's SQL for each index: the database's definition matches a fresh migration's."""
    with connection.cursor() as cursor:
        before = {
            table: connection.introspection.get_constraints(cursor, table)
            for table in {model._meta.db_table for model, _index in deferred_indexes.deferrable()}
        }
    deferred_indexes.drop(connection)
    assert sorted(deferred_indexes.build_missing(connection)) == sorted(deferrable_names())
    with connection.cursor() as cursor:
        after = {table: connection.introspection.get_constraints(cursor, table) for table in before}
    assert after == before
