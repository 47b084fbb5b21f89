"""intake.rows: the converters write exactly what Django's own adapters would."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from intake.rows import DatetimeTexts, _sqlite_datetime

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


def test_remembered_datetime_texts_are_the_converted_ones():
    texts = DatetimeTexts()
    at = dt.datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=dt.UTC)
    london = at.astimezone(zoneinfo.ZoneInfo("Europe/London"))
    for value in (at, at, london, at + dt.timedelta(0), None, None):
        assert texts(value) == _sqlite_datetime(value)
    assert texts(at) is texts(at)
    assert len(texts.texts) == 3  # at, london, the equal copy of at; never None
    texts.forget()
    assert texts.texts == {}


def test_remembered_datetime_texts_stay_bounded(monkeypatch):
    monkeypatch.setattr(DatetimeTexts, "LIMIT", 3)
    texts = DatetimeTexts()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    values = [start + dt.timedelta(seconds=n) for n in range(10)]
    assert [texts(v) for v in values] == [_sqlite_datetime(v) for v in values]
    assert len(texts.texts) <= 3
