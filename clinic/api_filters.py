"""A filter backend for lists whose filters are all plain: django-filter's, without building a
FilterSet for a request that names none of the filters.

A FilterSet deep-copies every declared filter and builds and validates a form on each request;
for the referral list's pages that ask for no filter (the first page, every next page from a
``next`` link without one) that was about a tenth of the page's CPU, to return the queryset
unchanged. The shortcut is taken only when no query parameter is a filter's name and every
filter of the set is plain: optional, and read from the parameter of its own name by a form
field and widget of one value. A required filter (a 400 when missing), a range or a lookup
choice (their widgets read other names) and the like always go through django-filter, as does
every request that names a filter, even with an empty or invalid value
(tests/api/test_api_filters.py). Set per view (``filter_backends``), for filter sets that do
not change how django-filter builds or applies them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django import forms
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class FilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> Any:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and _all_plain(filterset_class):
            _refuse_repeated(request, filterset_class.base_filters)
            if not any(name in request.query_params for name in filterset_class.base_filters):
                return queryset
        return super().filter_queryset(request, queryset, view)


def _refuse_repeated(request: Request, names: Any) -> None:
    """A plain filter reads one value: ``?queue=podiatry&queue=chiropractic`` filtered by the
    last alone, silently (an API QA round). A 400 says so instead."""
    repeated = {
        name: [f"Give {name} once: each filter takes one value."]
        for name in names
        if len(request.query_params.getlist(name)) > 1
    }
    if repeated:
        raise ValidationError(repeated)


@cache
def _all_plain(filterset_class: type) -> bool:
    return all(_plain(f) for f in filterset_class.base_filters.values())  # type: ignore[attr-defined]


def _plain(filter_: Any) -> bool:
    """Optional, and one value read from the parameter of its own name."""
    widget = filter_.extra.get("widget", filter_.field_class.widget)
    widget_class = widget if isinstance(widget, type) else type(widget)
    field_class = getattr(filter_, "outer_class", filter_.field_class)  # LookupChoiceFilter's
    return not (
        filter_.extra.get("required")
        or issubclass(field_class, forms.MultiValueField)
        or issubclass(widget_class, forms.MultiWidget)
    )
