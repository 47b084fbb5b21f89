"""bench/explain.py plans the admin queue page's own statements, not look-alikes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.urls import reverse

from clinic.compiled import statements_sent
from tests.clinic_fixtures import submit
from tests.helpers import load_bench_script

LIST = reverse("admin:referrals_referral_changelist")


@pytest.mark.django_db
def test_the_queue_pages_plans_are_of_the_statements_it_runs(client, chiropractor, monkeypatch):
    for case in ["V01", "V06", "V22"]:
        submit(case)
    explain = load_bench_script("explain", monkeypatch)
    count, page = explain._queue_page_statements("chiropractic")

    client.force_login(chiropractor)
    client.get(LIST)  # the first request after logging in extends the session
    with statements_sent(connection.alias) as seen:
        assert client.get(LIST).status_code == 200
    assert count[0].startswith("SELECT COUNT(*)")
    assert "ORDER BY" in page[0]
    for sql, params in (count, page):
        assert (sql, tuple(params)) in seen


def test_a_generic_plan_is_weighed_against_the_custom_one_as_postgresql_weighs_it(monkeypatch):
    """plancache.c keeps a generic plan only below the custom plans' cost plus 1000 x
    cpu_operator_cost per range-table entry (each table and each join) and one more."""
    explain = load_bench_script("explain", monkeypatch)
    sql = (
        'SELECT 1 FROM "referrals_referral" INNER JOIN "intake_intake" ON (1 = 1) '
        'INNER JOIN "intake_patient" ON (1 = 1) LEFT OUTER JOIN "auth_user" ON (1 = 1)'
    )
    generic = "Limit  (cost=781.77..781.89 rows=50 width=237) (actual time=0.5..0.5 rows=50)"
    custom = "Limit  (cost=0.99..651.12 rows=50 width=237) (actual time=0.01..0.16 rows=50)"
    said = explain.generic_against_custom(generic, custom, sql, 0.0025)
    assert said == (
        "generic cost 781.9 against 651.1 for these values' custom plan + 20.0 for planning "
        "it: PostgreSQL would go on planning per run here"
    )
    cheap = "Limit  (cost=0.50..660.00 rows=50 width=237)"
    assert explain.generic_against_custom(cheap, custom, sql, 0.0025).endswith(
        "would keep the generic plan"
    )
