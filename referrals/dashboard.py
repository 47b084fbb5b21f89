"""Numbers for the admin index: open work per queue and urgency, overdue, time to claim."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from intake.models import Urgency
from referrals.access import queues_for
from referrals.aggregates import Median
from referrals.links import BACK_TO_FOOT, BOTH, FOOT_TO_BACK, KINDS, SEPARATE
from referrals.models import OPEN_STATUSES, Queue, Referral

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


LINK_COLUMNS = (BACK_TO_FOOT, FOOT_TO_BACK, BOTH, SEPARATE)
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
        link_rows(queues, since=since),
        since,
    )


def claim_waits(queues: list[str], *, since: dt.datetime) -> dict[str, Any]:
    """How many referrals of ``queues`` were claimed since ``since`` (``n``), and the median
    wait from referral to claim (``median``, a timedelta; None for none), in one statement
    that the database answers from referral_claimed_idx alone (PostgreSQL: an index-only
    scan of the window's claims). The waits were read into Python, at most 50,000 of them in
    no order: at 1,000,000 cases a month's claims were past that cap, so the median was of an
    arbitrary 50,000 and the count said 50000, and reading them cost 150 ms of the page's CPU
    and 140 ms of PostgreSQL's (docs/SCALING.md)."""
    return (
        Referral.objects.filter(claimed_at__gte=since, queue__in=queues)
        .order_by()
        .aggregate(n=Count("*"), median=Median(F("claimed_at") - F("created_at")))
    )


def link_rows(queues: list[str], *, since: dt.date) -> list[LinkRow]:
    """Cases per queue since the start of the day ``since`` (90 days back) by how foot and back
    are linked, in one query.

    A case is a referral, counted by the link kind of the intake that opened it. The window
    starts at a midnight so that each count's link can name it as a day (the queue's
    ?since=, referrals.admin.SinceFilter) and the list holds the cases the number counts."""
    counts: dict[tuple[str, str], int] = {
        (row["queue"], row["intake__link_kind"]): row["n"]
        for row in recent(
            "created_at",
            day_start(since),
            queue__in=queues,
            intake__link_kind__in=LINK_COLUMNS,
        )
        .values("queue", "intake__link_kind")
        .annotate(n=Count("id"))
        .order_by()
    }
    return [
        LinkRow(
            queue=q,
            label=str(Queue(q).label),
            counts={kind: counts.get((q, kind), 0) for kind in LINK_COLUMNS},
        )
        for q in queues
    ]


def bar_chart(rows: list[QueueRow]) -> str:
    """A stacked horizontal bar per queue, drawn on the server: no script, no CDN."""
    from django.utils.html import escape

    bar_h, gap, label_w, width = 22, 10, 190, 560
    top = max([r.total for r in rows] + [1])
    height = len(rows) * (bar_h + gap) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
        f'width="100%" aria-labelledby="chart-title">'
        '<title id="chart-title">Open referrals per queue, by urgency</title>'
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
