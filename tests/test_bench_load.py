"""bench/load.py: the statistics refresh between the endpoints that write and the list pages, and
the sampled query counts."""

from __future__ import annotations

import re
from types import SimpleNamespace

import psycopg
import pytest
from django.test import Client
from django.utils import timezone

from clinic.bench import QUERY_COUNT_HEADER
from intake.models import RateCounter
from referrals.models import ApiToken, Scope
from referrals.tokens import api_token_create
from tests.helpers import load_bench_script, own_dsn

QUERY_COUNT_MIDDLEWARE = "clinic.bench.QueryCountMiddleware"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_load_bench_analyses_the_database_before_the_list_pages(monkeypatch):
    dsn = own_dsn()
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = conn.execute(
            "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
        ).fetchone()
        autovacuum = conn.execute("SHOW autovacuum").fetchone()
    assert before is not None
    assert autovacuum is not None

    line = load_bench_script("load", monkeypatch).refresh_statistics(dsn)

    assert line.startswith(
        "tables vacuumed and statistics refreshed before the list pages (VACUUM (ANALYZE), "
    )
    assert line.endswith(f" s; this server's autovacuum: {autovacuum[0]})")
    with psycopg.connect(dsn, autocommit=True) as conn:
        tables, analysed = conn.execute(
            "SELECT count(*), count(last_analyze) FROM pg_stat_user_tables"
        ).fetchone()  # type: ignore[misc]
    assert tables == analysed > before[0]


class _ClientServer:
    """bench/load.py's Server.request over Django's test client, with the bench's query count."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def request(self, method: str, path: str, body=None, headers=None):
        response = self.client.generic(method, path, body or "", headers=headers, secure=True)
        return response.status_code, response, response.content


@pytest.mark.django_db
def test_the_query_sample_leaves_out_the_once_a_minute_work(monkeypatch, settings):
    settings.MIDDLEWARE = [QUERY_COUNT_MIDDLEWARE, *settings.MIDDLEWARE]
    bench = load_bench_script("load", monkeypatch)
    created = api_token_create(name="Bench sample", scopes=[Scope.REFERRALS_READ])
    server = _ClientServer(Client(headers={"Authorization": f"Bearer {created.raw}"}))
    endpoint = bench.Endpoint("api_referrals_first", "GET", "/api/v1/referrals", None, {})

    # One instant for every request: no rate-limit window can end between them.
    instant = timezone.now()
    monkeypatch.setattr(timezone, "now", lambda: instant)
    # The token's first request opens its rate-limit window (the counter row) and stamps its
    # last use; the requests after it in the same minute do neither.
    opening = int(server.request("GET", "/api/v1/referrals")[1][QUERY_COUNT_HEADER])
    steady = int(server.request("GET", "/api/v1/referrals")[1][QUERY_COUNT_HEADER])
    assert opening > steady

    ApiToken.objects.update(last_used_at=None)
    RateCounter.objects.all().delete()
    assert bench.sample_queries(server, endpoint) == steady


@pytest.mark.parametrize(
    ("names", "wanted"),
    [
        (None, None),
        ("api_intake_submit", {"api_intake_submit", "baseline"}),
        (" admin_queue, baseline ", {"admin_queue", "baseline"}),
    ],
)
def test_endpoints_chosen_always_include_the_baseline(monkeypatch, names, wanted):
    assert load_bench_script("load", monkeypatch).chosen(names) == wanted


@pytest.mark.parametrize(
    ("names", "message"), [("api_submit", "unknown endpoint(s) api_submit"), (",", "(none given)")]
)
def test_an_unknown_endpoint_is_refused_with_the_names_to_choose_from(monkeypatch, names, message):
    load = load_bench_script("load", monkeypatch)
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        load.chosen(names)
    assert "choose from baseline, api_intake_submit," in str(raised.value)


def test_the_endpoints_run_in_the_order_their_names_give(monkeypatch):
    load = load_bench_script("load", monkeypatch)
    server = SimpleNamespace(port=8000)
    fixtures = {
        "token": "t",
        "form_last_step": {},
        "form_step_code": "s",
        "form_sessions": [],
        "deep_cursor": "c",
        "case_id": 1,
    }
    points = load.endpoints(server, fixtures, "session")
    assert tuple(p.name for p in points) == load.ENDPOINT_NAMES
    assert load.first_read(points) == "api_referrals_first"
    assert load.first_read([p for p in points if p.name == "admin_queue"]) == "admin_queue"
    assert load.first_read(points[:2]) is None


def test_the_targets_of_a_run_of_some_endpoints_leave_out_the_others(monkeypatch):
    load = load_bench_script("load", monkeypatch)
    results = [
        load.Result("sqlite", 10_000, "baseline", 600, 12, 16, 20, 0, 12_000, 1, 1.0),
        load.Result("sqlite", 10_000, "api_intake_submit", 180, 40, 50, 60, 0, 3_600, 12, 0.3),
        load.Result("sqlite", 10_000, "_worked_queries", 0, 0, 0, 0, 0, 0, None),
    ]
    results[-1].__dict__["worked"] = {"routine, 1 queue (V01)": 12}
    rows = load.verdicts(results, "triage: PASS")
    names = [name for name, _ok, _detail in rows]
    assert ("sqlite 10,000: API submission >= 0.5x baseline", False, "0.30x") in rows
    assert not any("first and deep page" in name for name in names)
    assert names[-1] == "triage >= 20,000/s per core (bench/triage.py)"
