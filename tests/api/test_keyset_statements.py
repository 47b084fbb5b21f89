"""referrals.pagination.keyset_rows: the API list's page statement compiled once per queue set,
giving what the ORM's keyset_page gives for every page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from clinic.memo import BoundedMemo
from referrals import pagination, selectors
from referrals.access import QUEUE_GROUPS
from referrals.api import LIST_COLUMNS
from referrals.models import Queue, Referral
from referrals.pagination import encode_cursor, keyset_page, keyset_rows
from referrals.tokens import api_token_authenticate
from tests.api.conftest import Api
from tests.api.test_referrals_api import all_pages, many_cases
from tests.clinic_fixtures import make_staff

pytestmark = pytest.mark.django_db

QUEUE_SETS = [tuple(Queue.values), (Queue.CHIROPRACTIC,), (Queue.PODIATRY, Queue.GENERAL_REVIEW)]


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every statement compiled, from an empty store."""
    seen: list[object] = []
    original = pagination.compiled_values

    def spy(queryset, placeholders, again=None):
        seen.append(queryset)
        return original(queryset, placeholders, again)

    monkeypatch.setattr(pagination, "compiled_values", spy)
    monkeypatch.setattr(pagination, "_STATEMENTS", BoundedMemo(pagination.STATEMENTS_KEPT))
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


def test_the_store_keeps_the_most_recently_used(monkeypatch, compiles):
    many_cases(3)
    monkeypatch.setattr(pagination, "_STATEMENTS", BoundedMemo(2))
    queryset = _scoped(tuple(Queue.values))
    for limit in (1, 2, 1, 3, 1):  # 1 stays in use; 2 goes when 3 comes
        keyset_rows(queryset, ("all",), None, limit, LIST_COLUMNS)
        assert len(pagination._STATEMENTS) <= 2
    assert len(compiles) == 3
    keyset_rows(queryset, ("all",), None, 2, LIST_COLUMNS)
    assert len(compiles) == 4


def test_a_user_with_no_queues_gets_an_empty_list(client, compiles):
    """Staff sessions may read the API; one in no queue group sees nothing (and no 500: the
    ORM answers no rows for an empty IN without running it, and so does the compiled page)."""
    from django.contrib.auth.models import Permission

    user = make_staff("no_queues")
    # The permissions to read referrals, but no queue (without them the API refuses: 403).
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_referral", "view_intake"])
    )
    client.force_login(user)
    many_cases(3)
    first = client.get("/api/v1/referrals")
    assert first.status_code == 200
    assert first.json() == {"next": None, "results": []}
    cursor = encode_cursor(Referral.objects.values("priority", "due_at", "id")[0])
    deep = client.get("/api/v1/referrals", {"cursor": cursor})
    assert deep.status_code == 200
    assert deep.json()["results"] == []


def _token_user(raw: str) -> Any:
    """The service user as the API sees it: carrying its token (and so the token's queues)."""
    token = api_token_authenticate(raw)
    assert token is not None
    return token.user


def test_the_key_decides_the_statement(make_token, chiropractor, triage_lead, podiatrist):
    """referral_list_key tells apart every statement referral_list makes: users with the same
    key get the same SQL and parameters, users with different keys different ones."""
    users = [
        chiropractor,
        make_staff("chiro_too", QUEUE_GROUPS[Queue.CHIROPRACTIC]),
        podiatrist,
        triage_lead,
        User.objects.create_superuser("root", "root@clinic.test", "pw"),
        *(
            _token_user(make_token(queues=queues).raw)
            for queues in ((), (Queue.CHIROPRACTIC,), (Queue.PODIATRY, Queue.CHIROPRACTIC))
        ),
    ]
    statements: dict[tuple[str, ...], set[tuple[str, tuple]]] = {}
    deep = encode_cursor({"priority": 3, "due_at": timezone.now(), "id": 9})
    for user in users:
        for cursor in (None, deep):
            page = keyset_page(selectors.referral_list(user=user), cursor, 51, LIST_COLUMNS)
            sql, params = page.query.get_compiler(using=page.db).as_sql()
            # The queues' order among the parameters follows the set's, and a group member's
            # are Queue members where a token's are their values: the same rows.
            statements.setdefault(selectors.referral_list_key(user=user), set()).add(
                (sql, tuple(sorted(map(str, params))))
            )
    assert len(statements) == 4  # chiropractic, podiatry, every queue, podiatry + chiropractic
    assert all(len(found) == 2 for found in statements.values())  # first and deeper pages
    assert len(set().union(*statements.values())) == 2 * len(statements)
