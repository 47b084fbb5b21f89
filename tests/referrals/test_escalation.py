import datetime as dt
import re
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from intake.messages import staff_disclaimer
from intake.models import Intake
from referrals.models import Action, EventKind, Referral
from referrals.services import referral_transition
from referrals.tasks import escalate
from tests.clinic_fixtures import details, submit, worked_case
from tests.conftest import on_postgresql
from tests.helpers import sqlite_plan

pytestmark = pytest.mark.django_db


def submit_then_fail() -> None:
    with transaction.atomic():
        submit("V09", patient=details(phone="07700 900002"))
        raise RuntimeError("the request failed after the case was written")


def run_worker() -> None:
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", verbosity=0)


def test_escalation_marks_a_referral_overdue_once_when_its_due_time_passes(triage_lead):
    (referral,) = submit("V01").referrals
    assert escalate(now=referral.due_at - dt.timedelta(minutes=1)) == {"overdue": 0, "alerts": 0}
    mail.outbox.clear()
    assert escalate(now=referral.due_at + dt.timedelta(minutes=1))["overdue"] == 1
    referral.refresh_from_db()
    assert referral.overdue_at is not None
    assert [m.to for m in mail.outbox] == [[triage_lead.email]]
    assert referral.intake.reference in mail.outbox[0].body
    assert escalate(now=referral.due_at + dt.timedelta(minutes=2))["overdue"] == 0
    assert referral.events.filter(kind=EventKind.OVERDUE).count() == 1


def test_an_unclaimed_emergency_alerts_again_every_15_minutes(triage_lead, medical_reviewer):
    (referral,) = submit("V09").referrals
    start = referral.created_at
    assert escalate(now=start + dt.timedelta(minutes=14))["alerts"] == 0
    mail.outbox.clear()
    assert escalate(now=start + dt.timedelta(minutes=16))["alerts"] == 1
    recipients = sorted(r for m in mail.outbox for r in m.to)
    assert recipients == sorted([triage_lead.email, medical_reviewer.email])
    assert escalate(now=start + dt.timedelta(minutes=20))["alerts"] == 0
    assert escalate(now=start + dt.timedelta(minutes=32))["alerts"] == 1
    assert Referral.objects.get().events.filter(kind=EventKind.ALERT).count() == 2


def test_the_lead_and_queue_emails_end_with_the_staff_text_naming_their_cases_rulesets(
    triage_lead, medical_reviewer
):
    """They tell staff cases' urgencies and queues: spec §7's staff text goes with them
    (docs/CLINICAL_DECISIONS.md, Patient texts 6), naming the ruleset versions of the cases
    listed."""
    (routine,) = submit("V01").referrals
    (emergency,) = submit("V09", patient=details(phone="07700 900002")).referrals
    Intake.objects.filter(pk=routine.intake.pk).update(ruleset_version="0.9.0")
    mail.outbox.clear()
    assert escalate(now=routine.due_at + dt.timedelta(minutes=1)) == {"overdue": 2, "alerts": 1}
    lead, *paged = mail.outbox
    assert lead.to == [triage_lead.email]
    lines, text = lead.body.rsplit("\n\n", 1)
    assert f"Overdue: {routine.intake.reference} in Chiropractic" in lines
    assert f"UNCLAIMED EMERGENCY: {emergency.intake.reference}" in lines
    assert text == staff_disclaimer(ruleset_version="0.9.0, 1.0.0")
    # The emergency's queue is paged again, with its own case's version.
    assert [m.to for m in paged] == [[medical_reviewer.email]]
    assert paged[0].body.endswith("\n\n" + staff_disclaimer(ruleset_version="1.0.0"))


def test_a_run_whose_email_fails_marks_nothing_and_the_next_run_tells(
    triage_lead, medical_reviewer, monkeypatch
):
    """The marks committed before the email was sent: a mail failure lost the alert for good
    (a review found it). Not told, not marked: the next minute's run finds them again."""
    (late,) = submit("V01", patient=details(phone="07700 900011")).referrals
    (emergency,) = submit("V09", patient=details(phone="07700 900012")).referrals
    now = max(late.due_at, emergency.created_at + dt.timedelta(minutes=16)) + dt.timedelta(
        minutes=1
    )
    mail.outbox.clear()

    def no_smtp(*args: object, **kwargs: object) -> None:
        raise OSError("the mail server is away")

    monkeypatch.setattr("referrals.tasks.send_mail", no_smtp)
    with pytest.raises(OSError, match="away"):
        escalate(now=now)
    for referral in (late, emergency):
        referral.refresh_from_db()
        assert (referral.overdue_at, referral.last_alert_at) == (None, None)
        assert not referral.events.filter(kind__in=[EventKind.OVERDUE, EventKind.ALERT]).exists()
    monkeypatch.undo()
    told = escalate(now=now + dt.timedelta(minutes=1))
    assert told["overdue"] >= 1
    assert told["alerts"] == 1
    assert any(late.intake.reference in m.body for m in mail.outbox)


def test_a_closed_referral_past_its_due_time_is_never_marked(triage_lead, chiropractor):
    (referral,) = submit("V01").referrals
    referral_transition(
        referral=referral, action=Action.CANCEL, actor=chiropractor, reason="Seen elsewhere"
    )
    assert escalate(now=referral.due_at + dt.timedelta(days=1)) == {"overdue": 0, "alerts": 0}


