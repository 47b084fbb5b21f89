"""The staff pages' hot statements are prepared by PostgreSQL once per connection
(clinic/prepared.py), through Django's cursor wrapper, and nothing else is."""

import json
from collections.abc import Iterator

import psycopg
import pytest
from django.db import DataError, NotSupportedError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from clinic.prepared import enabled, preparing, unprepared
from intake.api import _visible_statement
from referrals.models import Queue, Referral, Scope
from referrals.tokens import api_token_create
from tests.api.conftest import intake_body
from tests.clinic_fixtures import details, submit
from tests.helpers import own_dsn, postgres_plan

LIST = reverse("admin:referrals_referral_changelist")


def prepared() -> dict[str, tuple[str, int]]:
    """This connection's prepared statements by name: each one's text, and how often it ran."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, statement, generic_plans + custom_plans FROM pg_prepared_statements"
        )
        return {name: (text, runs) for name, text, runs in cursor.fetchall()}


def having(statements: dict[str, tuple[str, int]], *parts: str) -> dict[str, int]:
    """How often each of the statements whose text has every one of ``parts`` ran."""
    return {
        name: runs for name, (text, runs) in statements.items() if all(p in text for p in parts)
    }


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
    connection.close()  # the submissions prepared their own statements: a new session
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
        ((name, runs),) = statement.items()
        assert runs - before.get(name, ("", 0))[1] == 3
    # Still run through Django's cursor wrapper: counted and logged like any statement. The
    # page lists an urgent medical review (V09), so a fifth statement reads the red flags of
    # later cases that joined it (referrals.admin_queue.later_red_flags), not prepared.
    assert len(queries) == 3 * 5
    # Nothing else the page ran was prepared.
    assert len(after) == 4


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "params",
    [
        {"q": "Smith"},  # a generic plan could not use what the term allows
        {"status": "claimed"},  # the status as a parameter: no partial index for a generic plan
        {"p": "2"},
        {"o": "2.-7"},
        {"queue": "podiatry"},
    ],
)
def test_a_chosen_view_of_the_queue_is_not_prepared(client, triage_lead, fresh_connection, params):
    for case in ["V01", "V09", "V11"]:
        submit(case)
    connection.close()  # the submissions prepared their own statements: a new session
    client.force_login(triage_lead)
    for _ in range(2):
        assert client.get(LIST, params).status_code == 200
    assert having(prepared(), "referrals_referral") == {}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_api_token_lookup_and_first_page_are_prepared(client, fresh_connection):
    for case in ["V01", "V06", "V22"]:
        submit(case)
    connection.close()  # the submissions prepared their own statements: a new session
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
def test_a_block_inside_a_block_leaves_the_outer_one_preparing(fresh_connection):
    from django.db.backends.postgresql.base import ServerBindingCursor
    from psycopg import ClientCursor

    with preparing(connection.alias):
        with preparing(connection.alias), connection.cursor() as cursor:
            assert isinstance(cursor.cursor, ServerBindingCursor)
        with connection.cursor() as cursor:
            assert isinstance(cursor.cursor, ServerBindingCursor)
    with connection.cursor() as cursor:
        assert isinstance(cursor.cursor, ClientCursor)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_an_unprepared_block_inside_a_preparing_one_binds_client_side(fresh_connection):
    from django.db.backends.postgresql.base import ServerBindingCursor
    from psycopg import ClientCursor

    with preparing(connection.alias):
        with unprepared(connection.alias), connection.cursor() as cursor:
            assert isinstance(cursor.cursor, ClientCursor)
            assert Referral.objects.filter(pk=-1).count() == 0
        with connection.cursor() as cursor:
            assert isinstance(cursor.cursor, ServerBindingCursor)
    assert prepared() == {}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_after_a_rollback_the_statements_are_prepared_again(fresh_connection):
    def count() -> int:
        with preparing(connection.alias):
            return Referral.objects.filter(pk=-1).count()

    count()
    assert list(having(prepared(), "COUNT(*)").values()) == [1]

    def count_then_fail() -> None:
        with transaction.atomic():
            count()
            raise RuntimeError("the transaction rolls back")

    with pytest.raises(RuntimeError):
        count_then_fail()
    # psycopg forgot (and deallocated) every prepared statement on the rollback ...
    assert having(prepared(), "COUNT(*)") == {}
    # ... and prepares the next run's again.
    assert count() == 0
    assert list(having(prepared(), "COUNT(*)").values()) == [1]


@pytest.fixture
def probe_table(fresh_connection: None) -> Iterator[None]:
    """A table of its own, whose column another session can change under a prepared plan."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE prepared_probe (value integer)")
        cursor.execute("INSERT INTO prepared_probe VALUES (1)")
    yield
    connection.close()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE prepared_probe")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_statement_whose_columns_changed_type_fails_once_then_runs_again(probe_table):
    def read() -> list[tuple[int]]:
        with preparing(connection.alias), connection.cursor() as cursor:
            cursor.execute("SELECT value FROM prepared_probe WHERE value >= %s", [0])
            return cursor.fetchall()

    assert read() == [(1,)]
    # A migration in another session changes the column under the prepared statement.
    dsn = own_dsn()
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("ALTER TABLE prepared_probe ALTER COLUMN value TYPE bigint")
    with pytest.raises(NotSupportedError, match="cached plan must not change result type"):
        read()
    # The connection was closed: the next request's connection prepares it afresh.
    assert connection.connection is None
    assert read() == [(1,)]


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
        with unprepared(connection.alias), connection.cursor() as cursor:
            assert type(cursor.cursor) is plain
    assert len(queries) == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_submissions_statements_are_prepared_but_the_patient_lookup(client, fresh_connection):
    """An API submission's statements are prepared (planning and parsing them, the answers and
    triage written in as literals, cost PostgreSQL more than running them): the rate count,
    every statement of the write (the task row too, where tasks are stored: not in these
    tests) and the read of the referrals it answers with. Their generic
    plans, made without the values, read the patient's open referrals by the patient and the
    answer's referrals by key (each one's red_flag_elsewhere by the patient's cases, on the intake
    table's patient index). The patient lookup is not prepared: its generic plan read every
    patient born that day by the birth-date index and filtered them by name."""
    # For this session: plans made without the parameters' values, and (the tables are nearly
    # empty here) not by reading a whole table.
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute("SET enable_seqscan = off")
    token = api_token_create(name="Kiosk", scopes=Scope.values, queues=())
    bearer = {"Authorization": f"Bearer {token.raw}"}
    body = json.dumps(intake_body("V22", details(family_name="Prepared")))
    answered = [
        client.post("/api/v1/intakes", body, content_type="application/json", headers=bearer)
        for _ in range(2)  # the second joins the first's referrals
    ]
    assert [response.status_code for response in answered] == [201, 201]
    shown = [r["id"] for r in answered[1].json()["referrals"]]
    assert len(shown) == 3
    assert shown == [r["id"] for r in answered[0].json()["referrals"]]

    statements = prepared()
    runs = {
        part: list(having(statements, part).values())
        for part in (
            'UPDATE "intake_ratecounter"',
            "pg_advisory_xact_lock",
            'INSERT INTO "intake_patient"',
            'UPDATE "intake_patient"',
            'INSERT INTO "intake_intake"',
            'INSERT INTO "referrals_referral"',
            'INSERT INTO "referrals_referralintake"',
            'INSERT INTO "referrals_referralevent"',
        )
    }
    assert runs == {
        'UPDATE "intake_ratecounter"': [2],
        "pg_advisory_xact_lock": [2],
        'INSERT INTO "intake_patient"': [1],
        'UPDATE "intake_patient"': [1],  # the returning patient's latest submission
        'INSERT INTO "intake_intake"': [2],
        'INSERT INTO "referrals_referral"': [1],  # three in one statement; then joined
        'INSERT INTO "referrals_referralintake"': [2],
        'INSERT INTO "referrals_referralevent"': [2],
    }
    locking = having(statements, "referrals_referral", "patient_id", "FOR UPDATE")
    answer = having(statements, "referrals_referral", "intake_intake", "auth_user")
    assert list(locking.values()) == [2]  # one queue set, run by each submission
    assert list(answer.values()) == [2]
    assert not having(statements, 'FROM "intake_patient"')

    referrals = Referral.objects.filter(public_id__in=shown)
    patient = referrals[0].patient_id
    # The answer's statement takes the ids and, for its red_flag_elsewhere column, the
    # constants of its subquery (as parameters, in the order the compiled statement has them).
    pks = referrals.values_list("pk", flat=True)
    compiled = _visible_statement("default", 3, tuple(sorted(Queue.values)))  # the token's
    values = compiled.params_for(**{f"id{i}": pk for i, pk in enumerate(pks)})
    ids = ", ".join(str(value).lower() for value in values)
    ((locking_name,),) = [locking]
    ((answer_name,),) = [answer]
    # The locking read by its patient (whichever of the patient's indexes).
    ((condition,),) = _conditions(f"EXECUTE {locking_name}({patient})").values()
    assert "patient_id = $1" in condition
    # The answer's referrals by key, and each joined row by its own.
    answer_plan = _conditions(f"EXECUTE {answer_name}({ids})")
    assert answer_plan.pop("referrals_referral")[0].startswith("(id = ANY (ARRAY[")
    assert answer_plan == {
        "intake_intake": ["(id = referrals_referral.intake_id)"],
        "auth_user": ["(id = referrals_referral.assigned_to_id)"],
        "T5": ["(id = referrals_referral.rerouted_from_id)"],
        # red_flag_elsewhere: the patient's cases, by the intake table's patient index.
        "U0": ["(patient_id = referrals_referral.patient_id)"],
    }


def _conditions(statement: str) -> dict[str, list[str]]:
    """Each table's index conditions in the plan of ``statement``, by alias (every table read
    by an index: a scan of a whole table fails the test)."""
    nodes = postgres_plan(statement)
    scans = [n for n in nodes if "Relation Name" in n]
    out: dict[str, list[str]] = {}
    for node in scans:
        # A bitmap scan's condition is on its heap scan too, as the condition it rechecks.
        condition = node.get("Index Cond") or node.get("Recheck Cond")
        assert condition, node
        out.setdefault(node["Alias"], []).append(condition)
    return out
