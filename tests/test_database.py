"""What the service expects of its database, checked on the real server."""

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction


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
