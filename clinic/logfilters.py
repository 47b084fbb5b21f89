"""Logging filters: no secret or patient detail reaches a log line (docs/SECURITY.md).

Django's request logger writes the path of every 4xx/5xx ("Not Found: /resume/<token>/"). A
resume token opens a patient's saved form, so it is masked wherever it appears in a record.
So are email addresses, in the message and in an exception's text (a mail server refusing a
patient's address names it: a review found it in the task worker's log).
"""

from __future__ import annotations

import logging
import re
from typing import Any, Final

RESUME_TOKEN: Final = re.compile(r"(/resume/)[^/\s?#\"']+")
MASK: Final = r"\1[masked]"
# Bounded parts (an address's own limits): linear in the text, where unbounded ones were
# quadratic on a long run of letters (a review timed 2.9 s for a 32,000-character path).
EMAIL: Final = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63}){1,8}")


def mask(text: str) -> str:
    return EMAIL.sub("[email]", RESUME_TOKEN.sub(MASK, text))


def _masked(value: Any) -> Any:
    return mask(value) if isinstance(value, str) else value


class MaskSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _masked(value) for key, value in record.args.items()}
        if record.exc_info and not record.exc_text:
            # The text every Formatter then prints as it is (it formats an exception once).
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "path"):
            # Handlers that print the request (AdminEmailHandler) see the masked path only.
            record.request = _MaskedRequest(request)
        return True


class _MaskedRequest:
    """Read-through view of a request whose path and full path are masked."""

    def __init__(self, request: Any) -> None:
        self._request = request

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._request, name)
        if name in ("path", "path_info"):
            return mask(value)
        if name == "get_full_path":
            return lambda *a, **k: mask(value(*a, **k))
        return value


class RoutineTasksFilter(logging.Filter):
    """Drops the "started" and "succeeded" lines of the periodic housekeeping tasks
    (settings.PERIODIC_TASKS) that Django's task signals write at INFO: the scheduler enqueues
    nine of them a minute, two lines each, about 26,000 lines a day in which an operator
    looked for the cases' own tasks (found by the operator's review). Their failures (ERROR)
    and every other task's lines are kept; LOG_ROUTINE_TASKS=true keeps them all."""

    def filter(self, record: logging.LogRecord) -> bool:
        from django.conf import settings

        if record.levelno >= logging.WARNING or settings.LOG_ROUTINE_TASKS:
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        # "Task id=%s path=%s state=%s" (django.tasks.signals).
        return not (
            len(args) == 3
            and record.msg == "Task id=%s path=%s state=%s"
            and args[1] in settings.PERIODIC_TASKS
        )
