"""Test helpers: Django in a child process with a chosen environment (settings load at import),
and the bench scripts imported as modules."""

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Variables the settings read; the child starts without any of them from our process.
SETTINGS_VARIABLES = {
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set for the browser tests; check --deploy rejects it
    "DJANGO_ENV",
    "BENCH_QUERY_COUNT",
    "BENCH_BASELINE",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "DATABASE_CONN_MAX_AGE",
    "DATABASE_PREPARED_STATEMENTS",
    "DATABASE_IDLE_TRANSACTION_TIMEOUT",
    "TIME_ZONE",
    "STATIC_ROOT",
    "MAIL_BACKEND",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_USE_TLS",
    "SMTP_USE_SSL",
    "DEFAULT_FROM_EMAIL",
    "SERVER_EMAIL",
    "TASKS_BACKEND",
    "TASK_RESULT_RETENTION_DAYS",
    "TASK_STALE_SECONDS",
    "SECURE_HSTS_SECONDS",
    "SESSION_IDLE_MINUTES",
    "LOG_LEVEL",
    "LOG_ROUTINE_TASKS",
    "TESTING",
    "CLINIC_NAME",
    "CLINIC_WORKING_DAYS",
    "CLINIC_OPENING_HOURS",
    "CLINIC_HOLIDAYS",
    "CLINIC_EMERGENCY_NUMBER",
    "CLINIC_URGENT_CARE_NUMBER",
    "DRAFT_TTL_DAYS",
    "LOGIN_FAILURE_LIMIT",
    "LOGIN_LOCKOUT_MINUTES",
    "STAFF_2FA_REQUIRED",
    "MAX_REQUEST_BYTES",
    "TRUSTED_PROXY_HOPS",
    "FORM_RATE_LIMIT",
    "API_RATE_LIMIT",
    "API_RATE_WINDOW_SECONDS",
    "API_MAX_REQUEST_BYTES",
    "WEBHOOK_MAX_ATTEMPTS",
    "WEBHOOK_RETRY_BASE_SECONDS",
    "WEBHOOK_TIMEOUT_SECONDS",
    "WEBHOOK_STALE_SECONDS",
    "ANNOUNCE_STALE_SECONDS",
    "WEBHOOK_RETENTION_DAYS",
    "IDEMPOTENCY_RETENTION_HOURS",
}

PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "a-long-random-production-key-6f1d0c9e8b7a5d4c3b2a19f8e7d6c5b4a3f2e1d0",
    "ALLOWED_HOSTS": "clinic.example.org",
    "SMTP_HOST": "smtp.example.org",
    "DEFAULT_FROM_EMAIL": "clinic@example.org",
    "DATABASE_URL": f"sqlite:///{ROOT / 'var' / 'db.sqlite3'}",
}


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in SETTINGS_VARIABLES}
    clean["DJANGO_SETTINGS_MODULE"] = "clinic.settings"
    clean.update(env)
    return clean


def run_python(
    code: str, env: Mapping[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_manage(
    *args: str, env: Mapping[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def load_bench_script(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``bench/<name>.py`` imported as a module (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # its dataclasses look themselves up
    spec.loader.exec_module(module)
    return module


def postgres_plan(sql: str, **settings: str) -> list[dict[str, Any]]:
    """PostgreSQL's plan for a statement, every node of it (``EXPLAIN (FORMAT JSON)``'s, each
    with its "Node Type", "Relation Name", "Index Name", conditions), under planner settings
    set for it alone (``enable_seqscan="off"``)."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        for name, value in settings.items():
            cursor.execute(f"SET LOCAL {name} = {value}")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        ((plan,),) = cursor.fetchall()
    nodes, out = [plan[0]["Plan"]], []
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("Plans", []))
        out.append(node)
    return out


def sqlite_plan(sql: str, params: Sequence[Any] = ()) -> list[str]:
    """SQLite's plan for a statement: the detail of each ``EXPLAIN QUERY PLAN`` step
    ("SEARCH t USING INDEX i (a=?)", "USE TEMP B-TREE FOR ORDER BY", ...)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return [row[-1] for row in cursor.fetchall()]


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Return once ``check()`` is true, asking every 0.1 s; AssertionError after ``timeout``
    seconds, naming ``what`` was waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def own_dsn() -> str:
    """A connection string to the test database, for a second connection of a test's own (a
    colleague holding a lock): Django's connection's parameters that psycopg takes."""
    from django.db import connection
    from psycopg.conninfo import make_conninfo

    params = connection.get_connection_params()
    wanted = {"dbname", "user", "password", "host", "port"}
    return make_conninfo(**{k: v for k, v in params.items() if k in wanted})


def lock_waiter_seen(conn: Any, seconds: float = 10) -> bool:
    """Whether another connection to ``conn``'s database comes to wait for a lock within
    ``seconds``, read from ``conn`` (PostgreSQL's pg_locks): the moment a race test changes
    what ``conn`` holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        # This database's waiters only: the server is shared with other runs.
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE NOT l.granted AND a.datname = current_database() "
            "AND l.pid <> pg_backend_pid()"
        ).fetchone()
        if row is not None and row[0]:
            return True
        time.sleep(0.02)
    return False
