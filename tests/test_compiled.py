"""clinic.compiled: the ORM's statement compiled once, one parameter changed per call."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection

from clinic.compiled import compiled

pytestmark = pytest.mark.django_db


def test_the_placeholders_place_takes_each_value():
    ada = User.objects.create(username="ada", is_active=True)
    User.objects.create(username="ben", is_active=False)
    query = compiled(User.objects.filter(username="\x00any", is_active=True), "\x00any")
    for name, expected in (("ada", [ada.pk]), ("ben", []), ("nobody", [])):
        with connection.cursor() as cursor:
            cursor.execute(query.sql, query.params_with(name))
            rows = cursor.fetchall()
        assert [row[0] for row in rows] == expected
    assert User.objects.filter(username="ada", is_active=True).query.sql_with_params()[0] == (
        query.sql
    )


def test_a_placeholder_that_is_not_exactly_one_parameter_is_refused():
    with pytest.raises(ValueError, match="2 of the query's parameters"):
        compiled(User.objects.filter(username="x", first_name="x"), "x")
    with pytest.raises(ValueError, match="0 of the query's parameters"):
        compiled(User.objects.filter(username="x"), "y")
