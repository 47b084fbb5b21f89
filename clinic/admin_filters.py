"""``month_filter(field)``: an admin list filter by calendar month, for lists that grow for years.

Django's date hierarchy lists the years present with ``SELECT DISTINCT`` over every row, a
cost that grows with the table. Here the months offered run from the earliest row's month (one
``MIN``, read from the field's index) to this one, newest first, and a month is a range on the
field: its index again. Months are the clinic's (the active time zone's).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.contrib import admin
from django.db.models import Min, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def _start(year: int, month: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime(year, month, 1))


def _next(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _month(value: str | None) -> tuple[int, int] | None:
    """A ``YYYY-MM`` value as (year, month), or None for anything else. The years at the ends
    of the calendar are refused: a month's range (its next month's start, and either moved to
    UTC) would fall outside what a datetime holds, an error where the list expects a value to
    ignore."""
    match = _MONTH.fullmatch(value or "")
    if match is None:
        return None
    year, month = int(match[1]), int(match[2])
    return (year, month) if dt.MINYEAR < year < dt.MAXYEAR else None


def month_filter(field: str, title: str = "month") -> type[admin.SimpleListFilter]:
    class MonthFilter(admin.SimpleListFilter):
        parameter_name = f"{field}_month"

        def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
            first = model_admin.get_queryset(request).aggregate(first=Min(field))["first"]
            if first is None:
                return []
            first = timezone.localtime(first)
            today = timezone.localdate()
            year, month = today.year, today.month
            months: list[tuple[str, str]] = []
            while (year, month) >= (first.year, first.month):
                label = date_format(dt.date(year, month, 1), "YEAR_MONTH_FORMAT")
                months.append((f"{year:04d}-{month:02d}", label))
                year, month = (year - 1, 12) if month == 1 else (year, month - 1)
            return months

        def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
            asked = _month(self.value())
            if asked is None:
                return queryset
            year, month = asked
            return queryset.filter(
                **{
                    f"{field}__gte": _start(year, month),
                    f"{field}__lt": _start(*_next(year, month)),
                }
            )

    MonthFilter.title = title
    MonthFilter.__name__ = f"MonthFilter_{field}"
    return MonthFilter
