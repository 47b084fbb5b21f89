"""intake.rows: the converters write exactly what Django's own adapters would."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import zoneinfo

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.db.models import TextChoices
from hypothesis import given
from hypothesis import strategies as st

from intake.rows import DatetimeTexts, _json_dumper, _sqlite_datetime

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


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_json_text_has_the_value_json_dumps_writes(value):
    assert json.loads(_json_dumper(None)(value)) == json.loads(json.dumps(value))


class Colour(TextChoices):
    RED = "red"


def test_json_values_orjson_would_write_differently_take_the_fields_encoder():
    dump = _json_dumper(DjangoJSONEncoder)
    at = dt.datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=dt.UTC)
    for value in (
        {"at": at},
        [decimal.Decimal("1.10")],
        {1: "one", None: "none"},
        {"big": 2**70},
        {"colour": Colour.RED},
    ):
        assert dump(value) == json.dumps(value, cls=DjangoJSONEncoder)


def test_json_empty_dict_and_non_ascii_text():
    dump = _json_dumper(None)
    assert dump({}) == "{}"
    assert json.loads(dump({"name": "Núñez"})) == {"name": "Núñez"}
