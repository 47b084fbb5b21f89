"""What the service expects of its database, checked on the real server."""

import datetime as dt
import subprocess
import sys
import time
import urllib.parse

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from intake.locks import lock_name
from tests.helpers import ROOT, child_env, run_python


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_postgresql_is_version_15_or_newer_without_the_sqlite_pragmas():
    assert connection.vendor == "postgresql"
    assert connection.pg_version >= 150000  # type: ignore[attr-defined]
    assert "init_command" not in connection.settings_dict["OPTIONS"]
    assert connection.settings_dict["OPTIONS"]["connect_timeout"] == 5


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_row_locked_for_update_is_locked_for_another_connection():
    # The referral service relies on select_for_update to serialise claims;
    # this proves the lock holds across two real connections.
    user = get_user_model().objects.create_user("locked-clerk")
    params = connection.get_connection_params()
    dsn = {k: v for k, v in params.items() if k in {"dbname", "user", "password", "host", "port"}}
    with transaction.atomic():
        get_user_model().objects.select_for_update().get(pk=user.pk)
        with (
            psycopg.connect(**dsn, autocommit=True) as other,
            pytest.raises(psycopg.errors.LockNotAvailable),
        ):
            other.execute("SELECT id FROM auth_user WHERE id = %s FOR UPDATE NOWAIT", [user.pk])
    with psycopg.connect(**dsn, autocommit=True) as other:
        row = other.execute("SELECT id FROM auth_user WHERE id = %s FOR UPDATE NOWAIT", [user.pk])
        assert row.fetchone() == (user.pk,)


@pytest.mark.django_db
def test_sqlite_or_postgresql_answers_a_query():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


SHOW_OPTIONS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.DATABASES['default']['OPTIONS'].get('options'))"
)


@pytest.mark.parametrize(
    ("given", "options"),
    [
        ({}, "-c search_path=public -c idle_in_transaction_session_timeout=300s"),
        (
            {"DATABASE_IDLE_TRANSACTION_TIMEOUT": "45"},
            "-c search_path=public -c idle_in_transaction_session_timeout=45s",
        ),
        ({"DATABASE_IDLE_TRANSACTION_TIMEOUT": "0"}, "-c search_path=public"),  # the server's
        (
            {"DATABASE_URL_OPTIONS": "-c idle_in_transaction_session_timeout=60s"},
            "-c idle_in_transaction_session_timeout=60s",  # the URL's own, not overridden
        ),
    ],
)
def test_postgresql_connections_end_a_transaction_left_idle(given, options):
    """DATABASE_IDLE_TRANSACTION_TIMEOUT (seconds, 300 by default) joins the options the
    database URL gives; 0 leaves it to the server, and a timeout the URL sets is kept."""
    given = dict(given)
    url_options = given.pop("DATABASE_URL_OPTIONS", "-c search_path=public")
    url = f"postgres://postgres@127.0.0.1:5432/any?options={urllib.parse.quote(url_options)}"
    done = run_python(SHOW_OPTIONS, {"DATABASE_URL": url, **given})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == options


def test_a_negative_idle_transaction_timeout_is_refused():
    url = "postgres://postgres@127.0.0.1:5432/any"
    done = run_python(
        SHOW_OPTIONS, {"DATABASE_URL": url, "DATABASE_IDLE_TRANSACTION_TIMEOUT": "-1"}
    )
    assert done.returncode != 0
    assert "DATABASE_IDLE_TRANSACTION_TIMEOUT=-1 is below the minimum of 0." in done.stderr


def _test_database_url() -> str:
    """The test database's URL, for a child process's settings."""
    settings_dict = connection.settings_dict
    return (
        f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}"
        f"/{settings_dict['NAME']}"
    )


HOLD_AND_IDLE = """
import datetime as dt, os, sys, time
import django
django.setup()
from django.db import connection, transaction
from intake.locks import lock_identity
with transaction.atomic():
    lock_identity("idle-holder", dt.date(1970, 1, 1))
    print("locked", flush=True)
    time.sleep(float(sys.argv[1]))
    try:
        connection.cursor().execute("SELECT 1")
    except Exception as error:  # the server ended the session: nothing to roll back
        print("ended:", str(error).splitlines()[0], flush=True)
        os._exit(0)
print("still open", flush=True)
"""


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_a_patients_lock_held_by_a_transaction_left_idle_is_released_by_the_server():
    """A web process that stopped answering in the middle of a transaction (a host lost: the
    server keeps its connection until TCP keepalive gives up, hours) held a patient's lock, and
    every write for that patient waited. With the settings' timeout (1 s here) the server ends
    the session and the lock is free; the process hears of it on its next statement."""
    url = _test_database_url()
    holder = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", HOLD_AND_IDLE, "6"],
        cwd=ROOT,
        env=child_env({"DATABASE_URL": url, "DATABASE_IDLE_TRANSACTION_TIMEOUT": "1"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        name = lock_name("idle-holder", dt.date(1970, 1, 1))
        began = time.monotonic()
        with connection.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [name])
                if cursor.fetchone()[0]:
                    break
                assert time.monotonic() - began < 5, "the idle transaction still holds the lock"
                time.sleep(0.1)
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [name])
        out, err = holder.communicate(timeout=30)
    finally:
        holder.kill()
    assert out.startswith("ended: terminating connection due to idle-in-transaction timeout"), (
        out + err
    )


@pytest.mark.parametrize(
    ("pgoptions", "options"),
    [
        (
            "-c statement_timeout=4321",
            "-c statement_timeout=4321 -c idle_in_transaction_session_timeout=300s",
        ),
        # The operator's own timeout: no options of ours, so libpq sends theirs.
        ("-c idle_in_transaction_session_timeout=60s", None),
    ],
)
def test_the_environment_s_pgoptions_are_not_dropped_by_the_idle_timeout(pgoptions, options):
    """libpq reads PGOPTIONS only for a connection that gives no ``options`` of its own: the
    idle timeout, sent as the connection's options whenever the URL gives none, silently
    dropped whatever an operator had set there (a search_path, a statement_timeout, their own
    idle timeout, which 9081c25 kept when the URL carried it)."""
    url = "postgres://postgres@127.0.0.1:5432/any"
    done = run_python(SHOW_OPTIONS, {"DATABASE_URL": url, "PGOPTIONS": pgoptions})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(options)


SHOW_STATEMENT_TIMEOUT = (
    "import django; django.setup(); from django.db import connection; "
    "cursor = connection.cursor(); cursor.execute('SHOW statement_timeout'); "
    "print(cursor.fetchone()[0])"
)


@pytest.mark.postgres_only
@pytest.mark.django_db
def test_a_connection_keeps_the_statement_timeout_pgoptions_sets():
    """The same on a real connection: the server is told PGOPTIONS' setting."""
    url = _test_database_url()
    done = run_python(
        SHOW_STATEMENT_TIMEOUT, {"DATABASE_URL": url, "PGOPTIONS": "-c statement_timeout=4321"}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4321ms"
