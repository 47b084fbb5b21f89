"""Numbers for the admin index: open work per queue and urgency, overdue, time to claim."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final

from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from intake.models import Urgency
from referrals.access import queues_for
from referrals.aggregates import Median
from referrals.links import KINDS, LINKED_KINDS
from referrals.models import OPEN_STATUSES, WAITS_SINCE, LinkDay, Queue, Referral, Status

# The light theme's; each bar also has a class by which the admin's style sheet colours it in
# the admin's theme (referrals/static/referrals/admin.css). No three colours can each keep 3:1
# against the other two and the page (WCAG 1.4.11), so a bar's parts are drawn apart, the page
# showing between them, and each needs its 3:1 against the page alone.
URGENCY_COLOURS = {"emergency": "#7f0000", "urgent": "#b07c00", "routine": "#6b7280"}
BAR_GAP = 2


@dataclass(frozen=True)
class QueueRow:
    queue: str
    label: str
    counts: dict[str, int]
    overdue: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())


LINK_COLUMNS = LINKED_KINDS
LINK_DAYS = 90
CLAIM_DAYS = 30


@dataclass(frozen=True)
class LinkRow:
    queue: str
    label: str
    counts: dict[str, int]

    @property
    def cells(self) -> list[tuple[str, int]]:
        return [(kind, self.counts[kind]) for kind in LINK_COLUMNS]


@dataclass(frozen=True)
class Dashboard:
    rows: list[QueueRow]
    median_minutes_to_claim: float | None
    claims_counted: int
    chart_svg: str
    link_rows: list[LinkRow] = field(default_factory=list)
    # The first day link_rows count, which their links to the queue name (?since=).
    link_since: dt.date | None = None

    @property
    def median_to_claim(self) -> str:
        """The median wait to claim as staff read a wait ("" for no claims)."""
        if self.median_minutes_to_claim is None:
            return ""
        return wait_text(self.median_minutes_to_claim)

    @property
    def link_columns(self) -> list[tuple[str, str, str]]:
        return [(kind, *KINDS[kind]) for kind in LINK_COLUMNS]

    @property
    def link_days(self) -> int:
        return LINK_DAYS


def in_window(field: str, since: dt.datetime) -> Q:
    """Referrals whose ``field`` (created_at or claimed_at) is ``since`` or later.

    Neither is indexed; updated_at is (referral_updated_id_idx), and a referral is never
    updated before it was created or claimed (the model's constraints). The same bound on
    updated_at leaves the rows as they are and lets the database read only the referrals
    touched since then: the cost follows the window's work, not the years before it (a
    scan of every referral otherwise, 14 and 37 ms at 50,000 cases on PostgreSQL)."""
    return Q(**{f"{field}__gte": since}, updated_at__gte=since)


def recent(field: str, since: dt.datetime, **filters: Any) -> QuerySet[Referral]:
    """The referrals ``in_window``, narrowed by ``filters``."""
    return Referral.objects.filter(in_window(field, since), **filters)


def linked_since(since: dt.datetime, **filters: Any) -> QuerySet[Referral]:
    """The cases of the foot-and-back columns referred ``since`` or later, narrowed by
    ``filters``: from referral_link_idx, by creation time, with what the counts read in its
    key (the kinds written into the SQL, the index's own condition, for SQLite to take it).

    A case is counted once in a queue, by the referral that brought it there: not the one
    made again from it after a mistaken close (same case, same queue; it counted twice), nor
    a referral entered in error (another patient's, a duplicate, a test). A rerouted case is
    counted in each queue it was sent to. docs/CLINICAL_DECISIONS.md (The dashboard)."""
    return Referral.objects.filter(
        counted_cases(),
        created_at__gte=since,
        link_kind__in_constants=LINK_COLUMNS,
        **filters,
    )


def counted_cases() -> Q:
    """The referrals the foot-and-back columns count (``linked_since``)."""
    return Q(referred_again_from__isnull=True) & ~Q(status=Status.ENTERED_IN_ERROR)


def day_start(day: dt.date) -> dt.datetime:
    """The clinic's midnight (the active time zone's) at the start of ``day``."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time()))


def dashboard_for(user: Any, *, now: dt.datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    queues = [q for q in Queue.values if q in queues_for(user)]
    # The open statuses written into the SQL (referrals.lookups), for SQLite to read the open
    # work by its partial index instead of every referral ever made.
    open_refs = Referral.objects.filter(
        queue__in_constants=queues, status__in_constants=OPEN_STATUSES
    )
    counts: dict[tuple[str, str], int] = {
        (row["queue"], row["urgency"]): row["n"]
        for row in open_refs.values("queue", "urgency").annotate(n=Count("id"))
    }
    overdue = {
        row["queue"]: row["n"]
        for row in open_refs.filter(due_at__lt=now).values("queue").annotate(n=Count("id"))
    }
    rows = [
        QueueRow(
            queue=q,
            label=str(Queue(q).label),
            counts={u: counts.get((q, u), 0) for u in Urgency.values},
            overdue=overdue.get(q, 0),
        )
        for q in queues
    ]
    claims = claim_waits(queues, since=now - dt.timedelta(days=CLAIM_DAYS))
    since = timezone.localdate(now) - dt.timedelta(days=LINK_DAYS)
    return Dashboard(
        rows,
        claims["median"].total_seconds() / 60 if claims["median"] is not None else None,
        claims["n"],
        bar_chart(rows),
        link_rows(queues, since=since, now=now),
        since,
    )


def claim_waits(queues: list[str], *, since: dt.datetime) -> dict[str, Any]:
    """How many cases of ``queues`` were claimed since ``since`` (``n``), and the median wait
    from when each case began to wait to its claim (``median``, a timedelta; None for none),
    in one statement that the database answers from referral_claimed_idx alone (PostgreSQL:
    an index-only scan of the window's claims). The waits were read into Python, at most
    50,000 of them in no order: at 1,000,000 cases a month's claims were past that cap, so the
    median was of an arbitrary 50,000 and the count said 50000, and reading them cost 150 ms
    of the page's CPU and 140 ms of PostgreSQL's (docs/SCALING.md).

    A case counts once per queue, at its first claim there: a referral made again after a
    mistaken close whose case was claimed before (``case_claimed_at``) is left out, and one
    whose case was not waits from when the case first waited (``waits_since``), as a
    rerouted one does (the queue's "Waiting" column). Counted per referral, a case claimed,
    declined by mistake and referred again was two claims, the second a few minutes' wait;
    never claimed before, it waited from the mistake. A referral entered in error is not a
    case. docs/CLINICAL_DECISIONS.md (The dashboard)."""
    return (
        Referral.objects.filter(
            claimed_at__gte=since, queue__in=queues, case_claimed_at__isnull=True
        )
        .exclude(status=Status.ENTERED_IN_ERROR)
        .order_by()
        .aggregate(n=Count("*"), median=Median(F("claimed_at") - WAITS_SINCE))
    )


def link_rows(
    queues: list[str], *, since: dt.date, now: dt.datetime | None = None
) -> list[LinkRow]:
    """Cases per queue since the start of the day ``since`` (90 days back) by how foot and back
    are linked.

    A case is a referral, counted by the link kind of the intake that opened it. The window
    starts at a midnight so that each count's link can name it as a day (the queue's
    ?since=, referrals.admin.SinceFilter) and the list holds the cases the number counts.

    Counting the whole window on each load read every referral of the 90 days with its intake
    (457 ms per admin index at 1,000,000 cases on PostgreSQL, growing with the clinic's
    volume). Closed days are counted once and kept (LinkDay, ``link_days``); only the rest,
    from the end of the last closed day, is counted on each load."""
    now = now or timezone.now()
    last = last_closed_day(now)
    counts: dict[str, int] = {}
    if since <= last:
        for day_counts in link_days(since, last).values():
            for key, n in day_counts.items():
                counts[key] = counts.get(key, 0) + n
    for row in (
        linked_since(day_start(max(since, last + dt.timedelta(days=1))), queue__in=queues)
        .values("queue", "link_kind")
        .annotate(n=Count("id"))
        .order_by()
    ):
        key = link_key(row["queue"], row["link_kind"])
        counts[key] = counts.get(key, 0) + row["n"]
    return [
        LinkRow(
            queue=q,
            label=str(Queue(q).label),
            counts={kind: counts.get(link_key(q, kind), 0) for kind in LINK_COLUMNS},
        )
        for q in queues
    ]


# A day is closed, and its counts kept, once its end is this long past: a submission's
# transaction stamps created_at when it writes the referral and commits a moment later, so a
# case of 23:59:59 may become visible after midnight; an hour is far beyond any such moment
# (and beyond the clock difference between the hosts).
LINK_DAY_SETTLED = dt.timedelta(hours=1)
# Taken shared by the filling of LinkDay and exclusive by link_days_forget, on PostgreSQL: see
# link_days_fill. (SQLite's IMMEDIATE transactions serialise the two already.)
LINK_DAY_LOCK = "referrals.link_day"


def link_key(queue: str, kind: str) -> str:
    return f"{queue}|{kind}"


def last_closed_day(now: dt.datetime) -> dt.date:
    """The clinic's last day that ended at least LINK_DAY_SETTLED before ``now``."""
    today = timezone.localdate(now)
    if day_start(today) + LINK_DAY_SETTLED <= now:
        return today - dt.timedelta(days=1)
    return today - dt.timedelta(days=2)


def link_days(first: dt.date, last: dt.date) -> dict[dt.date, dict[str, int]]:
    """The kept counts of each closed day from ``first`` to ``last`` in the active time zone,
    those not kept yet counted (``link_days_fill``) and kept."""
    zone = timezone.get_current_timezone_name()
    days = dict(
        LinkDay.objects.filter(time_zone=zone, day__gte=first, day__lte=last).values_list(
            "day", "counts"
        )
    )
    missing = [
        day
        for day in (first + dt.timedelta(days=n) for n in range((last - first).days + 1))
        if day not in days
    ]
    if missing:
        days.update(link_days_fill(missing, zone))
    return days


def link_days_fill(missing: list[dt.date], zone: str) -> dict[dt.date, dict[str, int]]:
    """Count the days ``missing`` (in order) in one statement over their span, and keep them.

    Days with no cases are kept too (as {}), so they are not counted again. Two loads filling
    the same days at once both succeed: the second one's rows are dropped as conflicts. A bulk
    write of past cases (link_days_forget) must not slip between this count and its rows: the
    rows would keep the count from before it. So both run in a transaction holding a lock
    (shared here, exclusive there); on SQLite the IMMEDIATE transaction is that lock."""
    first, last = missing[0], missing[-1]
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock_shared(hashtext(%s))", [LINK_DAY_LOCK])
        days: dict[dt.date, dict[str, int]] = {day: {} for day in missing}
        for row in (
            linked_since(day_start(first), created_at__lt=day_start(last + dt.timedelta(days=1)))
            .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
            .values("day", "queue", "link_kind")
            .annotate(n=Count("id"))
            .order_by()
        ):
            if row["day"] in days:  # a day between two missing ones is kept already
                days[row["day"]][link_key(row["queue"], row["link_kind"])] = row["n"]
        LinkDay.objects.bulk_create(
            [LinkDay(time_zone=zone, day=day, counts=counts) for day, counts in days.items()],
            ignore_conflicts=True,
        )
    return days


def link_days_forget(*, since: dt.datetime) -> None:
    """Drop the kept counts of every day, in any time zone, that may hold ``since`` or later:
    for a writer of referrals created in the past, in its transaction.

    Only the bulk writer (intake.bulk: generate_cases) creates referrals with a past created_at.
    Every other path stamps it now (auto_now_add: intake_submit, and through it the demo
    loader), in a day not closed yet. Nothing changes a counted referral's queue, created_at or
    link_kind (its intake's, copied) afterwards: a reroute closes the referral and opens another,
    erasure (intake.privacy) scrubs the answers and keeps link_kind, the admin shows them read
    only, and referrals are never deleted. A new writer of any of these calls this, as marking
    a referral entered in error does (referral_transition: it leaves the counts)."""
    # The earliest day holding ``since`` in any time zone (UTC-12 to UTC+14) is the UTC day
    # before its own.
    first = since.astimezone(dt.UTC).date() - dt.timedelta(days=1)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [LINK_DAY_LOCK])
    LinkDay.objects.filter(day__gte=first).delete()


# Kept days older than the window in every time zone (a day's zones span about two dates).
LINK_DAYS_KEPT = LINK_DAYS + 2


def link_days_purge(*, now: dt.datetime | None = None) -> int:
    """Drop the kept counts of the days no window reads any more (a scheduled purge): without
    it LinkDay grew by a row a day per time zone, for ever. Returns the rows dropped."""
    first = (now or timezone.now()).astimezone(dt.UTC).date() - dt.timedelta(days=LINK_DAYS_KEPT)
    deleted, _ = LinkDay.objects.filter(day__lt=first).delete()
    return deleted


def counted(n: int, unit: str) -> str:
    """``n`` of ``unit`` in words: "1 minute", "3 days", "2 referrals"."""
    return f"{n} {unit}{'' if n == 1 else 's'}"


def wait_text(minutes: float) -> str:
    """A wait in the largest units that read at a glance: "1 minute", "45 minutes",
    "3 h 20 min", "2 days 4 h" (a median of several days read "3080 minutes")."""
    whole = round(minutes)
    if whole < 1:
        return "under a minute"
    if whole < 60:
        return counted(whole, "minute")
    hours, mins = divmod(whole, 60)
    if hours < 24:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{counted(days, 'day')} {hours} h" if hours else counted(days, "day")


# The chart's visible heading and its SVG's accessible name, one text.
CHART_TITLE: Final = "Open referrals per queue, by urgency"


def bar_chart(rows: list[QueueRow]) -> str:
    """A stacked horizontal bar per queue, drawn on the server: no script, no CDN."""
    from django.utils.html import escape

    bar_h, gap, label_w, width = 22, 10, 190, 560
    top = max([r.total for r in rows] + [1])
    height = len(rows) * (bar_h + gap) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-labelledby="chart-title">'
        '<title id="chart-title">' + CHART_TITLE + "</title>"
    ]
    for i, row in enumerate(rows):
        y = i * (bar_h + gap)
        parts.append(
            f'<text x="0" y="{y + bar_h * 0.7:.0f}" font-size="13" fill="currentColor">'
            f"{escape(row.label)}</text>"
        )
        x = float(label_w)
        for urgency in Urgency.values:
            n = row.counts[urgency]
            if not n:
                continue
            w = (width - label_w - 40 - 2 * BAR_GAP) * n / top
            if x > label_w:
                x += BAR_GAP
            parts.append(
                f'<rect class="bar-{urgency}" x="{x:.1f}" y="{y}" width="{w:.1f}" '
                f'height="{bar_h}" fill="{URGENCY_COLOURS[urgency]}">'
                f"<title>{n} {urgency}</title></rect>"
            )
            x += w
        parts.append(
            f'<text x="{x + 4:.1f}" y="{y + bar_h * 0.7:.0f}" font-size="12" '
            f'fill="currentColor">{row.total}</text>'
        )
    legend_y = len(rows) * (bar_h + gap) + 14
    for j, urgency in enumerate(Urgency.values):
        lx = label_w + j * 110
        parts.append(
            f'<rect class="bar-{urgency}" x="{lx}" y="{legend_y - 10}" width="12" height="12" '
            f'fill="{URGENCY_COLOURS[urgency]}"/><text x="{lx + 16}" y="{legend_y}" '
            f'font-size="12" fill="currentColor">{urgency}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
