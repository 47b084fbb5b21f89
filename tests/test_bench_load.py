"""bench/load.py's statistics refresh between the endpoints that write and the list pages."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import psycopg
import pytest
from django.db import connection
from psycopg.conninfo import make_conninfo

from tests.helpers import ROOT


def _load_bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_load_bench_analyses_the_database_before_the_list_pages(monkeypatch):
    params = connection.get_connection_params()
    dsn = make_conninfo(
        **{k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = conn.execute(
            "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
        ).fetchone()
        autovacuum = conn.execute("SHOW autovacuum").fetchone()
    assert before is not None
    assert autovacuum is not None

    line = _load_bench(monkeypatch).refresh_statistics(dsn)

    assert line.startswith("statistics refreshed before the list pages (ANALYZE, ")
    assert line.endswith(f" s; this server's autovacuum: {autovacuum[0]})")
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables, analysed = conn.execute(
            "SELECT count(*), count(last_analyze) FROM pg_stat_user_tables"
        ).fetchone()  # type: ignore[misc]
    assert tables == analysed > before[0]
