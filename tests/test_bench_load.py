"""bench/load.py: the statistics refresh between the endpoints that write and the list pages, and
the sampled query counts."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from psycopg.conninfo import make_conninfo

from clinic.bench import QUERY_COUNT_HEADER
from intake.models import RateCounter
from referrals.models import ApiToken, Scope
from referrals.tokens import api_token_create
from tests.helpers import load_bench_script

QUERY_COUNT_MIDDLEWARE = "clinic.bench.QueryCountMiddleware"


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_load_bench_analyses_the_database_before_the_list_pages(monkeypatch):
    params = connection.get_connection_params()
    dsn = make_conninfo(
        **{k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        before = conn.execute(
            "SELECT count(*) FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
        ).fetchone()
        autovacuum = conn.execute("SHOW autovacuum").fetchone()
    assert before is not None
    assert autovacuum is not None

    line = load_bench_script("load", monkeypatch).refresh_statistics(dsn)

    assert line.startswith("statistics refreshed before the list pages (ANALYZE, ")
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
