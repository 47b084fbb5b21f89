"""The queue page for a plain GET (referrals/admin_queue_page.py) against Django's own view."""

import datetime as dt
import re
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.timesince import timesince
from hypothesis import given, settings
from hypothesis import strategies as st

from referrals import admin as referral_admin
from referrals import admin_queue, admin_queue_page, selectors
from referrals.admin import waiting_text
from referrals.admin_queue import CappedCountPaginator
from referrals.models import Referral, Status, Urgency
from referrals.services import referral_claim
from tests.clinic_fixtures import details, submit

LIST = reverse("admin:referrals_referral_changelist")


def normalised(html: str) -> str:
    """A page without what differs on every request: the CSP nonce and the CSRF token."""
    return re.sub(r'(nonce="|name="csrfmiddlewaretoken" value=")[^"]+', r"\1-", html)


def both_pages(client, monkeypatch, params):
    """The page as the queue page draws it, then as Django's changelist_view does."""
    fast = client.get(LIST, params)
    assert fast.status_code == 200
    assert "admin/referrals/referral/queue_page.html" in [t.name for t in fast.templates]
    with monkeypatch.context() as patch:
        patch.setattr(referral_admin, "queue_changelist_view", lambda *args: None)
        django = client.get(LIST, params)
    assert django.status_code == 200
    assert "admin/referrals/referral/queue_page.html" not in [t.name for t in django.templates]
    return normalised(fast.content.decode()), normalised(django.content.decode())


@pytest.fixture
def queue(triage_lead):
    """Cases in every queue, one claimed, one overdue, names that need escaping."""
    admin_queue_page.FRAGMENTS.clear()
    for i, case in enumerate(["V01", "V09", "V11", "V22", "V06", "V17"]):
        submit(case, patient=details(family_name=f"O'Brien<{i}>", phone=f"07700 94{i:04d}"))
    first, second = Referral.objects.order_by("id")[:2]
    referral_claim(referral=first, actor=triage_lead)
    Referral.objects.filter(pk=second.pk).update(due_at=timezone.now() - dt.timedelta(hours=2))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status": "any"},
        {"status": "any", "o": "2.-7"},
        {"queue": "podiatry", "status": "any"},
        {"overdue": "yes"},
        {"assigned": "me", "urgency__exact": "routine"},
        {"link": "back_to_foot", "status": "any"},
        {"link": "back_to_foot", "status": "any", "since": "2020-09-06"},
        {"since": "2000-01-01", "queue": "podiatry"},
        {"q": "O'Brien"},
        {"q": "no such patient"},
        {"status": "any", "p": "2"},
    ],
)
def test_the_queue_page_is_djangos_page(client, triage_lead, queue, monkeypatch, params):
    monkeypatch.setattr(referral_admin.ReferralAdmin, "list_per_page", 4)
    client.force_login(triage_lead)
    client.get(LIST)  # the session is extended on the first request after logging in
    fast, django = both_pages(client, monkeypatch, params)
    assert fast == django
    # A second request draws the shared parts from the memo: still the same page.
    again, _ = both_pages(client, monkeypatch, params)
    assert again == django


@pytest.mark.django_db
def test_requests_that_share_parts_of_the_page_still_get_djangos_page(
    client, triage_lead, queue, monkeypatch
):
    """One memo for every request: pages, orderings and filters drawn one after another."""
    monkeypatch.setattr(referral_admin.ReferralAdmin, "list_per_page", 2)
    client.force_login(triage_lead)
    client.get(LIST)
    for params in (
        {"status": "any"},
        {"status": "any", "p": "2"},
        {"status": "any", "p": "3"},
        {"status": "any", "o": "7", "p": "2"},
        {"status": "any", "o": "7"},
        {"status": "any", "queue": "podiatry"},
        {},
        {"p": "2"},
    ):
        fast, django = both_pages(client, monkeypatch, params)
        assert fast == django, params


