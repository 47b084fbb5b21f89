"""The staff pages' hot statements are prepared by PostgreSQL once per connection
(clinic/prepared.py), through Django's cursor wrapper, and nothing else is."""

import pytest
from django.db import DataError, connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.prepared import enabled, preparing
from referrals.models import Referral, Scope
from referrals.tokens import api_token_create
from tests.clinic_fixtures import submit

LIST = reverse("admin:referrals_referral_changelist")


def prepared() -> dict[str, int]:
    """This connection's prepared statements: each one's text, and how often it ran."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def having(statements: dict[str, int], *parts: str) -> dict[str, int]:
    return {text: runs for text, runs in statements.items() if all(p in text for p in parts)}


@pytest.fixture
def fresh_connection(db: None) -> None:
    """A new server session: no statement prepared by an earlier test on this connection."""
    connection.close()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_queue_pages_statements_are_prepared_once_and_then_run_by_name(
    client, triage_lead, fresh_connection
):
    for case in ["V01", "V09", "V11"]:
        submit(case)
    client.force_login(triage_lead)
    client.get(LIST)  # the first request after logging in extends the session
    before = prepared()

    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert client.get(LIST).status_code == 200

    after = prepared()
    session = having(after, "django_session", "session_key")
    user = having(after, "auth_user", "auth_permission", "auth_group")
    count = having(after, "COUNT(*)", "referrals_referral")
    page = having(after, "referrals_referral", "ORDER BY")
    assert len(session) == len(user) == len(count) == len(page) == 1
    # Each prepared once, then executed by name on every request.
    for statement in (session, user, count, page):
        ((text, runs),) = statement.items()
        assert runs - before.get(text, 0) == 3
    # Still run through Django's cursor wrapper: counted and logged like any statement.
    assert len(queries) == 3 * 4
    # Nothing else the page ran was prepared.
    assert len(after) == 4


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_search_of_the_queue_is_not_prepared(client, triage_lead, fresh_connection):
    submit("V01")
    client.force_login(triage_lead)
    for term in ["Smith", "07700 900123", "no such patient"]:
        assert client.get(LIST, {"q": term}).status_code == 200
    assert having(prepared(), "referrals_referral") == {}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_api_token_lookup_and_first_page_are_prepared(client, fresh_connection):
    for case in ["V01", "V06", "V22"]:
        submit(case)
    token = api_token_create(name="Kiosk", scopes=[Scope.REFERRALS_READ], queues=())
    bearer = {"Authorization": f"Bearer {token.raw}"}
    for _ in range(2):
        response = client.get("/api/v1/referrals?limit=1", headers=bearer)
        assert response.status_code == 200
    statements = prepared()
    lookup = having(statements, "referrals_apitoken", "prefix")
    assert list(lookup.values()) == [2]
    first_page = having(statements, "referrals_referral", "ORDER BY")
    assert list(first_page.values()) == [2]
    # A deep page's statement is not prepared: its generic plan could ignore the cursor.
    next_page = response.json()["next"]
    assert next_page is not None
    response = client.get(next_page, headers=bearer)
    assert response.status_code == 200
    assert having(prepared(), "referrals_referral") == first_page


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_statements_outside_the_block_and_after_it_are_not_prepared(fresh_connection):
    from psycopg import ClientCursor

    with preparing(connection.alias):
        assert Referral.objects.filter(pk=-1).count() == 0
    with connection.cursor() as cursor:
        assert isinstance(cursor.cursor, ClientCursor)
    assert Referral.objects.filter(pk=-2).exists() is False
    statements = prepared()
    assert len(having(statements, "COUNT(*)", "referrals_referral")) == 1
    assert len(statements) == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_failing_statement_leaves_the_connection_as_it_was(fresh_connection):
    from psycopg import ClientCursor

    with (
        pytest.raises(DataError, match="division by zero"),
        preparing(connection.alias),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT 1 / 0")
    with connection.cursor() as cursor:
        assert isinstance(cursor.cursor, ClientCursor)
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_connection_that_failed_its_health_check_is_replaced_before_the_block(
    fresh_connection,
):
    connection.ensure_connection()
    broken = connection.connection
    broken.close()  # as a server restart would leave it
    connection.close_if_unusable_or_obsolete()  # as at the start of every request
    with preparing(connection.alias):
        assert connection.connection is not broken
        assert Referral.objects.filter(pk=-1).count() == 0
    assert len(having(prepared(), "COUNT(*)")) == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_prepared_statements_can_be_turned_off(client, triage_lead, monkeypatch, fresh_connection):
    options = dict(connection.settings_dict["OPTIONS"])
    options.pop("prepare_threshold")
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    connection.close()
    assert not enabled(connection.alias)
    submit("V01")
    client.force_login(triage_lead)
    for _ in range(2):
        assert client.get(LIST).status_code == 200
    assert prepared() == {}


@pytest.mark.django_db
def test_where_nothing_is_prepared_the_block_changes_nothing(monkeypatch):
    # SQLite never prepares; PostgreSQL does not with DATABASE_PREPARED_STATEMENTS=false.
    options = dict(connection.settings_dict["OPTIONS"])
    options.pop("prepare_threshold", None)
    monkeypatch.setitem(connection.settings_dict, "OPTIONS", options)
    assert not enabled(connection.alias)
    with connection.cursor() as cursor:
        plain = type(cursor.cursor)
    with preparing(connection.alias), CaptureQueriesContext(connection) as queries:
        with connection.cursor() as cursor:
            assert type(cursor.cursor) is plain
        assert Referral.objects.count() == 0
    assert len(queries) == 1
