"""The foot-and-back panel's closed days, counted once and kept (LinkDay): the same numbers as
counting the whole window, for fewer statements."""

from __future__ import annotations

import datetime as dt
import io
import random
import zoneinfo

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from intake.bulk import BulkSubmission, intake_submit_bulk
from referrals import dashboard
from referrals.dashboard import (
    LINK_COLUMNS,
    LINK_DAYS,
    day_start,
    last_closed_day,
    link_days_fill,
    link_rows,
    recent,
)
from referrals.models import LinkDay, Queue, Referral
from tests.clinic_fixtures import details, submit, worked_case

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")
# A week after the clocks went back (25 October 2026): the window holds a 25-hour day.
NOW = dt.datetime(2026, 11, 1, 14, 0, tzinfo=LONDON)
QUEUES = list(Queue.values)
# Worked cases with a foot-and-back link (and one without: V11, foot only).
CASES = ("V22", "V15", "V13", "V21", "V11")


def direct(queues: list[str], since: dt.date) -> dict[str, dict[str, int]]:
    """The panel's numbers as counted before LinkDay: one statement over the whole window."""
    counts = {
        (row["queue"], row["intake__link_kind"]): row["n"]
        for row in recent(
            "created_at", day_start(since), queue__in=queues, intake__link_kind__in=LINK_COLUMNS
        )
        .values("queue", "intake__link_kind")
        .annotate(n=Count("id"))
        .order_by()
    }
    return {q: {kind: counts.get((q, kind), 0) for kind in LINK_COLUMNS} for q in queues}


def panel(now: dt.datetime, queues: list[str] = QUEUES) -> dict[str, dict[str, int]]:
    since = timezone.localdate(now) - dt.timedelta(days=LINK_DAYS)
    return {row.queue: row.counts for row in link_rows(queues, since=since, now=now)}


def expected(now: dt.datetime, queues: list[str] = QUEUES) -> dict[str, dict[str, int]]:
    return direct(queues, timezone.localdate(now) - dt.timedelta(days=LINK_DAYS))


def case_at(n: int, created: dt.datetime, case: str = "V22") -> Referral:
    """A case submitted now, its referrals then moved to ``created`` (and touched later)."""
    submission = submit(case, patient=details(family_name=f"Case{n}", phone=f"07700 9{n:05d}"))
    Referral.objects.filter(intake=submission.intake).update(
        created_at=created, updated_at=created + dt.timedelta(hours=n % 50)
    )
    return submission.referrals[0]


def kept(zone: str = "Europe/London") -> dict[dt.date, dict[str, int]]:
    return dict(LinkDay.objects.filter(time_zone=zone).values_list("day", "counts"))


def test_kept_days_give_the_numbers_of_a_direct_count_over_random_cases_and_times():
    rng = random.Random(20261101)
    start = day_start(NOW.date() - dt.timedelta(days=LINK_DAYS + 3))
    span = (NOW + dt.timedelta(days=2) - start).total_seconds()
    times = [start + dt.timedelta(seconds=rng.uniform(0, span)) for _ in range(30)]
    # Each side of midnights, the window's first one and the one the clocks went back after.
    for day in (NOW.date() - dt.timedelta(days=LINK_DAYS), dt.date(2026, 10, 25), NOW.date()):
        times += [day_start(day), day_start(day) - dt.timedelta(microseconds=1)]
    for n, created in enumerate(times):
        case_at(n, created, CASES[n % len(CASES)])
    # Loads across three days: before and after each midnight's hour, kept days reused.
    for hours in (0, 9, 10, 10.5, 11, 11.01, 20, 33, 34, 35, 36, 58):
        now = NOW + dt.timedelta(hours=hours)
        assert panel(now) == expected(now), now
        assert panel(now, ["podiatry"]) == expected(now, ["podiatry"]), now
    assert sum(n for counts in kept().values() for n in counts.values()) > 10


