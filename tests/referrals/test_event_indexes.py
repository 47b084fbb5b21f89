"""The indexes on referral events and submission links: each one serves a read, none is spare.

A generated case writes about seven events and one or two links; every index on those tables
is one more insert per row (bench/generate.py), so an index no query reads is a cost only.
"""

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from referrals.admin import _case_history
from referrals.models import Action, ReferralEvent, ReferralIntake
from referrals.services import referral_transition
from tests.clinic_fixtures import submit
from tests.conftest import on_postgresql
from tests.helpers import sqlite_plan

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
    # The actor's index stays, where set (tests/test_sparse_user_indexes.py): deleting a user
    # checks its events (PROTECT).
    assert indexes["event_actor_idx"] == ["actor_id"]


def test_links_are_found_by_referral_through_the_unique_constraints_index():
    indexes = _indexes(ReferralIntake)
    assert indexes["referral_intake_once"] == ["referral_id", "intake_id"]
    assert ["referral_id"] not in indexes.values()
    assert ["intake_id"] in indexes.values()


def _sqlite_plan(query: QuerySet | str) -> str:
    sql, params = query.query.sql_with_params() if isinstance(query, QuerySet) else (query, ())
    return " ".join(sqlite_plan(sql, params))


@pytest.mark.skipif(on_postgresql(), reason="SQLite's rule-based plans; PostgreSQL plans by cost")
def test_on_sqlite_a_referrals_history_is_read_in_order_from_the_index(triage_lead):
    """The case page's newest-first history, as the page reads it, and the erasure's
    oldest-first walk: one index range each, no sort."""
    (referral,) = submit("V01").referrals
    referral_transition(referral=referral, action=Action.CLAIM, actor=triage_lead)
    with CaptureQueriesContext(connection) as shown:
        _case_history(referral)
    (case_page,) = [q["sql"] for q in shown if '"referrals_referralevent"' in q["sql"]]
    for events in (case_page, referral.events.all()):
        plan = _sqlite_plan(events)
        assert "event_referral_time_idx" in plan, plan
        assert "TEMP B-TREE" not in plan, plan
    plan = _sqlite_plan(ReferralIntake.objects.filter(referral=referral))
    # The unique constraint's index (SQLite names it sqlite_autoindex_...), by its first column.
    assert "SEARCH referrals_referralintake USING INDEX" in plan, plan
    assert "(referral_id=?)" in plan, plan
