"""Foreign keys that are often empty are indexed only where set.

Who created a submission or a referral on a patient's behalf, who cleared a red flag and which
referral a reroute came from are empty on almost every row (a patient's own submission has
none), and an event's actor on the system's own events (about a third); yet a full index holds
an entry for every row: one more insert per row for a lookup only deleting a user (PROTECT) or
a reroute's history makes, by value. A partial index (``... IS NOT NULL``) serves those
lookups, as a comparison on the column implies it is set.
"""

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.test.utils import CaptureQueriesContext

from intake.models import Intake, IntakeSource
from referrals.models import Referral, ReferralEvent
from tests.clinic_fixtures import submit
from tests.helpers import sqlite_plan

pytestmark = pytest.mark.django_db

SPARSE = {
    (Intake, "created_by_id"): "intake_created_by_idx",
    (Intake, "red_flag_cleared_by_id"): "intake_flag_cleared_by_idx",
    (Referral, "created_by_id"): "referral_created_by_idx",
    (Referral, "rerouted_from_id"): "referral_rerouted_from_idx",
    (Referral, "referred_again_from_id"): "referral_again_from_idx",
    (Referral, "rerouted_into_id"): "referral_rerouted_into_idx",
    (ReferralEvent, "actor_id"): "event_actor_idx",
}


def _index_definitions(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s "
                "AND sql IS NOT NULL",
                [table],
            )
        else:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table]
            )
        return dict(cursor.fetchall())


@pytest.mark.parametrize(("model", "column"), list(SPARSE))
def test_each_sparse_column_has_one_index_and_it_is_partial(model: Any, column: str) -> None:
    definitions = _index_definitions(model._meta.db_table)
    on_column = {
        name: sql
        for name, sql in definitions.items()
        if re.search(r"\(([^)]*)\)", sql.replace('"', "")).group(1) == column  # type: ignore[union-attr]
    }
    assert list(on_column) == [SPARSE[model, column]], definitions
    condition = re.sub(r'["()]', "", on_column[SPARSE[model, column]]).split(" WHERE ")[1]
    assert condition == f"{column} IS NOT NULL"


def _explain(sql: str) -> str:
    if connection.vendor == "sqlite":
        return " ".join(sqlite_plan(sql))
    with transaction.atomic(), connection.cursor() as cursor:
        # A handful of rows: PostgreSQL would read the table whatever its indexes. Without
        # that choice it takes an index if one can answer the statement.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}")
        return " ".join(row[0] for row in cursor.fetchall())


def test_deleting_a_user_checks_each_sparse_column_through_its_partial_index() -> None:
    submit("V01")
    user = User.objects.create_user("leaver")
    with transaction.atomic(), CaptureQueriesContext(connection) as seen:
        user.delete()
        transaction.set_rollback(True)
    checked = set()
    for query in seen.captured_queries:
        sql = query["sql"]
        for (model, column), index in SPARSE.items():
            table = model._meta.db_table
            if not sql.startswith("SELECT") or f'"{table}"."{column}" IN' not in sql:
                continue
            plan = _explain(sql)
            assert index in plan, plan
            checked.add(index)
    # The reroute's and the refer-again's own columns point at a referral, not a user.
    assert checked == set(SPARSE.values()) - {
        "referral_rerouted_from_idx",
        "referral_again_from_idx",
        "referral_rerouted_into_idx",
    }


def test_a_reroutes_origin_is_found_through_its_partial_index() -> None:
    (referral,) = submit("V01").referrals
    plan = _explain(str(Referral.objects.filter(rerouted_from=referral.pk).values("pk").query))
    assert "referral_rerouted_from_idx" in plan, plan


def test_a_referral_made_again_is_found_through_its_partial_index() -> None:
    """A closed referral's page and the refusal to refer it twice look for the one made again
    from it (referrals.services.referral_refer_again)."""
    (referral,) = submit("V01").referrals
    query = Referral.objects.filter(referred_again_from=referral.pk).values("pk").query
    plan = _explain(str(query))
    assert "referral_again_from_idx" in plan, plan


def test_the_referrals_rerouted_into_one_are_found_through_their_partial_index() -> None:
    """Those a reroute joined to the patient's open referral of a queue, beside the first
    (Referral.rerouted_into)."""
    (referral,) = submit("V01").referrals
    query = Referral.objects.filter(rerouted_into=referral.pk).values("pk").query
    plan = _explain(str(query))
    assert "referral_rerouted_into_idx" in plan, plan


def test_a_user_who_entered_a_submission_still_cannot_be_deleted() -> None:
    clerk = User.objects.create_user("clerk", is_staff=True)
    submit("V01", source=IntakeSource.API, actor=clerk)
    assert Intake.objects.filter(created_by=clerk).exists()
    with pytest.raises(ProtectedError):
        clerk.delete()