def test_a_case_of_2359_is_counted_live_until_its_day_has_been_over_an_hour():
    """A submission stamped just before midnight may commit just after: its day is kept only
    an hour after it ended, and the case is counted whichever way it is read."""
    day = NOW.date() - dt.timedelta(days=3)
    midnight = day_start(day + dt.timedelta(days=1))
    before_the_hour = midnight + dt.timedelta(minutes=59)
    assert panel(before_the_hour) == expected(before_the_hour)
    assert day not in kept()
    # Committed after that load, stamped 23:59:59.
    case_at(1, midnight - dt.timedelta(seconds=1))
    assert panel(before_the_hour)["chiropractic"]["back_to_foot"] == 1
    assert day not in kept()
    on_the_hour = midnight + dt.timedelta(hours=1)
    assert panel(on_the_hour)["chiropractic"]["back_to_foot"] == 1
    # V22 is referred to chiropractic, podiatry and orthotic fitting.
    assert kept()[day] == {
        f"{queue}|back_to_foot": 1 for queue in ("chiropractic", "podiatry", "orthotic_fitting")
    }


def test_the_first_load_keeps_every_closed_day_even_without_cases():
    case_at(1, NOW - dt.timedelta(days=5))
    panel(NOW)
    days = kept()
    since = NOW.date() - dt.timedelta(days=LINK_DAYS)
    assert sorted(days) == [since + dt.timedelta(days=n) for n in range(LINK_DAYS)]
    assert days[NOW.date() - dt.timedelta(days=5)] == {
        f"{queue}|back_to_foot": 1 for queue in ("chiropractic", "podiatry", "orthotic_fitting")
    }
    assert sum(1 for counts in days.values() if counts == {}) == LINK_DAYS - 1


def test_a_later_load_reads_the_kept_days_and_counts_only_today(django_assert_num_queries):
    """Two statements (the kept days, today's cases), whatever the window holds; counting the
    window read all of its referrals (457 ms at 1,000,000 cases on PostgreSQL)."""
    for n in range(6):
        case_at(n, NOW - dt.timedelta(days=n * 11, hours=n))
    case_at(7, NOW - dt.timedelta(hours=2))
    first = panel(NOW)
    assert first == expected(NOW)
    with django_assert_num_queries(2):
        assert panel(NOW) == first
    # A case moved into a kept day behind the dashboard's back (no writer does this: see
    # link_days_forget) is not seen: the kept days are read, not the referrals.
    case_at(8, NOW - dt.timedelta(days=20))
    with django_assert_num_queries(2):
        assert panel(NOW) == first
    # An empty window too: nothing to count again.
    LinkDay.objects.all().delete()
    Referral.objects.all().update(created_at=NOW - dt.timedelta(days=400))
    assert panel(NOW) == expected(NOW)
    with django_assert_num_queries(2):
        panel(NOW)
    assert not any(n for counts in kept().values() for n in counts.values())


def test_a_day_kept_by_another_load_meanwhile_is_not_an_error(monkeypatch):
    """Two staff opening the admin index together both count the missing days and store them:
    the second one's rows are dropped as conflicts, and both see the same numbers."""
    case_at(1, NOW - dt.timedelta(days=2))
    case_at(2, NOW - dt.timedelta(days=40), "V15")

    def racing(missing: list[dt.date], zone: str) -> dict[dt.date, dict[str, int]]:
        link_days_fill(missing, zone)  # the other load, between our read and our insert
        return link_days_fill(missing, zone)

    monkeypatch.setattr(dashboard, "link_days_fill", racing)
    assert panel(NOW) == expected(NOW)
    assert LinkDay.objects.count() == LINK_DAYS
    monkeypatch.undo()
    # A day already kept amid missing ones: one statement over the span, the kept day kept.
    middle = NOW.date() - dt.timedelta(days=40)
    LinkDay.objects.exclude(day=middle).delete()
    LinkDay.objects.filter(day=middle).update(counts={"podiatry|both": 99})
    assert panel(NOW)["podiatry"]["both"] == 99
    assert LinkDay.objects.count() == LINK_DAYS


