import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from intake.models import Intake, IntakeSource
from referrals.access import queues_for
from referrals.models import Referral

pytestmark = pytest.mark.django_db


def test_demo_data_gives_one_login_per_queue_a_lead_and_a_dozen_real_cases(capsys):
    call_command("load_demo")
    out = capsys.readouterr().out
    assert "chiro / chiro-demo-2026" in out
    assert Intake.objects.filter(source=IntakeSource.DEMO).count() == 12
    assert all(i.triage_result["ruleset_version"] == "1.0.0" for i in Intake.objects.all())
    assert Referral.objects.values("queue").distinct().count() == 5
    lead = User.objects.get(username="lead")
    assert len(queues_for(lead)) == 5
    assert queues_for(User.objects.get(username="podiatry")) == {"podiatry"}
    assert User.objects.get(username="chiro").check_password("chiro-demo-2026")


def test_loading_the_demo_twice_adds_nothing(capsys):
    call_command("load_demo")
    call_command("load_demo")
    assert "already loaded" in capsys.readouterr().out
    assert Intake.objects.count() == 12
    assert User.objects.count() == 6
