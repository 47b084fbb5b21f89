"""The admin index's foot-and-back panel: cases per queue by link kind, last 90 days."""

from __future__ import annotations

import datetime as dt
import html
import itertools
import random
import re
import statistics
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from referrals.dashboard import claim_waits, dashboard_for
from referrals.models import Referral
from tests.clinic_fixtures import details, submit
from tests.conftest import on_postgresql
from tests.helpers import postgres_plan, sqlite_plan

pytestmark = pytest.mark.django_db


def person(i: int):
    return details(family_name=f"Case{chr(65 + i)}", phone=f"07700 92{i:04d}")


def panel(user) -> dict[str, dict[str, int]]:
    return {row.queue: row.counts for row in dashboard_for(user).link_rows}


def test_the_panel_counts_each_queues_cases_by_link_kind(triage_lead):
    submit("V22", patient=person(0))  # back -> foot: chiropractic
    submit("V22", patient=person(1))
    submit("V15", patient=person(2))  # foot -> back
    submit("V13", patient=person(3))  # separate
    submit("V11", patient=person(4))  # foot only: not a column
    counts = panel(triage_lead)
    expected: dict[str, dict[str, int]] = {}
    for referral in Referral.objects.select_related("intake"):
        kind = referral.intake.link_kind
        if kind in ("back_to_foot", "foot_to_back", "both", "separate"):
            row = expected.setdefault(referral.queue, {})
            row[kind] = row.get(kind, 0) + 1
    assert expected["chiropractic"]["back_to_foot"] == 2
    for queue, row in counts.items():
        assert {k: n for k, n in row.items() if n} == expected.get(queue, {})
    assert any(row["foot_to_back"] for row in counts.values())
    assert any(row["separate"] for row in counts.values())


def test_the_panel_counts_only_the_last_90_days_and_the_users_queues(podiatrist, chiropractor):
    old = submit("V22", patient=person(0))
    # Before the window whatever the hour: it starts at the clinic's midnight 90 days back, and
    # 91 days back at 23:05 UTC in December was 00:05 London summer time of that first day,
    # inside it (a CI run at that hour failed).
    Referral.objects.filter(intake=old.intake).update(
        created_at=timezone.now() - dt.timedelta(days=92)
    )
    submit("V22", patient=person(1))
    assert panel(chiropractor) == {
        "chiropractic": {"back_to_foot": 1, "foot_to_back": 0, "both": 0, "separate": 0}
    }
    assert set(panel(podiatrist)) == {"podiatry"}


def dashboard_links(client) -> list[tuple[str, int]]:
    """Each number of the dashboard that links to the queue, with its link."""
    page = client.get(reverse("admin:index")).content.decode()
    return [
        (html.unescape(href), int(number))
        for href, number in re.findall(r'<a [^>]*href="([^"]+)"[^>]*>(\d+)</a>', page)
    ]


def test_each_number_links_to_a_list_of_the_cases_it_counts(client, triage_lead):
    """The foot-and-back counts linked to the queue of every date: a list longer than the
    number by the older cases (a known gap). The window starts at the clinic's midnight 90
    days back, the day the link's ?since= names."""
    start = timezone.make_aware(
        dt.datetime.combine(timezone.localdate() - dt.timedelta(days=90), dt.time())
    )
    ages = [None, start + dt.timedelta(minutes=1), start - dt.timedelta(minutes=1)]
    ages += [timezone.now() - dt.timedelta(days=days) for days in (91, 400)]
    for i, (case, created) in enumerate(itertools.product(("V22", "V15", "V13"), ages)):
        submission = submit(case, patient=person(i))
        if created is not None:
            Referral.objects.filter(intake=submission.intake).update(
                created_at=created, due_at=created
            )
    client.force_login(triage_lead)
    client.get(reverse("admin:index"))  # the session is extended on the first request
    links = dashboard_links(client)
    assert any("link=foot_to_back" in href for href, _ in links), links
    assert any("overdue=yes" in href for href, _ in links), links
    for href, number in links:
        response = client.get(href)
        assert response.status_code == 200, href
        assert response.context["cl"].result_count == number, href
        assert len(response.context["cl"].result_list) == number, href


