"""The periodic housekeeping tasks' started/succeeded lines are left out of the log; their
failures and every other task's lines are kept (clinic.logfilters.RoutineTasksFilter)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from clinic.tasks import purge_rate_counters
from tests.clinic_fixtures import submit

pytestmark = pytest.mark.django_db


def task_lines(caplog: pytest.LogCaptureFixture, work: Callable[[], object]) -> list[str]:
    """The task lines ``work`` logs as the configured "django" handlers get them: the records
    that pass the "django.tasks" logger's filters (the tree does not propagate to the root)."""
    django_logger = logging.getLogger("django")
    django_logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="django"):
            work()
    finally:
        django_logger.removeHandler(caplog.handler)
    return [f"{r.levelname} {r.getMessage()}" for r in caplog.records if r.name == "django.tasks"]


def housekeeping_and_a_case() -> None:
    purge_rate_counters.enqueue()
    submit("V01")  # announce_intake: a case's own task


def test_a_periodic_tasks_started_and_succeeded_lines_are_left_out(caplog):
    lines = task_lines(caplog, housekeeping_and_a_case)
    assert not [line for line in lines if "purge_rate_counters" in line]
    assert "announce_intake state=RUNNING" in "\n".join(lines)
    assert "announce_intake state=SUCCESSFUL" in "\n".join(lines)


def test_a_periodic_tasks_failure_is_logged(caplog, monkeypatch):
    def fails() -> int:
        raise RuntimeError("the purge failed")

    monkeypatch.setattr("intake.ratelimit.rate_counters_purge", fails)
    lines = task_lines(caplog, purge_rate_counters.enqueue)
    assert [line for line in lines if "purge_rate_counters" in line] == [
        line for line in lines if line.startswith("ERROR") and "state=FAILED" in line
    ]
    assert len(lines) == 1


def test_log_routine_tasks_keeps_them(caplog, settings):
    settings.LOG_ROUTINE_TASKS = True
    lines = task_lines(caplog, housekeeping_and_a_case)
    assert len([line for line in lines if "purge_rate_counters" in line]) == 2
