"""The referral list's JSON by orjson: DRF's bytes, and DRF's own path for anything else."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer

from referrals.api import _iso
from referrals.renderers import PlainJSONRenderer
from tests.api.conftest import Api
from tests.clinic_fixtures import details, submit

# Plain JSON values without floats: what the list's rows are made of.
PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    # Every character, the line and paragraph separators DRF escapes among them.
    | st.text()
    | st.sampled_from(["\u2028", "a\u2029b", "café \u2013 ✓", "\U0001f9b6"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=25,
)


def both(data, media_type="application/json", context=None):
    return (
        PlainJSONRenderer().render(data, media_type, context),
        JSONRenderer().render(data, media_type, context),
    )


@given(PLAIN)
def test_plain_values_are_drfs_bytes(data):
    mine, drfs = both(data)
    assert mine == drfs


@pytest.mark.parametrize(
    "data",
    [
        # Not plain: each takes DRF's own path, with DRF's result.
        {"detail": ErrorDetail("Not found.", code="not_found")},
        {1: "a key that is not text"},
        {"big": 2**70},
        {"at": dt.datetime(2026, 12, 4, 9, 30, 0, 120000, tzinfo=dt.UTC)},
        {"id": uuid.UUID("12345678-1234-5678-1234-567812345678")},
        [("a", "tuple")],
        None,
    ],
)
def test_anything_else_is_drfs_own(data):
    mine, drfs = both(data)
    assert mine == drfs


def test_an_indent_asked_for_is_drfs_own():
    data = {"results": [{"a": 1}], "next": None}
    mine, drfs = both(data, "application/json; indent=4")
    assert mine == drfs
    assert b"\n    " in mine
    assert both(data, None, {"indent": 2})[0] == JSONRenderer().render(data, None, {"indent": 2})


ZONES = [
    dt.UTC,
    zoneinfo.ZoneInfo("Europe/London"),
    zoneinfo.ZoneInfo("America/St_Johns"),  # -3:30 / -2:30
    zoneinfo.ZoneInfo("Asia/Kathmandu"),  # +5:45
    zoneinfo.ZoneInfo("Africa/Monrovia"),  # -0:44:30 until 1972
]


@given(
    st.datetimes(
        min_value=dt.datetime(1850, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC),
    ),
    st.sampled_from(ZONES),
)
def test_iso_is_what_the_serializers_datetime_field_writes(value, zone):
    field = serializers.DateTimeField(default_timezone=zone)
    assert _iso(value, zone) == field.to_representation(value)


def test_iso_before_whole_minute_offsets_writes_the_seconds():
    value = dt.datetime(1960, 6, 1, 12, tzinfo=dt.UTC)
    monrovia = zoneinfo.ZoneInfo("Africa/Monrovia")
    assert _iso(value, monrovia) == "1960-06-01T11:15:30-00:44:30"
    assert _iso(None, monrovia) is None


def test_iso_in_a_fixed_zone_keeps_its_seconds():
    zone = dt.timezone(dt.timedelta(minutes=5, seconds=30))
    value = dt.datetime(2026, 12, 4, 9, tzinfo=dt.UTC)
    assert _iso(value, zone) == "2026-12-04T09:05:30+00:05:30"
    assert _iso(value, zone) == serializers.DateTimeField(default_timezone=zone).to_representation(
        value
    )


@pytest.mark.django_db
def test_a_list_page_is_drfs_bytes(api: Api):
    for index, case in enumerate(["V01", "V09", "V13", "V22"]):
        submit(
            case, patient=details(family_name=f"Sørensen\u2013{index}", phone=f"07700 90000{index}")
        )
    response = api.get("/api/v1/referrals", limit=3)
    assert response.status_code == 200
    assert response.content == JSONRenderer().render(response.json())
    assert response.json()["next"]
    assert response["Content-Type"] == "application/json"
