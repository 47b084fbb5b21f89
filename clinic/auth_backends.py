"""Django's ModelBackend, with a signed-in user's permissions and groups read in one query.

Every staff page asks for the user (one query), then its permissions (two: its own, its
groups'), then its group names for the queues it may see (one more): four round trips before
the page's own work. Here the user row comes with the three as aggregated columns, and they
fill the same per-request caches ModelBackend and referrals.access would fill (so both read
them); everything else is ModelBackend's.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db.models import F, OuterRef, QuerySet, StringAgg, Subquery, Value
from django.db.models.functions import Concat

from clinic.compiled import CompiledQuery, compiled
from clinic.prepared import preparing

# Group names are free text; permission names are "app_label.codename".
_SEPARATOR: Final = "\x1f"


def _aggregated(rows: QuerySet[Any], expression: Any) -> Subquery:
    """One text column of ``rows``, joined by _SEPARATOR, for the user in the outer query."""
    return Subquery(
        rows.order_by()
        .annotate(_one=Value(1))
        .values("_one")
        .annotate(joined=StringAgg(expression, delimiter=Value(_SEPARATOR)))
        .values("joined")
    )


def _split(joined: str | None) -> set[str]:
    return set(joined.split(_SEPARATOR)) if joined else set()


# A user id no user has: its place among the compiled query's parameters is the user's.
_ANY_USER: Final = -7_391_204


@cache
def _user_query(alias: str) -> CompiledQuery:
    """The user query compiled once per database: building it through the ORM for every
    request cost more CPU than the three queries it replaces."""
    name = Concat(F("content_type__app_label"), Value("."), F("codename"))
    return compiled(
        get_user_model()
        ._default_manager.using(alias)
        .annotate(
            _own_permissions=_aggregated(Permission.objects.filter(user=OuterRef("pk")), name),
            _group_permissions=_aggregated(
                Permission.objects.filter(group__user=OuterRef("pk")), name
            ),
            _group_names=_aggregated(Group.objects.filter(user=OuterRef("pk")), F("name")),
        )
        .filter(pk=_ANY_USER),
        _ANY_USER,
    )


class StaffModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        user_model = get_user_model()
        manager = user_model._default_manager
        try:
            user_id = user_model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        query = _user_query(manager.db)
        with preparing(manager.db):
            user: Any = next(iter(manager.raw(query.sql, query.params_with(user_id))), None)
        if user is None or not self.user_can_authenticate(user):
            return None
        own, inherited = _split(user._own_permissions), _split(user._group_permissions)
        # A superuser's permissions are every permission: ModelBackend reads those itself.
        if not user.is_superuser:
            user._user_perm_cache = own
            user._group_perm_cache = inherited
            user._perm_cache = own | inherited
        user._clinic_group_names = _split(user._group_names)  # referrals.access._group_names
        return user
