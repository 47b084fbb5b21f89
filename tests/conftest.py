"""Shared test set-up: database markers, the PostgreSQL pass guard, hypothesis profiles."""

import os
import re

import pytest
from django.conf import settings
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

pytest_plugins = ["tests.clinic_fixtures"]

# CI runs a smaller profile so the whole of .ci/run stays well inside its time budget;
# `make fuzz` (HYPOTHESIS_PROFILE=deep, the hypothesis tests alone) digs further.
hypothesis_settings.register_profile(
    "dev", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.register_profile("deep", max_examples=2000, deadline=None)
hypothesis_settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def on_postgresql() -> bool:
    return bool(settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-postgres-tests",
        action="store_true",
        help="Fail the run unless it uses PostgreSQL and at least one postgres_only test passed.",
    )


class PostgresGuard:
    """Turns a PostgreSQL pass in which no postgres_only test passed into a failure.

    Without it a pass that silently fell back to SQLite, or skipped every
    PostgreSQL test, would look green.
    """

    def __init__(self) -> None:
        self.passed = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed and "postgres_only" in report.keywords:
            self.passed += 1

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.passed:
            terminalreporter.write_line(
                f"PostgreSQL pass: {self.passed} postgres_only test(s) passed."
            )
        else:
            terminalreporter.write_line(
                "ERROR: --require-postgres-tests: no postgres_only test passed.", red=True
            )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.passed == 0 and exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fault: kills the database or the worker on a cluster of its own (make faults)"
    )
    config.addinivalue_line(
        "markers", "soak: concurrent load for a minute on a cluster of its own (make soak)"
    )
    if not config.getoption("--require-postgres-tests"):
        return
    if not on_postgresql():
        raise pytest.UsageError("--require-postgres-tests needs DATABASE_URL to name PostgreSQL.")
    config.pluginmanager.register(PostgresGuard(), "postgres-guard")


# Fault and soak tests start their own PostgreSQL cluster and servers and take minutes: they run
# only when the marker expression names them (`make faults`, `make soak`), never by default.
OPT_IN_MARKERS = ("fault", "soak")


def _deselect_opt_in(config: pytest.Config, items: list[pytest.Item]) -> None:
    expression = config.getoption("-m") or ""
    wanted = {m for m in OPT_IN_MARKERS if re.search(rf"(?<!not ){m}\b", expression)}
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        marked = {m for m in OPT_IN_MARKERS if item.get_closest_marker(m)}
        (drop if marked - wanted else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _deselect_opt_in(config, items)
    if on_postgresql():
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)
