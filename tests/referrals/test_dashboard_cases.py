"""The dashboard counts cases, not referrals: a case referred again after a mistaken close, or
rerouted, is not counted twice in a queue, nor does its wait restart. docs/CLINICAL_DECISIONS.md
(The dashboard)."""

from __future__ import annotations

import datetime as dt
import importlib
import types

import pytest
from django.apps import apps
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from referrals.dashboard import dashboard_for
from referrals.models import LinkDay, Referral
from referrals.services import (
    referral_cancel,
    referral_claim,
    referral_decline,
    referral_mark_entered_in_error,
    referral_refer_again,
    referral_reroute,
)
from tests.clinic_fixtures import details, submit

pytestmark = pytest.mark.django_db


def waiting(minutes: int, patient: int = 0) -> Referral:
    """A new chiropractic referral whose case came in ``minutes`` ago."""
    (referral,) = submit("V01", patient=details(phone=f"07700 93{patient:04d}")).referrals
    Referral.objects.filter(pk=referral.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=minutes)
    )
    referral.refresh_from_db()
    return referral


def claims(user) -> tuple[int, float | None]:
    board = dashboard_for(user)
    minutes = board.median_minutes_to_claim
    return board.claims_counted, None if minutes is None else round(minutes)


def test_a_case_claimed_then_referred_again_counts_its_first_claim_once(chiropractor):
    """Declined by mistake a day after its claim and referred again, the case is claimed again
    at once: the figures stay as they were (they said 2 claims, the second a minute's wait)."""
    referral = referral_claim(referral=waiting(24 * 60 + 20), actor=chiropractor)
    Referral.objects.filter(pk=referral.pk).update(claimed_at=timezone.now() - dt.timedelta(days=1))
    before = claims(chiropractor)
    assert before == (1, 20)
    closed = referral_decline(referral=referral, actor=chiropractor, reason="Wrong patient")
    again = referral_refer_again(referral=closed, actor=chiropractor, reason="Closed by mistake")
    referral_claim(referral=again, actor=chiropractor)
    assert claims(chiropractor) == before


def test_a_case_closed_unclaimed_and_referred_again_waits_from_when_it_first_waited(
    chiropractor,
):
    """Cancelled by mistake before anyone claimed it: its claim is the case's first, and the
    wait counts from the case's arrival, not from the mistake (it said 0 minutes)."""
    closed = referral_cancel(referral=waiting(180), actor=chiropractor, reason="Duplicate?")
    again = referral_refer_again(referral=closed, actor=chiropractor, reason="Closed by mistake")
    referral_claim(referral=again, actor=chiropractor)
    assert claims(chiropractor) == (1, 180)


def test_a_case_referred_again_twice_counts_the_claim_before_the_first_mistake(chiropractor):
    first = referral_claim(referral=waiting(60), actor=chiropractor)
    first = referral_decline(referral=first, actor=chiropractor, reason="Wrong patient")
    second = referral_refer_again(referral=first, actor=chiropractor, reason="Mistake")
    second = referral_cancel(referral=second, actor=chiropractor, reason="Wrong again")
    third = referral_refer_again(referral=second, actor=chiropractor, reason="Mistake again")
    referral_claim(referral=third, actor=chiropractor)
    assert claims(chiropractor) == (1, 60)


def test_a_rerouted_case_waits_from_its_first_queue_and_counts_once_per_queue(
    triage_lead, podiatrist, chiropractor
):
    """Rerouted unclaimed, the case had waited since it came in, as the queue's "Waiting"
    column says (a reroute hid that wait: it counted from the reroute). Claimed in each queue,
    it is a claim in each: each queue took the case on."""
    moved = referral_reroute(
        referral=waiting(90), actor=triage_lead, queue="podiatry", reason="Foot problem"
    )
    referral_claim(referral=moved, actor=podiatrist)
    assert claims(podiatrist) == (1, 90)
    assert claims(chiropractor) == (0, None)

    taken = referral_claim(referral=waiting(30, patient=1), actor=chiropractor)
    elsewhere = referral_reroute(
        referral=taken, actor=chiropractor, queue="podiatry", reason="Foot first"
    )
    referral_claim(referral=elsewhere, actor=podiatrist)
    assert claims(chiropractor) == (1, 30)
    assert claims(triage_lead)[0] == 3


