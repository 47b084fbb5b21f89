import datetime as dt

import pytest

from intake.models import RateCounter
from intake.ratelimit import rate_counters_purge, rate_limit_hit

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 23, 10, 0, 5, tzinfo=dt.UTC)


def hit(now=T0, ident="203.0.113.9"):
    return rate_limit_hit(scope="form", ident=ident, limit=3, window_seconds=60, now=now)


def test_requests_within_the_limit_pass_and_the_next_is_refused_until_the_window_ends():
    assert [hit().allowed for _ in range(4)] == [True, True, True, False]
    refused = hit()
    assert refused.retry_after == 55
    assert hit(now=T0 + dt.timedelta(seconds=60)).allowed


def test_each_address_has_its_own_count():
    for _ in range(3):
        hit(ident="a")
    assert not hit(ident="a").allowed
    assert hit(ident="b").allowed


def test_ended_windows_are_purged():
    hit()
    hit(now=T0 + dt.timedelta(minutes=5))
    assert rate_counters_purge(now=T0 + dt.timedelta(minutes=2)) == 1
    assert RateCounter.objects.count() == 1