def test_another_time_zone_keeps_its_own_days():
    """The days are the clinic's: counted in another zone, their midnights differ."""
    # Around the clinic's last midnight: 02:00 is today in London, yesterday in New York.
    for n, hours in enumerate((-30, -22, -6, -2, 2, 10)):
        case_at(n, day_start(NOW.date()) + dt.timedelta(hours=hours))
    assert panel(NOW) == expected(NOW)
    with timezone.override("America/New_York"):
        assert panel(NOW) == expected(NOW)
        assert panel(NOW) == expected(NOW)
    with timezone.override("Pacific/Kiritimati"):  # UTC+14
        assert panel(NOW) == expected(NOW)
    assert len(kept()) == LINK_DAYS
    assert len(kept("America/New_York")) == LINK_DAYS
    assert kept() != kept("America/New_York")
    assert panel(NOW) == expected(NOW)


def test_a_bulk_write_of_past_cases_drops_the_kept_days_from_its_first_one():
    case_at(1, NOW - dt.timedelta(days=30))
    panel(NOW)
    written = NOW - dt.timedelta(days=10)
    intake_submit_bulk(
        submissions=[
            BulkSubmission(
                patient=details(family_name=f"Bulk{n}", phone=f"07700 8{n:05d}"),
                answers=worked_case(case),
                submitted_at=written + dt.timedelta(days=n),
            )
            for n, case in enumerate(("V22", "V15", "V13"))
        ],
        now=NOW,
    )
    # In any zone the first day of the write is at the earliest the UTC day before its own.
    first = written.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    assert max(kept()) == first - dt.timedelta(days=1)
    assert panel(NOW) == expected(NOW)
    assert panel(NOW)["chiropractic"]["back_to_foot"] == 2


def test_generate_cases_drops_the_kept_days_it_wrote_into():
    now = timezone.now()
    panel(now)
    # Every closed day of the window: yesterday is closed an hour after midnight only
    # (LINK_DAY_SETTLED), so in that hour one day fewer is kept.
    since = timezone.localdate(now) - dt.timedelta(days=LINK_DAYS)
    assert LinkDay.objects.count() == (last_closed_day(now) - since).days + 1
    call_command(
        "generate_cases", "--count", "30", "--years", "0.1", "--workers", "0", stdout=io.StringIO()
    )
    first = Referral.objects.order_by("created_at").values_list("created_at", flat=True)[0]
    assert not LinkDay.objects.filter(day__gte=timezone.localdate(first)).exists()
    now = timezone.now()
    assert panel(now) == expected(now)


def test_the_purge_drops_the_days_no_window_reads_and_keeps_the_rest():
    """LinkDay grew by a row a day per time zone for ever; the scheduled purge drops the days
    before the 90, in every zone, and the panel still reads the kept ones."""
    case_at(1, NOW - dt.timedelta(days=3))
    with timezone.override(LONDON):
        panel(NOW)
        window = kept()
    today = NOW.date()
    old = [today - dt.timedelta(days=n) for n in (LINK_DAYS + 3, LINK_DAYS + 40, 400)]
    # A zone behind UTC, its date a day earlier, may still read this one.
    edge = today - dt.timedelta(days=LINK_DAYS + 1)
    for zone in ("Europe/London", "Pacific/Kiritimati"):
        LinkDay.objects.bulk_create(
            [LinkDay(time_zone=zone, day=day, counts={}) for day in [*old, edge]],
            ignore_conflicts=True,
        )
    assert dashboard.link_days_purge(now=NOW) == 2 * len(old)
    assert not LinkDay.objects.filter(day__in=old).exists()
    assert LinkDay.objects.filter(day=edge).count() == 2
    with timezone.override(LONDON):
        assert {day: counts for day, counts in kept().items() if day != edge} == window
        assert panel(NOW) == expected(NOW)