def test_a_claim_of_a_referral_entered_in_error_is_not_counted(chiropractor):
    referral = referral_claim(referral=waiting(10), actor=chiropractor)
    referral_mark_entered_in_error(referral=referral, actor=chiropractor, reason="Test record")
    assert claims(chiropractor) == (0, None)


def test_the_migration_carries_the_first_claim_to_referrals_made_again_before_it(chiropractor):
    first = referral_claim(referral=waiting(60), actor=chiropractor)
    first = referral_decline(referral=first, actor=chiropractor, reason="Wrong patient")
    second = referral_refer_again(referral=first, actor=chiropractor, reason="Mistake")
    second = referral_cancel(referral=second, actor=chiropractor, reason="Wrong again")
    third = referral_refer_again(referral=second, actor=chiropractor, reason="Mistake again")
    unclaimed = referral_cancel(referral=waiting(5, patient=1), actor=chiropractor, reason="Oops")
    fourth = referral_refer_again(referral=unclaimed, actor=chiropractor, reason="Mistake")
    Referral.objects.update(case_claimed_at=None)
    migration = importlib.import_module("referrals.migrations.0022_case_claimed_at_backfill")
    migration.carry_the_cases_first_claim(
        apps, types.SimpleNamespace(connection=types.SimpleNamespace(alias=connection.alias))
    )
    carried = dict(Referral.objects.values_list("pk", "case_claimed_at"))
    assert carried[second.pk] == carried[third.pk] == first.claimed_at
    assert carried[first.pk] is carried[fourth.pk] is None


# --- the foot-and-back panel: cases per queue by link kind, last 90 days -------------------------


def back_to_foot(patient: int = 0) -> Referral:
    """A sciatica case's chiropractic referral (back -> foot)."""
    submission = submit("V22", patient=details(phone=f"07700 94{patient:04d}"))
    return next(r for r in submission.referrals if r.queue == "chiropractic")


def panel(user) -> dict[str, int]:
    return {row.queue: row.counts["back_to_foot"] for row in dashboard_for(user).link_rows}


def listed(client, user, queue: str) -> int:
    """The cases of the list the panel's number links to."""
    since = (timezone.localdate() - dt.timedelta(days=90)).isoformat()
    client.force_login(user)
    client.get(reverse("admin:index"))  # the session is extended on the first request
    query = {"queue": queue, "link": "back_to_foot", "status": "any", "since": since}
    return (
        client.get(reverse("admin:referrals_referral_changelist"), query).context["cl"].result_count
    )


def test_a_case_referred_again_counts_once_in_the_foot_and_back_panel(client, chiropractor):
    """Same case, same queue: it counted twice, and its number linked to both referrals."""
    closed = referral_decline(referral=back_to_foot(), actor=chiropractor, reason="Wrong one")
    referral_refer_again(referral=closed, actor=chiropractor, reason="Closed by mistake")
    assert panel(chiropractor) == {"chiropractic": 1}
    assert listed(client, chiropractor, "chiropractic") == 1


def test_a_rerouted_case_counts_in_each_queue_it_was_sent_to(triage_lead):
    """Each queue received it: the one it left and the one it went to."""
    referral_reroute(
        referral=back_to_foot(), actor=triage_lead, queue="podiatry", reason="Foot first"
    )
    counts = panel(triage_lead)
    assert (counts["chiropractic"], counts["podiatry"]) == (1, 1)


def test_a_referral_entered_in_error_leaves_the_panel_on_a_day_already_counted(
    client, chiropractor
):
    """The panel keeps the counts of closed days (LinkDay): marking a referral of one of them
    entered in error drops the kept counts from its day on, to be counted again."""
    wrong, right = back_to_foot(0), back_to_foot(1)
    Referral.objects.filter(pk__in=[wrong.pk, right.pk]).update(
        created_at=timezone.now() - dt.timedelta(days=10)
    )
    assert panel(chiropractor) == {"chiropractic": 2}  # the day counted and kept
    referral_mark_entered_in_error(referral=wrong, actor=chiropractor, reason="Test record")
    assert panel(chiropractor) == {"chiropractic": 1}
    assert listed(client, chiropractor, "chiropractic") == 1