@pytest.mark.django_db
def test_the_rows_labels_follow_the_language(client, triage_lead, queue, monkeypatch, settings):
    """The rows' labels are translated once per language: each language's page is Django's."""
    client.force_login(triage_lead)
    client.get(LIST)
    for language in ("fr", "en-gb", "fr"):
        settings.LANGUAGE_CODE = language
        admin_queue_page.FRAGMENTS.clear()
        fast, django = both_pages(client, monkeypatch, {"status": "any"})
        assert fast == django, language
    assert "Choisir cet objet pour une action - " in fast  # Django's French, not English


@pytest.mark.django_db
def test_the_page_escapes_names_and_shows_overdue_and_claimed_rows(client, triage_lead, queue):
    client.force_login(triage_lead)
    page = client.get(LIST, {"status": "any"}).content.decode()
    assert "O&#x27;BRIEN&lt;0&gt;" in page
    assert "<0>" not in page
    assert "Overdue since" in page
    assert f'<td class="field-assigned_to nowrap">{triage_lead.username}</td>' in page


@pytest.mark.django_db
def test_each_team_gets_its_own_filter_panel(
    client, queue, chiropractor, podiatrist, triage_lead, monkeypatch
):
    """The panel lists the user's own queues: the memo is keyed by them."""
    for user in (triage_lead, chiropractor, podiatrist, chiropractor):
        client.force_login(user)
        client.get(LIST)
        fast, django = both_pages(client, monkeypatch, {"status": "any"})
        assert fast == django
    assert "Podiatry" not in fast.split('id="changelist-filter"')[1].split("</search>")[0]


@pytest.mark.django_db
def test_the_capped_count_reads_the_same(client, triage_lead, queue, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 4)
    client.force_login(triage_lead)
    client.get(LIST)
    fast, django = both_pages(client, monkeypatch, {"status": "any"})
    assert fast == django
    assert "More than 4 referrals" in fast


@pytest.mark.django_db
def test_a_search_is_never_memoised_and_the_memo_is_bounded(
    client, triage_lead, queue, monkeypatch
):
    monkeypatch.setattr(admin_queue_page.FRAGMENTS, "size", 6)
    client.force_login(triage_lead)
    client.get(LIST)
    admin_queue_page.FRAGMENTS.clear()
    client.get(LIST, {"q": "O'Brien"})
    # Only the sidebar, which shows no query.
    assert [key[0] for key in admin_queue_page.FRAGMENTS.entries()] == ["nav-sidebar"]
    for status in ("new", "claimed", "any", "open"):
        client.get(LIST, {"status": status})
    assert len(admin_queue_page.FRAGMENTS) == 6


@pytest.mark.django_db
def test_the_actions_and_popups_are_djangos_view(client, triage_lead, queue):
    client.force_login(triage_lead)
    referral = Referral.objects.filter(status=Status.NEW).order_by("id")[0]
    response = client.post(
        LIST, {"action": "claim_selected", "_selected_action": [referral.pk], "index": "0"}
    )
    assert response.status_code == 302
    referral.refresh_from_db()
    assert referral.status == Status.CLAIMED
    popup = client.get(LIST, {"_popup": "1"})
    assert popup.status_code == 200
    assert "admin/referrals/referral/queue_page.html" not in [t.name for t in popup.templates]


@pytest.mark.django_db
@pytest.mark.parametrize("selected", ["abc", "1.5", "٣", "", "9" * 20])
def test_an_action_on_a_selection_that_is_not_row_ids_is_a_message(
    client, triage_lead, queue, selected
):
    """A hand-made POST selecting something else raised in the action's query: a 500."""
    client.force_login(triage_lead)
    referral = Referral.objects.filter(status=Status.NEW).order_by("id")[0]
    data = {"action": "claim_selected", "_selected_action": [referral.pk, selected], "index": "0"}
    response = client.post(LIST, data, follow=True)
    assert response.status_code == 200
    assert "The selection was not understood" in response.content.decode()
    referral.refresh_from_db()
    assert referral.status == Status.NEW


@pytest.mark.django_db
def test_the_queue_page_is_forbidden_without_the_view_permission(client, cases_user_without_perm):
    client.force_login(cases_user_without_perm)
    assert client.get(LIST).status_code == 403