def test_the_panel_is_on_the_admin_index_with_constant_queries(client, triage_lead):
    client.force_login(triage_lead)
    submit("V22", patient=person(0))

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(reverse("admin:index")).content.decode()
        assert "Foot and back, last 90 days" in page
        assert "link=back_to_foot" in page
        return len(ctx.captured_queries)

    # The first request after logging in extends the session (IdleSessionMiddleware).
    client.get(reverse("admin:index"))
    small = queries()
    for i in range(1, 12):
        submit(("V15", "V13", "V22")[i % 3], patient=person(i))
    assert queries() == small


def test_a_window_counts_by_its_own_time_however_recently_a_referral_was_touched(
    chiropractor,
):
    """The windows are bounded by updated_at too (to read them by index); what they count is
    still what was created (90 days) or claimed (30 days) in them."""
    now = timezone.now()
    old, recent = (submit("V22", patient=person(i)).referrals[0] for i in (0, 1))
    Referral.objects.filter(pk=old.pk).update(
        created_at=now - dt.timedelta(days=120),
        claimed_at=now - dt.timedelta(days=40),
        updated_at=now - dt.timedelta(hours=1),  # touched today, created and claimed long ago
    )
    Referral.objects.filter(pk=recent.pk).update(
        created_at=now - dt.timedelta(days=20),
        claimed_at=now - dt.timedelta(days=10),
        updated_at=now - dt.timedelta(days=5),
    )
    board = dashboard_for(chiropractor, now=now)
    assert board.claims_counted == 1
    assert board.median_minutes_to_claim == 10 * 24 * 60
    assert {r.queue: r.counts["back_to_foot"] for r in board.link_rows} == {"chiropractic": 1}


@pytest.mark.skipif(on_postgresql(), reason="SQLite's rule-based plans")
def test_on_sqlite_no_statement_of_the_dashboard_reads_every_referral(triage_lead):
    """The open work by its partial index, the claims by theirs, the foot-and-back counts (on
    the first load, the closed days of the 90 too, which later loads read from LinkDay) from
    referral_link_idx alone, by creation time."""
    submit("V22", patient=person(0))
    with CaptureQueriesContext(connection) as ctx:
        dashboard_for(triage_lead)
    plans = {
        q["sql"]: " ".join(sqlite_plan(q["sql"]))
        for q in ctx.captured_queries
        if '"referrals_referral"' in q["sql"]  # not the user's groups
    }
    assert len(plans) == 5, list(plans)
    for sql, plan in plans.items():
        assert "SCAN referrals_referral" not in plan, (sql, plan)
        if '"link_kind" IN' in sql:
            index = "COVERING INDEX referral_link_idx (created_at>?"
        elif '"claimed_at" >=' in sql:
            index = "COVERING INDEX referral_claimed_idx"  # the claims from the index alone
        else:
            index = "INDEX referral_queue_order_idx"
        assert f"SEARCH referrals_referral USING {index}" in plan, (sql, plan)


def claim_copies(referral: Referral, waits: list[dt.timedelta], ago: list[dt.timedelta]) -> None:
    """Copies of ``referral`` as if each claimed ``ago`` its ``wait`` after it was made (closed:
    the patient and queue may hold any number of them)."""
    fields = {f.attname: getattr(referral, f.attname) for f in Referral._meta.concrete_fields}
    now, copies = timezone.now(), []
    for wait, before in zip(waits, ago, strict=True):
        copy = Referral(**{**fields, "id": None, "public_id": uuid.uuid4(), "status": "completed"})
        # created_at is set on insert: the time it should have is carried in due_at.
        copy.claimed_at, copy.due_at = now - before, now - before - wait
        copies.append(copy)
    made = Referral.objects.bulk_create(copies, batch_size=2000)
    Referral.objects.filter(pk__in=[copy.pk for copy in made]).update(
        created_at=F("due_at"), updated_at=F("claimed_at")
    )


@pytest.mark.parametrize("count", [0, 1, 2, 7, 50_001])
def test_the_median_wait_to_claim_is_of_every_claim_of_the_last_30_days(chiropractor, count):
    """Counted and taken by the database (dashboard.claim_waits). The waits were read into
    Python, at most 50,000 of them in no order: past that (a month's claims at 1,000,000
    cases) the median was of an arbitrary 50,000 and the page said "50000 claims"."""
    (made,) = submit("V01", patient=person(0)).referrals
    Referral.objects.filter(pk=made.pk).update(status="cancelled")  # never claimed: not counted
    made.refresh_from_db()
    rng = random.Random(count)
    waits = [dt.timedelta(seconds=rng.randrange(60, 1_200_000)) for _ in range(count)]
    if count == 50_001:
        waits.sort()  # the last, the longest, moves the median of them all
    # Claimed between an hour and 29 days ago; one 31 days ago, outside the window.
    ago = [dt.timedelta(hours=rng.randrange(1, 29 * 24)) for _ in waits]
    claim_copies(made, waits, ago)
    claim_copies(made, [dt.timedelta(days=1)], [dt.timedelta(days=31)])
    board = dashboard_for(chiropractor)
    assert board.claims_counted == count
    if count:
        expected = statistics.median(wait.total_seconds() / 60 for wait in waits)
        assert board.median_minutes_to_claim == pytest.approx(expected, abs=1e-6)
    else:
        assert board.median_minutes_to_claim is None


