"""generate_cases into empty tables builds the secondary indexes once, after loading."""

from __future__ import annotations

import io

import psycopg
import pytest
from django.apps import apps as model_apps
from django.apps.registry import Apps
from django.core.management import call_command
from django.db import connection
from django.db.models import Index
from django.test.utils import CaptureQueriesContext

from intake import deferred_indexes
from intake.bulk import WRITTEN_MODELS, candidate_queries
from intake.models import Intake, Patient
from referrals.models import OPEN_STATUSES, Referral
from tests.conftest import on_postgresql
from tests.helpers import own_dsn, sqlite_plan

pytestmark = pytest.mark.django_db


def state() -> Apps:
    apps = deferred_indexes.migrated_apps(connection)
    assert apps is not None
    return apps


def generate(count: int, **options: object) -> tuple[str, list[str]]:
    out = io.StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command(
            "generate_cases", "--count", str(count), stdout=out, stderr=io.StringIO(), **options
        )
    return out.getvalue(), [query["sql"] for query in queries.captured_queries]


def deferrable_names() -> set[str]:
    return {index.name for _model, index in deferred_indexes.deferrable(state(), connection)}


def missing() -> set[str]:
    return set(deferred_indexes.missing(state(), connection))


def definitions() -> dict[str, str]:
    """Each deferrable index's definition as the database holds it (its condition included)."""
    names = sorted(deferrable_names())
    with connection.cursor() as cursor:
        if on_postgresql():
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)", [names]
            )
        else:
            marks = ", ".join(["%s"] * len(names))
            cursor.execute(f"SELECT name, sql FROM sqlite_master WHERE name IN ({marks})", names)  # noqa: S608 - placeholders only
        return dict(cursor.fetchall())


def test_the_deferred_indexes_are_the_written_tables_named_ones_but_those_kept():
    assert [(m._meta.app_label, m.__name__) for m in WRITTEN_MODELS] == list(
        deferred_indexes.WRITTEN
    )
    named = {index.name for model in WRITTEN_MODELS for index in model._meta.indexes}
    assert named >= deferred_indexes.KEPT  # no stale name
    assert deferrable_names() == named - deferred_indexes.KEPT
    assert len(deferrable_names()) == 13


@pytest.mark.skipif(on_postgresql(), reason="SQLite's planner; PostgreSQL's follows statistics")
def test_the_writers_reads_need_none_of_the_deferred_indexes():
    deferred_indexes.drop(state(), connection)
    keys = [("smith", Patient._meta.get_field("date_of_birth").to_python("1980-01-02"))] * 3
    for sql, params in candidate_queries(keys):
        assert not [step for step in sqlite_plan(sql, params) if step.startswith("SCAN p")]
    open_referrals = Referral.objects.filter(patient_id__in=[1, 2, 3], status__in=OPEN_STATUSES)
    sql, referral_params = open_referrals.query.sql_with_params()
    plan = sqlite_plan(sql, referral_params)
    assert not [step for step in plan if step.startswith("SCAN")], plan


def test_into_empty_tables_the_load_runs_without_them_and_builds_them_after(monkeypatch):
    from intake.management.commands import generate_cases

    before = definitions()
    real = generate_cases.intake_write_plan
    absent_while_writing: list[set[str]] = []

    def watched(plan, **kwargs):
        absent_while_writing.append(missing())
        return real(plan, **kwargs)

    monkeypatch.setattr(generate_cases, "intake_write_plan", watched)
    out, statements = generate(150, batch=50)
    assert absent_while_writing == [deferrable_names()] * 3
    assert missing() == set()
    assert definitions() == before  # Django's own SQL for each: the condition kept
    assert "13 secondary indexes were built after loading" in out
    assert len([s for s in statements if s.startswith("CREATE INDEX IF NOT EXISTS")]) == 13


def test_into_tables_holding_cases_the_indexes_are_kept():
    generate(50)
    out, statements = generate(50, seed=2)
    assert not [s for s in statements if s.startswith("DROP INDEX")]
    assert "built after loading" not in out
    assert Intake.objects.count() == 100


def test_a_run_that_fails_part_way_still_builds_the_indexes_and_raises_its_own_error(
    monkeypatch,
):
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
    assert missing() == set()


def test_a_run_builds_the_indexes_a_stopped_run_left_missing_first():
    generate(20)
    deferred_indexes.drop(state(), connection)
    assert missing() == deferrable_names()
    out, _statements = generate(20, seed=3)
    assert "Built 13 indexes a stopped run had left missing" in out
    assert missing() == set()


def test_migrate_builds_missing_indexes():
    deferred_indexes.drop(state(), connection)
    call_command("migrate", verbosity=0)
    assert missing() == set()


def test_migrate_builds_them_from_the_migrations_never_an_index_not_yet_in_one(monkeypatch):
    """An index added to a model before its migration is made is the migration's to create:
    built here, the migration would then fail ("already exists")."""
    deferred_indexes.drop(state(), connection)
    extra = Index(fields=["given_name_key"], name="patient_not_yet_migrated_idx")
    monkeypatch.setattr(Patient._meta, "indexes", [*Patient._meta.indexes, extra])
    call_command("migrate", verbosity=0)
    assert missing() == set()
    with connection.cursor() as cursor:
        present = connection.introspection.get_constraints(cursor, Patient._meta.db_table)
    assert extra.name not in present


def test_before_migrating_they_are_built_from_the_state_the_database_is_in():
    deferred_indexes.drop(state(), connection)
    deferred_indexes.restore_before_migrate(sender=None, using="default", apps=state())
    assert missing() == set()


def test_a_flush_leaves_them_to_migrate():
    """flush sends post_migrate with the models, not a migration state (and no plan)."""
    deferred_indexes.drop(state(), connection)
    deferred_indexes.restore_after_migrate(sender=None, using="default", apps=model_apps)
    assert missing() == deferrable_names()


@pytest.mark.postgres_only
def test_on_postgresql_a_load_holds_its_indexes_back_from_others(monkeypatch):
    """While a load's indexes are missing it holds the advisory lock: another run or a migrate
    leaves them to it instead of building them under it."""
    from intake.management.commands import generate_cases

    real = generate_cases.intake_write_plan
    held: list[bool] = []

    def watched(plan, **kwargs):
        with psycopg.connect(own_dsn(), autocommit=True) as other:
            row = other.execute("SELECT pg_try_advisory_lock(%s, %s)", deferred_indexes.LOCK_KEY)
            got = row.fetchone()
            held.append(not (got and got[0]))
        return real(plan, **kwargs)

    monkeypatch.setattr(generate_cases, "intake_write_plan", watched)
    generate(60, batch=30)
    assert held == [True, True]

    deferred_indexes.drop(state(), connection)
    with psycopg.connect(own_dsn(), autocommit=True) as loader:
        loader.execute("SELECT pg_advisory_lock(%s, %s)", deferred_indexes.LOCK_KEY)
        assert deferred_indexes.build_missing(state(), connection) == []
        assert missing() == deferrable_names()
    assert sorted(deferred_indexes.build_missing(state(), connection)) == sorted(deferrable_names())


def test_generate_cases_asks_for_migrate_while_migrations_are_unapplied():
    from django.core.management import CommandError
    from django.db.migrations.recorder import MigrationRecorder

    MigrationRecorder.Migration.objects.filter(app="referrals").order_by("-id")[:1].get().delete()
    with pytest.raises(CommandError, match=r"migrations to apply: run manage\.py migrate"):
        generate(10)
    assert not Intake.objects.exists()
