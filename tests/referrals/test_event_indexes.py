"""The indexes on referral events and submission links: each one serves a read, none is spare.

A generated case writes about seven events and one or two links; every index on those tables
is one more insert per row (bench/generate.py), so an index no query reads is a cost only.
"""

import pytest
from django.db import connection

from referrals.models import Action, ReferralEvent, ReferralIntake
from referrals.services import referral_transition
from tests.clinic_fixtures import submit
from tests.conftest import on_postgresql

pytestmark = pytest.mark.django_db


def _indexes(model) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, model._meta.db_table)
    return {
        name: info["columns"]
        for name, info in found.items()
        if info["index"] or (info["unique"] and not info["primary_key"])
    }


def test_events_have_one_index_by_referral_and_time_and_none_by_time_alone():
    indexes = _indexes(ReferralEvent)
    assert indexes["event_referral_time_idx"] == ["referral_id", "created_at", "id"]
    assert ["referral_id"] not in indexes.values()
    assert ["created_at"] not in indexes.values()
    # The actor's index stays: deleting a user checks its events (PROTECT).
    assert ["actor_id"] in indexes.values()


def test_links_are_found_by_referral_through_the_unique_constraints_index():
    indexes = _indexes(ReferralIntake)
    assert indexes["referral_intake_once"] == ["referral_id", "intake_id"]
    assert ["referral_id"] not in indexes.values()
    assert ["intake_id"] in indexes.values()


@pytest.mark.skipif(on_postgresql(), reason="SQLite's rule-based plans; PostgreSQL plans by cost")
def test_on_sqlite_a_referrals_history_is_read_in_order_from_the_index(triage_lead):
    """The case page's newest-first history (referrals.admin._case_history) and the erasure's
    oldest-first walk: one index range each, no sort."""
    (referral,) = submit("V01").referrals
    referral_transition(referral=referral, action=Action.CLAIM, actor=triage_lead)
    for events in (
        referral.events.order_by("-created_at", "-id")[:201],
        referral.events.all(),
    ):
        sql, params = events.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " ".join(str(row) for row in cursor.fetchall())
        assert "event_referral_time_idx" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    links = ReferralIntake.objects.filter(referral=referral)
    sql, params = links.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    # The unique constraint's index (SQLite names it sqlite_autoindex_...), by its first column.
    assert "SEARCH referrals_referralintake USING INDEX" in plan, plan
    assert "(referral_id=?)" in plan, plan
