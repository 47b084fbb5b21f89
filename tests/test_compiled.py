"""clinic.compiled: the ORM's statement compiled once, one parameter changed per call."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection

from clinic.compiled import compiled, compiled_instances, compiled_values, db_value

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


def test_a_compiled_values_query_gives_the_orms_rows_for_each_placeholder_value():
    for name in ("ada", "ben", "cy"):
        User.objects.create(username=name, first_name=name.title(), is_active=name != "ben")
    field = User._meta.get_field("username")
    stand_in = db_value(field, "\x00any", connection)
    query = compiled_values(
        User.objects.filter(username__gte=stand_in, is_active=True).values("username", "pk"),
        {"from": stand_in},
    )
    assert query.names == ("username", "pk")
    for start in ("a", "b", "c", "d"):
        expected = list(
            User.objects.filter(username__gte=start, is_active=True).values("username", "pk")
        )
        assert query.rows(connection, **{"from": db_value(field, start, connection)}) == expected


def test_a_placeholder_may_stand_in_several_places():
    ada = User.objects.create(username="ada", first_name="ada")
    User.objects.create(username="ben", first_name="Ben")
    query = compiled_values(
        User.objects.filter(username="\x00any", first_name="\x00any").values("pk"),
        {"name": "\x00any"},
    )
    assert len(query.places["name"]) == 2
    assert query.rows(connection, name="ada") == [{"pk": ada.pk}]
    assert query.rows(connection, name="ben") == []


def test_compiled_values_refuses_what_it_cannot_run_faithfully():
    with pytest.raises(ValueError, match="not among"):
        compiled_values(User.objects.filter(username="x").values("pk"), {"a": "y"})
    with pytest.raises(ValueError, match="share a parameter"):
        compiled_values(User.objects.filter(username="x").values("pk"), {"a": "x", "b": "x"})
    with pytest.raises(ValueError, match="values"):
        compiled_values(User.objects.filter(username="x"), {"a": "x"})


def test_a_parameter_that_only_happens_to_equal_a_stand_in_is_caught():
    """The same statement built with another stand-in shows which parameters are the
    placeholder's: here first_name is fixed at "x" and only username is the placeholder."""

    def built(name: str):
        return User.objects.filter(username=name, first_name="x").values("pk")

    with pytest.raises(ValueError, match="other stand-ins"):
        compiled_values(built("x"), {"name": "x"}, again=(built("y"), {"name": "y"}))
    query = compiled_values(built("w"), {"name": "w"}, again=(built("y"), {"name": "y"}))
    assert len(query.places["name"]) == 1


def test_compiled_instances_are_the_instances_the_orm_reads_for_each_value():
    for name in ("ada", "ben", "cy"):
        User.objects.create(username=name, first_name=name.title(), is_active=name != "ben")

    def active_from(start: str):
        return User.objects.filter(username__gte=start, is_active=True).order_by("username")

    field = User._meta.get_field("username")
    lookup = compiled_instances(
        active_from("\x00any"),
        {"from": db_value(field, "\x00any", connection)},
        (active_from("\x00other"), {"from": db_value(field, "\x00other", connection)}),
    )
    for start in ("a", "b", "c", "d"):
        made = lookup.instances(connection, **{"from": db_value(field, start, connection)})
        read = list(active_from(start))
        assert made == read
        for mine, orms in zip(made, read, strict=True):
            assert type(mine) is User
            assert mine.__dict__.keys() == orms.__dict__.keys()
            assert {k: v for k, v in mine.__dict__.items() if k != "_state"} == {
                k: v for k, v in orms.__dict__.items() if k != "_state"
            }
            assert (mine._state.db, mine._state.adding) == (orms._state.db, False)


def test_compiled_instances_refuse_a_stand_in_the_statement_does_not_take():
    def named(name: str):
        return User.objects.filter(username=name)

    with pytest.raises(ValueError, match="not among the query's parameters"):
        compiled_instances(named("x"), {"name": "y"}, (named("z"), {"name": "z"}))
    with pytest.raises(ValueError, match="other stand-ins"):
        compiled_instances(
            User.objects.filter(username="\x00any", first_name="ada"),
            {"name": "\x00any"},
            (User.objects.filter(username="\x00other", first_name="ben"), {"name": "\x00other"}),
        )


def test_compiled_instances_take_only_the_default_fetch_mode():
    from django.db.models import FETCH_PEERS

    def named(name: str):
        return User.objects.filter(username=name)

    with pytest.raises(ValueError, match="default fetch mode"):
        compiled_instances(
            named("\x00any").fetch_mode(FETCH_PEERS),
            {"name": "\x00any"},
            (named("\x00other"), {"name": "\x00other"}),
        )
