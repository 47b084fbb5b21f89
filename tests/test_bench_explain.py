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
