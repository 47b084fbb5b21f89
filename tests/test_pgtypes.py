"""clinic.pgtypes: PostgreSQL timestamps read by fromisoformat give what Django's loader gives."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from django.db import DataError, connection
from django.db.backends.postgresql.psycopg_any import BaseTzLoader, register_tzloader
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.pq import Format

from clinic.pgtypes import UTCTimestamptzLoader, use_fast_timestamps
from referrals.models import Referral
from tests.clinic_fixtures import submit

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]

TIMESTAMPTZ = psycopg.postgres.types["timestamptz"].oid


def read(texts: list[str], *, djangos: bool) -> list[Any]:
    """Each text cast to timestamptz by the server and read back, by this connection's loader
    or by Django's own."""
    with connection.cursor() as cursor:
        if djangos:
            register_tzloader(connection.timezone, cursor.cursor)
        cursor.execute(
            "SELECT t::timestamptz FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n",
            [texts],
        )
        return [row[0] for row in cursor.fetchall()]


def test_a_new_connection_reads_timestamps_with_the_fast_loader():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(TIMESTAMPTZ, Format.TEXT)
    assert loader is UTCTimestamptzLoader
    # Django's cursors keep it: its zone is the connection's.
    with connection.cursor() as cursor:
        assert cursor.cursor.adapters.get_loader(TIMESTAMPTZ, Format.TEXT) is UTCTimestamptzLoader


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.datetimes(
            min_value=dt.datetime(1, 1, 2),
            max_value=dt.datetime(9999, 12, 30),
            timezones=st.sampled_from(
                [dt.UTC, zoneinfo.ZoneInfo("Europe/London"), zoneinfo.ZoneInfo("Asia/Kathmandu")]
            ),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_timestamps_read_as_djangos_loader_reads_them(values):
    texts = [value.isoformat() for value in values]
    fast, djangos = read(texts, djangos=False), read(texts, djangos=True)
    assert fast == djangos
    assert all(value.tzinfo is dt.UTC for value in fast)
    assert fast == [value.astimezone(dt.UTC) for value in values]


@pytest.mark.parametrize("text", ["infinity", "-infinity", "0044-03-15 12:00:00+00 BC"])
def test_what_python_cannot_hold_is_refused_as_before(text):
    with pytest.raises(DataError) as fast:
        read([text], djangos=False)
    with pytest.raises(DataError) as djangos:
        read([text], djangos=True)
    assert str(fast.value) == str(djangos.value)


def test_another_session_zone_is_read_by_djangos_loader():
    # Were the session's zone not UTC (Django sets it), the server would send other offsets:
    # those go to Django's loader, with its result (the connection is set back after).
    texts = ["2026-12-04 09:00:00+00", "2026-06-01 23:59:59.5+01"]
    with connection.cursor() as cursor:
        cursor.execute("SET TIME ZONE 'Asia/Kathmandu'")
    try:
        fast, djangos = read(texts, djangos=False), read(texts, djangos=True)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
    assert fast == djangos


def test_the_orm_reads_the_same_rows():
    submit("V01")
    columns = ("created_at", "updated_at", "due_at", "claimed_at", "closed_at")
    fast = list(Referral.objects.order_by("pk").values_list(*columns))
    register_tzloader(connection.timezone, connection.connection)
    try:
        djangos = list(Referral.objects.order_by("pk").values_list(*columns))
    finally:
        connection.connection.adapters.register_loader("timestamptz", UTCTimestamptzLoader)
    assert fast == djangos
    assert all(value is None or value.tzinfo is dt.UTC for row in fast for value in row)


def test_a_connection_in_another_zone_keeps_djangos_loaders():
    registered = []
    adapters = SimpleNamespace(register_loader=lambda *args: registered.append(args))
    for other in (
        SimpleNamespace(vendor="postgresql", timezone=zoneinfo.ZoneInfo("Europe/London")),
        SimpleNamespace(vendor="sqlite", timezone=dt.UTC),
    ):
        other.connection = SimpleNamespace(adapters=adapters)
        use_fast_timestamps(sender=None, connection=other)  # type: ignore[arg-type]
    assert registered == []


def test_iso_text_in_utc_never_reaches_djangos_loader(monkeypatch):
    def refuse(self, data):
        raise AssertionError(f"Django's loader was asked for {bytes(data)!r}")

    monkeypatch.setattr(BaseTzLoader, "load", refuse)
    assert read(["2026-12-04 09:00:00.000001+00", "1999-01-01 00:00:00+00"], djangos=False) == [
        dt.datetime(2026, 12, 4, 9, 0, 0, 1, tzinfo=dt.UTC),
        dt.datetime(1999, 1, 1, tzinfo=dt.UTC),
    ]
