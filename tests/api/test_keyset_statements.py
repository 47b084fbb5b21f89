"""referrals.pagination.keyset_rows: the API list's page statement compiled once per queue set,
giving what the ORM's keyset_page gives for every page."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from referrals import pagination
from referrals.api import LIST_COLUMNS
from referrals.models import Queue, Referral
from referrals.pagination import encode_cursor, keyset_page, keyset_rows
from tests.api.conftest import Api
from tests.api.test_referrals_api import all_pages, many_cases

pytestmark = pytest.mark.django_db

QUEUE_SETS = [tuple(Queue.values), (Queue.CHIROPRACTIC,), (Queue.PODIATRY, Queue.GENERAL_REVIEW)]


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every statement compiled, from an empty store."""
    seen: list[object] = []
    original = pagination.compiled_values

    def spy(queryset, placeholders):
        seen.append(queryset)
        return original(queryset, placeholders)

    monkeypatch.setattr(pagination, "compiled_values", spy)
    monkeypatch.setattr(pagination, "_STATEMENTS", {})
    return seen


def _scoped(queues: tuple[str, ...]):
    return Referral.objects.filter(queue__in=queues).select_related("intake", "patient")


@pytest.mark.parametrize("queues", QUEUE_SETS)
@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_every_page_is_the_orms_page(queues, limit, compiles):
    many_cases(12)
    # Ties in due time and priority: the id decides, on both sides of a page boundary.
    Referral.objects.filter(pk__in=Referral.objects.order_by("id").values("pk")[:6]).update(
        due_at=timezone.now() + dt.timedelta(days=3), priority=500
    )
    queryset = _scoped(queues)
    cursor = None
    pages = 0
    while True:
        ours = keyset_rows(queryset, ("test", queues), cursor, limit + 1, LIST_COLUMNS)
        assert ours == list(keyset_page(queryset, cursor, limit + 1, LIST_COLUMNS))
        pages += 1
        if len(ours) <= limit:
            break
        cursor = encode_cursor(ours[limit - 1])
    assert pages >= 2 or queryset.count() <= limit
    assert len(compiles) == (1 if pages == 1 else 2)  # the first page, then every deeper one


def test_a_cursor_at_any_key_reads_what_the_orm_reads(compiles):
    many_cases(8)
    queryset = _scoped(tuple(Queue.values))
    keys = list(Referral.objects.values("priority", "due_at", "id"))
    keys += [
        {"priority": 0, "due_at": timezone.now() - dt.timedelta(days=900), "id": 1},
        {"priority": 32767, "due_at": timezone.now() + dt.timedelta(days=900), "id": 10**9},
    ]
    for key in keys:
        cursor = encode_cursor(key)
        assert keyset_rows(queryset, ("all",), cursor, 4, LIST_COLUMNS) == list(
            keyset_page(queryset, cursor, 4, LIST_COLUMNS)
        )
    assert len(compiles) == 1


def test_the_api_compiles_per_queue_set_and_never_for_a_filtered_list(api, compiles, make_token):
    expected = [str(r.public_id) for r in many_cases()]
    assert all_pages(api, limit=3) == expected
    assert all_pages(api, limit=3) == expected
    assert len(compiles) == 2  # the first page and the deeper pages, once each

    own = Api(make_token(queues=(Queue.CHIROPRACTIC,)).raw)
    assert all_pages(own, limit=200) == [
        str(r.public_id) for r in Referral.objects.filter(queue=Queue.CHIROPRACTIC)
    ]
    assert len(compiles) == 3

    filtered = all_pages(api, limit=3, queue=Queue.PODIATRY)
    assert filtered == [str(r.public_id) for r in Referral.objects.filter(queue=Queue.PODIATRY)]
    assert len(compiles) == 3


def test_the_store_is_bounded(monkeypatch, compiles):
    many_cases(3)
    monkeypatch.setattr(pagination, "STATEMENTS_KEPT", 2)
    queryset = _scoped(tuple(Queue.values))
    for limit in range(1, 6):
        keyset_rows(queryset, ("all",), None, limit, LIST_COLUMNS)
        assert len(pagination._STATEMENTS) <= 2
    assert len(compiles) == 5
