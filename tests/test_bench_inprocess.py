"""bench/inprocess.py's clock of the database's CPU, beside the in-process timings."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.helpers import load_bench_script


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_the_database_clock_counts_the_cpu_the_connections_backend_used(monkeypatch):
    clock = load_bench_script("inprocess", monkeypatch).database_cpu()
    assert clock is not None  # the shared PostgreSQL runs on this machine
    before = clock()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM generate_series(1, 5000000)")
        assert cursor.fetchone() == (5_000_000,)
    assert clock() - before >= 0.05


@pytest.mark.django_db
def test_sqlite_has_no_database_clock(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    assert load_bench_script("inprocess", monkeypatch).database_cpu() is None


@pytest.mark.django_db
def test_timed_leaves_the_warm_up_out_and_has_no_database_clock_on_sqlite(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    sent = []

    took = load_bench_script("inprocess", monkeypatch).timed(lambda: sent.append(1), 4, 2)

    assert len(sent) == 6
    assert took.wall >= 0
    assert took.cpu >= 0
    assert took.database is None
    assert took.database_ms() == "     -"