@pytest.mark.postgres_only
def test_on_postgresql_the_claims_are_counted_from_their_index_alone(chiropractor):
    """referral_claimed_idx includes what the count and median read: no referral row is read
    (at 1,000,000 cases 26 ms, against 144 by the updated index and the rows)."""
    submit("V01", patient=person(0))
    with CaptureQueriesContext(connection) as ctx:
        claim_waits(["chiropractic"], since=timezone.now() - dt.timedelta(days=30))
    (sql,) = [q["sql"] for q in ctx.captured_queries]
    scans = [
        (node["Node Type"], node.get("Index Name"))
        for node in postgres_plan(sql, enable_seqscan="off", enable_bitmapscan="off")
        if node.get("Relation Name") == "referrals_referral"
    ]
    assert scans == [("Index Only Scan", "referral_claimed_idx")]


@pytest.mark.parametrize(
    ("created", "claimed", "updated"),
    [(0, None, -1), (0, 2, 1)],
    ids=["updated before created", "updated before claimed"],
)
def test_a_referral_is_never_updated_before_it_was_created_or_claimed(created, claimed, updated):
    (referral,) = submit("V01").referrals
    now = timezone.now()

    def at(minutes: int | None) -> dt.datetime | None:
        return None if minutes is None else now + dt.timedelta(minutes=minutes)

    with pytest.raises(IntegrityError, match="referral_updated_after"), transaction.atomic():
        Referral.objects.filter(pk=referral.pk).update(
            created_at=at(created), claimed_at=at(claimed), updated_at=at(updated)
        )


def test_a_save_on_a_host_whose_clock_is_behind_keeps_the_times_in_order(chiropractor):
    """Claimed on one host; saved again on another whose clock is behind by more than the time
    since: updated_at takes the claim's time rather than fail the constraint."""
    (referral,) = submit("V01", patient=person(0)).referrals
    ahead = timezone.now() + dt.timedelta(minutes=5)
    Referral.objects.filter(pk=referral.pk).update(claimed_at=ahead, updated_at=ahead)
    referral.refresh_from_db()
    referral.overdue_at = timezone.now()
    referral.save(update_fields=["overdue_at", "updated_at"])
    referral.refresh_from_db()
    assert referral.updated_at == ahead


@pytest.mark.parametrize("stamped", ["claimed_at", "created_at"])
def test_a_submission_joining_a_referral_a_clock_ahead_stamped_is_stored(stamped, chiropractor):
    """The join's bulk_update skips UpdatedAtField.pre_save: it applies the same floor itself.
    A review found the second submission failing the constraint (a 500, the case lost)."""
    (referral,) = submit("V01", patient=person(0)).referrals
    ahead = timezone.now() + dt.timedelta(minutes=5)
    Referral.objects.filter(pk=referral.pk).update(**{stamped: ahead, "updated_at": ahead})
    (joined,) = submit("V01", patient=person(0)).referrals
    assert joined.pk == referral.pk
    joined.refresh_from_db()
    assert joined.updated_at == ahead
    assert joined.intakes.count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_constraints_migration_moves_up_rows_a_clock_behind_had_written():
    from django.db.migrations.executor import MigrationExecutor

    (referral,) = submit("V01", patient=person(0)).referrals
    before = [("referrals", "0006_sparse_user_indexes")]
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    now = timezone.now()
    early, claimed = now - dt.timedelta(hours=1), now + dt.timedelta(minutes=1)
    Referral.objects.filter(pk=referral.pk).update(
        created_at=now, claimed_at=claimed, updated_at=early
    )
    MigrationExecutor(connection).migrate(latest)
    referral.refresh_from_db()
    assert referral.updated_at == claimed