@pytest.mark.parametrize(
    "moves", [(Action.CLAIM, Action.CONTACT), (Action.CLAIM, Action.CONTACT, Action.SCHEDULE)]
)
def test_a_contacted_or_scheduled_referral_past_its_due_time_is_still_marked_overdue(
    triage_lead, chiropractor, moves
):
    """docs/CLINICAL_DECISIONS.md, due times 7: a referral is on the clock until it is closed."""
    (referral,) = submit("V01").referrals
    for action in moves:
        referral = referral_transition(
            referral=referral, action=action, actor=chiropractor, reason="Rang, left a message"
        )
    mail.outbox.clear()
    assert escalate(now=referral.due_at + dt.timedelta(minutes=1))["overdue"] == 1
    referral.refresh_from_db()
    assert referral.overdue_at is not None
    assert [m.to for m in mail.outbox] == [[triage_lead.email]]
    assert referral.get_status_display().lower() in mail.outbox[0].body  # told it is in hand


@pytest.mark.skipif(on_postgresql(), reason="SQLite's rule-based plans")
def test_on_sqlite_the_job_each_minute_reads_open_work_only(triage_lead):
    """It runs in a write transaction every minute: reading every referral ever due (or
    every referral, for the emergencies) held SQLite's write lock longer as history grew."""
    (referral,) = submit("V09").referrals
    with CaptureQueriesContext(connection) as ctx:
        escalate(now=referral.created_at + dt.timedelta(minutes=16))
    reads = [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT")]
    plans = [" ".join(sqlite_plan(sql)) for sql in reads if '"referrals_referral"' in sql]
    assert len(plans) >= 2, reads
    overdue, alerts = plans[:2]
    assert "SEARCH referrals_referral USING INDEX referral_open_due_idx (due_at<?)" in overdue
    # Every open referral at most (the emergencies have no index of their own), none closed.
    assert re.search(r"referrals_referral USING INDEX referral_(queue_)?open_\w+_idx", alerts)
    for plan in plans:
        assert plan.count("referrals_referral") == plan.count("referrals_referral USING"), plan


def test_the_due_time_is_indexed_for_open_work_only():
    definitions = {
        name: info
        for name, info in _constraints("referrals_referral").items()
        if info["columns"] == ["due_at"]
    }
    assert list(definitions) == ["referral_open_due_idx"]


def _constraints(table: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, table)


@pytest.mark.django_db(transaction=True)
def test_emergency_and_urgent_cases_email_their_queue_after_commit(
    settings, medical_reviewer, chiropractor
):
    """Through the real database queue: the alert is a task row written with the case, so a
    worker sends it only once the case is committed, and a rolled-back case sends nothing."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    mail.outbox.clear()
    submit("V01", patient=details(phone="07700 900001"))
    run_worker()
    assert mail.outbox == []
    with pytest.raises(RuntimeError, match="after the case"):
        submit_then_fail()
    # Only the routine case's task row exists: the rolled-back emergency took its row with it.
    assert DBTaskResult.objects.filter(task_path__endswith="announce_intake").count() == 1
    submit("V09")
    assert mail.outbox == []  # nothing is sent from the request itself
    run_worker()
    assert [m.to for m in mail.outbox] == [[medical_reviewer.email]]
    body = mail.outbox[0].body
    assert "CAUDA" not in body
    assert "bladder" not in body.lower()


def _urgent_review_answers() -> dict[str, Any]:
    answers = worked_case("V01")
    answers["weakness_worsening"] = True  # RED_FLAG_PROGRESSIVE_NEURO: an urgent review
    return answers


def test_a_raise_of_an_overdue_referral_does_not_mark_it_overdue_again(triage_lead):
    """A later submission may only bring the due time forward, so a referral already marked
    overdue stays overdue: the raise cleared the mark and the next run marked it and emailed
    the triage lead a second time for the same due time."""
    monday = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
    (review,) = submit(answers=_urgent_review_answers(), submitted_at=monday).referrals
    wednesday = monday + dt.timedelta(days=2)
    assert escalate(now=wednesday)["overdue"] == 1
    submit("V09", submitted_at=wednesday + dt.timedelta(hours=1))  # emergency: raised
    review.refresh_from_db()
    assert review.urgency == "emergency"
    assert review.due_at < wednesday
    mail.outbox.clear()
    assert escalate(now=wednesday + dt.timedelta(hours=1, minutes=1))["overdue"] == 0
    assert review.events.filter(kind=EventKind.OVERDUE).count() == 1
    assert not any(review.intake.reference in m.body for m in mail.outbox)


def test_a_referral_raised_to_emergency_is_alerted_again_only_after_15_minutes(
    triage_lead, medical_reviewer
):
    """The raise pages the queue's staff itself; the re-alert of an unclaimed emergency
    counted from when the referral was opened (as urgent, an hour before), so it paged the
    triage lead and the queue again at the next minute's run."""
    (review,) = submit(answers=_urgent_review_answers()).referrals
    Referral.objects.filter(pk=review.pk).update(
        created_at=review.created_at - dt.timedelta(hours=1)
    )
    submit("V09")  # emergency, same patient: raised
    review.refresh_from_db()
    assert review.urgency == "emergency"
    raised_at = review.events.get(kind=EventKind.URGENCY_RAISED).created_at
    assert escalate(now=raised_at + dt.timedelta(minutes=1))["alerts"] == 0
    assert escalate(now=raised_at + dt.timedelta(minutes=16))["alerts"] == 1