def test_a_case_whose_first_referral_is_called_wrong_after_it_was_referred_again_is_not_counted(
    client, chiropractor
):
    """docs/CLINICAL_DECISIONS.md (The dashboard) 6: the referral that brought the case to the
    queue marked entered in error after it was referred again says the record was wrong; the
    figures leave the case out, the referral made from it too (it is the same case), in both
    the claims and the foot-and-back panel, as they agree."""
    first = referral_claim(referral=back_to_foot(), actor=chiropractor)
    closed = referral_decline(referral=first, actor=chiropractor, reason="Wrong one")
    again = referral_refer_again(referral=closed, actor=chiropractor, reason="Closed by mistake")
    referral_claim(referral=again, actor=chiropractor)
    assert (claims(chiropractor)[0], panel(chiropractor)) == (1, {"chiropractic": 1})
    referral_mark_entered_in_error(referral=closed, actor=chiropractor, reason="Another patient")
    assert (claims(chiropractor)[0], panel(chiropractor)) == (0, {"chiropractic": 0})
    assert listed(client, chiropractor, "chiropractic") == 0


def test_the_migration_drops_the_days_kept_with_referrals_made_again_in_them(chiropractor):
    closed = referral_decline(referral=back_to_foot(), actor=chiropractor, reason="Wrong one")
    again = referral_refer_again(referral=closed, actor=chiropractor, reason="Closed by mistake")
    Referral.objects.filter(pk__in=[closed.pk, again.pk]).update(
        created_at=timezone.now() - dt.timedelta(days=10)
    )
    LinkDay.objects.create(
        time_zone=timezone.get_current_timezone_name(),
        day=timezone.localdate() - dt.timedelta(days=10),
        counts={"chiropractic|back_to_foot": 2},  # as kept before it
    )
    migration = importlib.import_module("referrals.migrations.0024_link_index_counted_cases")
    migration.forget_the_kept_counts(
        apps, types.SimpleNamespace(connection=types.SimpleNamespace(alias=connection.alias))
    )
    assert panel(chiropractor) == {"chiropractic": 1}


def test_the_page_says_what_each_figure_counts(client, chiropractor):
    referral_claim(referral=waiting(20), actor=chiropractor)
    client.force_login(chiropractor)
    client.get(reverse("admin:index"))  # the session is extended on the first request
    page = " ".join(client.get(reverse("admin:index")).content.decode().split())
    assert "Referrals open now in each queue, by urgency: one per case and queue." in page
    assert "Overdue: open past their due time." in page
    assert "<strong>20 minutes</strong> (1 case claimed)" in page
    assert "Each case counts once in each queue that claimed it." in page
    assert "(from its first queue if it was rerouted), to its claim." in page
    assert "keeps the claim it had before the mistake, or, if it had none, waits from" in page
    assert (
        "Each case counts once in each queue it was referred to: a rerouted case counts in "
        "each queue it was sent to, and a case referred again after a mistaken close counts "
        "once. Referrals entered in error are left out."
    ) in page
    # The chart has a heading of its own, naming what it shows as its SVG's title does (it
    # read as the time-to-claim chart, under that figure).
    heading = '<h3 id="chart-h">Open referrals per queue, by urgency</h3> <div class="dash-chart">'
    assert heading in page
    assert '<title id="chart-title">Open referrals per queue, by urgency</title>' in page
    assert page.count("ntered in error are left out.") == 2


def test_the_median_wait_to_claim_reads_in_hours_and_days(client, chiropractor):
    """ "1 minutes", and a long wait as raw minutes (a QA round)."""
    referral_claim(referral=waiting(200), actor=chiropractor)
    client.force_login(chiropractor)
    client.get(reverse("admin:index"))  # the session is extended on the first request
    page = client.get(reverse("admin:index")).content.decode()
    assert "<strong>3 h 20 min</strong> (1 case claimed)" in page
