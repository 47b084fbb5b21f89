"""intake.rows: the converters write exactly what Django's own adapters would."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from intake.rows import _sqlite_datetime

ZONES = [dt.UTC, zoneinfo.ZoneInfo("Europe/London"), zoneinfo.ZoneInfo("America/New_York")]


@given(
    st.datetimes(
        min_value=dt.datetime(1900, 1, 2),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.sampled_from(ZONES),
    )
)
def test_sqlite_datetime_is_what_django_stores(value):
    if connection.vendor != "sqlite":
        return
    assert _sqlite_datetime(value) == connection.ops.adapt_datetimefield_value(value)


def test_sqlite_datetime_keeps_none():
    assert _sqlite_datetime(None) is None
