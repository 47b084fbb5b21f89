import pytest
from django.contrib.auth.models import AnonymousUser

from referrals import selectors
from referrals.models import OPEN_STATUSES, Queue, Referral
from tests.clinic_fixtures import submit

pytestmark = pytest.mark.django_db


def test_in_constants_selects_like_in():
    (referral,) = submit("V01").referrals
    assert list(Referral.objects.filter(status__in_constants=OPEN_STATUSES)) == [referral]
    assert not Referral.objects.filter(status__in_constants=["completed"]).exists()
    assert list(Referral.objects.filter(queue__in_constants=[referral.queue])) == [referral]
    assert not Referral.objects.filter(queue__in_constants=[Queue.PODIATRY]).exists()


def test_in_constants_writes_sorted_literals_and_refuses_anything_but_codes():
    sql = str(Referral.objects.filter(status__in_constants=OPEN_STATUSES).query)
    assert "IN ('claimed', 'contacted', 'new', 'scheduled')" in sql
    for field in ("status", "queue"):
        with pytest.raises(ValueError, match="codes"):
            list(Referral.objects.filter(**{f"{field}__in_constants": ["new') OR ('1'='1"]}))


def test_in_constants_of_nothing_selects_nothing_like_in():
    submit("V01")
    for queryset in (
        Referral.objects.filter(queue__in_constants=[]),
        Referral.objects.filter(queue__in=[]),
    ):
        assert list(queryset) == []
        assert queryset.count() == 0
        assert not queryset.exists()


def test_the_referral_list_writes_the_users_queues_into_its_statement(chiropractor, triage_lead):
    """Built per queue set (selectors.referral_list_key), prepared by PostgreSQL: with the
    queues written in, its one plan is the plan for those queues (referrals.lookups)."""
    sql, params = selectors.referral_list(user=chiropractor).query.sql_with_params()
    assert "IN ('chiropractic')" in sql
    assert Queue.CHIROPRACTIC not in params
    lead_sql, lead_params = selectors.referral_list(user=triage_lead).query.sql_with_params()
    written = ", ".join(f"'{queue}'" for queue in sorted(Queue.values))
    assert f"IN ({written})" in lead_sql
    assert not set(Queue.values) & set(lead_params)
    assert list(selectors.referral_list(user=AnonymousUser())) == []
