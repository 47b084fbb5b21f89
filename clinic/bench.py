"""Bench-only pieces, switched on by environment variables and never by default.

- ``BENCH_QUERY_COUNT=1`` puts ``QueryCountMiddleware`` first in the middleware: every response
  carries ``X-Query-Count``, the SQL statements the request ran on the default database.
- ``BENCH_BASELINE=1`` adds ``POST /bench/baseline``: the smallest useful write (validate a small
  JSON body, insert one row), the yardstick bench/load.py divides every endpoint's throughput by.

Both exist so ``bench/load.py`` can report ratios against a baseline from the same run.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from intake.models import RateCounter

QUERY_COUNT_HEADER = "X-Query-Count"


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        count = 0

        def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            nonlocal count
            count += 1
            return execute(sql, params, many, context)

        with connection.execute_wrapper(counted):
            response = self.get_response(request)
        response[QUERY_COUNT_HEADER] = str(count)
        return response


@csrf_exempt  # a bench endpoint for scripts; never routed unless BENCH_BASELINE=1
@require_POST
def baseline(request: HttpRequest) -> JsonResponse:
    """Validate ``{"name": str (1-50 chars), "value": int (0-1000)}`` and insert one row."""
    try:
        body = json.loads(request.body)
    except ValueError:
        return JsonResponse({"errors": {"non_field_errors": ["Not JSON."]}}, status=400)
    name, value = (body.get("name"), body.get("value")) if isinstance(body, dict) else (None, None)
    errors: dict[str, list[str]] = {}
    if not isinstance(name, str) or not 1 <= len(name) <= 50:
        errors["name"] = ["1 to 50 characters."]
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000:
        errors["value"] = ["A whole number from 0 to 1000."]
    if errors or not isinstance(value, int):
        return JsonResponse({"errors": errors}, status=400)
    row = RateCounter.objects.create(
        key=f"bench:{name}:{uuid.uuid4().hex}", window_ends_at=timezone.now(), count=value
    )
    return JsonResponse({"id": row.pk}, status=201)