@pytest.fixture
def cases_user_without_perm(django_user_model):
    return django_user_model.objects.create_user(username="no-perm", password="x", is_staff=True)


@settings(max_examples=300, deadline=None)
@given(
    waited=st.timedeltas(min_value=dt.timedelta(days=-3), max_value=dt.timedelta(days=800)),
    now=st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 1, 1)),
    language=st.sampled_from(["en-gb", "fr", "de", "pl"]),
)
def test_the_waiting_column_is_timesince(waited, now, language):
    """Ages under four weeks come from a per-minute cache; they must read as timesince."""
    now = now.replace(tzinfo=dt.UTC)
    with translation.override(language):
        assert waiting_text(now - waited, now, language) == timesince(now - waited, now)


@pytest.mark.parametrize("language", ["en-gb", "fr"])
def test_the_urgency_badge_is_drawn_once_per_urgency_and_language(language):
    """Every row has one and a page has a handful of distinct ones: a refactor once dropped
    its memo and the queue page cost ~60 µs more per row (docs/BENCHMARKS.md)."""
    badge = referral_admin.urgency_badge_html
    with translation.override(language):
        first = badge("emergency", language)
        assert badge("emergency", language) is first
        label = str(dict(Urgency.choices)["emergency"])
    assert first == f'<span class="urgency urgency-emergency">{label}</span>'


@pytest.mark.django_db
def test_every_request_gets_its_own_nonce_in_the_memoised_parts(client, chiropractor, queue):
    client.force_login(chiropractor)
    client.get(LIST)
    seen = set()
    for _ in range(2):
        response = client.get(LIST)
        match = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
        assert match is not None
        page = response.content.decode()
        assert set(re.findall(r'nonce="([^"]+)"', page)) == {match.group(1)}
        assert "queue-page-nonce" not in page
        seen.add(match.group(1))
    assert len(seen) == 2


@pytest.mark.django_db
def test_the_default_views_statements_are_compiled_once_per_queue_set(
    client, chiropractor, podiatrist, triage_lead, queue, monkeypatch
):
    admin_queue.STATEMENTS.clear()
    compiles = []
    compile_values = admin_queue.compiled_values

    def counted(*args: Any, **kwargs: Any) -> Any:
        compiles.append(args)
        return compile_values(*args, **kwargs)

    monkeypatch.setattr(admin_queue, "compiled_values", counted)
    monkeypatch.setattr(referral_admin.ReferralAdmin, "list_per_page", 2)
    for user in (chiropractor, podiatrist, triage_lead):
        client.force_login(user)
        client.get(LIST)  # the session is extended on the first request after logging in
        for _ in range(2):
            fast, django = both_pages(client, monkeypatch, {})
            assert fast == django
    kept = admin_queue.STATEMENTS.entries()
    assert sorted(key[0] for key in kept) == ["count"] * 3 + ["page"] * 3
    assert len(compiles) == 3  # one page statement per queue set, then kept
    # Any other view builds its statements anew, and keeps none.
    for params in ({"status": "any"}, {"p": "2"}, {"q": "O'Brien"}):
        fast, django = both_pages(client, monkeypatch, params)
        assert fast == django
    assert admin_queue.STATEMENTS.entries() == kept


@pytest.mark.django_db
def test_the_default_view_of_no_queue_reads_nothing():
    from types import SimpleNamespace

    admin_queue.STATEMENTS.clear()
    # As QueueChangeList gives it: with the rows' red_flag_elsewhere column.
    nothing = selectors.with_red_flag_elsewhere(Referral.objects.filter(queue__in=[]))
    nothing = nothing.order_by("id")
    paginator = CappedCountPaginator(nothing, 50)
    paginator.statement_key = ("default", "referral_list")
    assert paginator.count == 0
    cl: Any = SimpleNamespace(
        list_per_page=50, multi_page=False, result_list=nothing, paginator=paginator
    )
    assert admin_queue.page_rows(cl) == []
