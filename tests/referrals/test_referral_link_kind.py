"""Each referral carries the foot-and-back link kind of the intake that opened it (referrals
migration 0013): the dashboard's counts and the list they link to read it by its own index."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from referrals.models import Referral, ReferralIntake
from referrals.services import referral_reroute
from tests.clinic_fixtures import details, submit
from tests.helpers import postgres_plan

pytestmark = pytest.mark.django_db

LIST = reverse("admin:referrals_referral_changelist")


def person(i: int):
    return details(family_name=f"Link{chr(65 + i)}", phone=f"07700 93{i:04d}")


def mismatched() -> list[tuple[str, str]]:
    return list(
        Referral.objects.exclude(link_kind=F("intake__link_kind")).values_list(
            "link_kind", "intake__link_kind"
        )
    )


def test_a_referral_keeps_the_link_kind_of_the_intake_that_opened_it():
    """A later submission that joins the referral leaves it with the first intake's kind (the
    dashboard counts a case by the intake that opened it)."""
    first = submit("V22", patient=person(0))  # back -> foot
    later = submit("V15", patient=person(0))  # foot -> back, the same patient
    assert first.intake.link_kind != later.intake.link_kind
    joined = ReferralIntake.objects.filter(intake=later.intake).exclude(
        referral__intake=later.intake
    )
    assert joined.exists()  # the same queue again: joined, not a second referral
    for link in joined:
        assert link.referral.link_kind == first.intake.link_kind
    assert mismatched() == []
    assert {r.link_kind for r in first.referrals} == {"back_to_foot"}


def test_a_rerouted_case_is_counted_by_the_same_link_kind_in_its_new_queue(triage_lead):
    referrals = submit("V22", patient=person(0)).referrals
    referral = next(r for r in referrals if r.queue == "chiropractic")
    moved = referral_reroute(referral=referral, actor=triage_lead, queue="podiatry", reason="Feet")
    assert moved.link_kind == referral.link_kind == "back_to_foot"
    moved.refresh_from_db()
    assert moved.link_kind == "back_to_foot"


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_the_stored_referrals_their_intakes_link_kind():
    for i, case in enumerate(("V22", "V15", "V13", "V11", "V01", "V09")):
        submit(case, patient=person(i))
    kinds = dict(Referral.objects.values_list("pk", "intake__link_kind"))
    assert len(set(kinds.values())) >= 4
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    MigrationExecutor(connection).migrate([("referrals", "0012_link_day")])
    MigrationExecutor(connection).migrate(latest)
    assert dict(Referral.objects.values_list("pk", "link_kind")) == kinds


@pytest.mark.postgres_only
def test_on_postgresql_the_dashboards_list_of_a_link_reads_its_index(client, triage_lead):
    """The list a foot-and-back number links to (a queue, one link kind, since a day, any
    status) read every referral of the window with its intake (0.3-0.7 s at 1,000,000 cases).
    Among 200,000 referrals over two years, its count and page read referral_link_idx."""
    for i, case in enumerate(("V22", "V15", "V13")):
        submit(case, patient=person(i))
    # Closed referrals spread over two years, of every queue and kind, written by the server;
    # each due five days after it was made, as the newest are the latest due.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO referrals_referral (public_id, patient_id, intake_id, queue, status,"
            " urgency, red_flag_count, priority, due_at, note, suggested_after_clearance,"
            " closed_at, created_at, updated_at, link_kind)"
            " SELECT gen_random_uuid(), r.patient_id, r.intake_id,"
            " (ARRAY['chiropractic', 'podiatry', 'orthotic_fitting', 'general_review'])"
            "[1 + g % 4], 'completed', r.urgency, 0, g % 3,"
            " now() - (g % 730) * interval '1 day' + interval '5 days', '', '[]',"
            " now() - (g % 730) * interval '1 day', now() - (g % 730) * interval '1 day',"
            " now() - (g % 730) * interval '1 day',"
            " (ARRAY['back_to_foot', 'foot_to_back', 'both', 'separate', 'foot_only',"
            " 'back_only', 'neither'])[1 + g % 7]"
            " FROM generate_series(1, 200000) AS g,"
            " (SELECT * FROM referrals_referral ORDER BY id LIMIT 1) AS r"
        )
        cursor.execute("ANALYZE referrals_referral")
    client.force_login(triage_lead)
    since = (timezone.localdate() - dt.timedelta(days=90)).isoformat()
    wanted = {"queue": "chiropractic", "link": "back_to_foot", "since": since}
    client.get(LIST, {**wanted, "status": "any"})  # the session is extended on the first request
    with CaptureQueriesContext(connection) as seen:
        response = client.get(LIST, {**wanted, "status": "any"})
    assert response.status_code == 200
    assert response.context["cl"].result_count > 500
    read = [q["sql"] for q in seen.captured_queries if '"link_kind" = ' in q["sql"]]
    assert len(read) == 2, read  # the count and the page
    # Also with sorting priced out: the page's order is one no index holds, so no plan walks
    # one in page order (at 1,000,000 cases PostgreSQL chose that walk, and the window's rows,
    # the latest due, came at its end: 4.3 s).
    for sql, sorting in itertools.product(read, ("on", "off")):
        scans, indexes = [], []
        for node in postgres_plan(sql, enable_sort=sorting):
            if node.get("Relation Name") == "referrals_referral":
                scans.append(node["Node Type"])
            if node.get("Index Name", "").startswith("referral"):
                indexes.append(node["Index Name"])
        assert scans, sql
        assert "Seq Scan" not in scans, (scans, sql)
        assert indexes == ["referral_link_idx"], (indexes, sql)
