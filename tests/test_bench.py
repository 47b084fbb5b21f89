"""The bench-only switches (clinic/bench.py): off by default, and doing what bench/load.py reads."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from clinic.bench import QUERY_COUNT_HEADER, QueryCountMiddleware, baseline
from intake.models import RateCounter


def test_the_baseline_route_and_query_header_are_off_by_default(client, db):
    response = client.post("/bench/baseline", "{}", content_type="application/json")
    assert response.status_code == 404
    assert QUERY_COUNT_HEADER not in client.get("/healthz")


@pytest.mark.django_db
def test_the_query_count_header_counts_the_requests_statements():
    def view(request):
        list(RateCounter.objects.all())
        RateCounter.objects.count()
        return HttpResponse()

    response = QueryCountMiddleware(view)(RequestFactory().get("/"))
    assert response[QUERY_COUNT_HEADER] == "2"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"name": "x", "value": 1}, 201),
        ({"name": "", "value": 1}, 400),
        ({"name": "x", "value": True}, 400),
        ({"name": "x", "value": 1001}, 400),
        ([1], 400),
    ],
)
def test_the_baseline_validates_and_inserts_one_row(body, status):
    request = RequestFactory().post("/", json.dumps(body), content_type="application/json")
    assert baseline(request).status_code == status
    assert RateCounter.objects.count() == (1 if status == 201 else 0)
