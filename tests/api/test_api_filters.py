"""clinic.api_filters.FilterBackend: django-filter's backend, with no FilterSet built for a request
that names none of the filters, and the same answers either way."""

from __future__ import annotations

import django_filters
import pytest
from django.test import RequestFactory
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from clinic.api_filters import FilterBackend
from referrals.api import ReferralFilter
from referrals.models import Referral
from tests.api.test_referrals_api import ids, many_cases

pytestmark = pytest.mark.django_db

INVALID_LOOKUP = "Select a valid choice. bogus is not one of the available choices."


@pytest.fixture
def filtersets(monkeypatch: pytest.MonkeyPatch) -> list[ReferralFilter]:
    """Every ReferralFilter the requests build."""
    built: list[ReferralFilter] = []
    original = ReferralFilter.__init__

    def spy(self: ReferralFilter, *args, **kwargs) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ReferralFilter, "__init__", spy)
    return built


@pytest.mark.parametrize("params", [{}, {"limit": "3"}, {"unknown": "x"}])
def test_a_list_that_names_no_filter_builds_no_filterset(api, filtersets, params):
    expected = [str(r.public_id) for r in many_cases()]
    response = api.get("/api/v1/referrals", **params)
    assert response.status_code == 200
    assert ids(response.json()["results"]) == expected[: int(params.get("limit", 50))]
    assert filtersets == []


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"queue": "chiropractic"}, 200),
        ({"queue": ""}, 200),  # empty: django-filter reads it as no filter
        ({"status": "claimed", "limit": "2"}, 200),
        ({"overdue": "maybe"}, 400),  # not true or false (referrals.api.StrictBooleanField)
        ({"queue": "nowhere"}, 400),
        ({"updated_since": "yesterday"}, 400),
    ],
)
def test_a_list_that_names_a_filter_goes_through_django_filter(api, filtersets, params, status):
    many_cases()
    response = api.get("/api/v1/referrals", **params)
    assert response.status_code == status
    assert len(filtersets) == 1
    if status == 400:
        assert list(response.json()["errors"]) == [next(iter(params))]


@pytest.mark.parametrize(
    "query",
    ["queue=podiatry&queue=chiropractic", "queue=podiatry&queue=podiatry", "overdue=&overdue=true"],
)
def test_a_filter_given_twice_is_refused_not_read_as_its_last(api, query):
    """?queue=podiatry&queue=chiropractic listed chiropractic alone, silently (an API QA
    round): each filter takes one value."""
    name = query.split("=")[0]
    response = api.client.get(f"/api/v1/referrals?{query}", headers=api.headers)
    assert response.status_code == 400
    assert response.json() == {
        "errors": {name: [f"Give {name} once: each filter takes one value."]}
    }


@pytest.mark.parametrize("params", [{}, {"cursor": "x", "limit": "1"}, {"queue": "podiatry"}])
def test_the_backend_filters_as_django_filters_own(params):
    many_cases()
    view = type("View", (), {"filterset_class": ReferralFilter})()
    request = Request(RequestFactory().get("/", params))
    queryset = Referral.objects.order_by("id")
    ours = FilterBackend().filter_queryset(request, queryset, view)
    theirs = django_filters.rest_framework.DjangoFilterBackend().filter_queryset(
        request, queryset, view
    )
    assert list(ours) == list(theirs)


class _Ranged(django_filters.FilterSet):
    priority = django_filters.RangeFilter()  # reads priority_min and priority_max

    class Meta:
        model = Referral
        fields = ["priority"]


class _Lookup(django_filters.FilterSet):
    # reads status and status_lookup
    status = django_filters.LookupChoiceFilter(lookup_choices=["exact", "startswith"])

    class Meta:
        model = Referral
        fields = ["status"]


class _Required(django_filters.FilterSet):
    queue = django_filters.CharFilter(required=True)

    class Meta:
        model = Referral
        fields = ["queue"]


def _outcome(backend, filterset_class, params):
    view = type("View", (), {"filterset_class": filterset_class})()
    request = Request(RequestFactory().get("/", params))
    try:
        return sorted(r.pk for r in backend.filter_queryset(request, Referral.objects.all(), view))
    except ValidationError as exc:
        return exc.detail  # the errors per field, as the API's 400 gives them


@pytest.mark.parametrize(
    ("filterset_class", "params", "expected"),
    [
        (_Ranged, {"priority_min": "1000"}, []),
        (_Lookup, {"status_lookup": "bogus"}, {"status": [INVALID_LOOKUP]}),
        (_Required, {}, {"queue": ["This field is required."]}),
    ],
)  # fmt: skip
def test_a_filter_set_that_is_not_all_plain_always_goes_through_django_filter(
    filterset_class, params, expected
):
    """Each request names no filter by its own name, and django-filter still filters or
    refuses: a range's bounds, a lookup choice's lookup, a missing required filter."""
    many_cases()
    ours = _outcome(FilterBackend(), filterset_class, params)
    assert ours == _outcome(
        django_filters.rest_framework.DjangoFilterBackend(), filterset_class, params
    )
    assert ours == expected
