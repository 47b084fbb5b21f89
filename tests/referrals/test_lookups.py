import pytest

from referrals.models import OPEN_STATUSES, Referral
from tests.clinic_fixtures import submit

pytestmark = pytest.mark.django_db


def test_in_constants_selects_like_in():
    (referral,) = submit("V01").referrals
    assert list(Referral.objects.filter(status__in_constants=OPEN_STATUSES)) == [referral]
    assert not Referral.objects.filter(status__in_constants=["completed"]).exists()


def test_in_constants_writes_sorted_literals_and_refuses_anything_but_codes():
    sql = str(Referral.objects.filter(status__in_constants=OPEN_STATUSES).query)
    assert "IN ('claimed', 'contacted', 'new', 'scheduled')" in sql
    with pytest.raises(ValueError, match="status codes"):
        list(Referral.objects.filter(status__in_constants=["new') OR ('1'='1"]))
