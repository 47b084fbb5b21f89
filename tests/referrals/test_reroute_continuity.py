"""A rerouted case keeps its continuity in the queue it went to: the staff notes written in the
queues it came from, and how long it has waited (docs/CLINICAL_DECISIONS.md, "Red-flag
clearance and reroutes")."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from referrals.models import Referral, Status
from referrals.services import (
    referral_add_note,
    referral_mark_entered_in_error,
    referral_reroute,
)
from tests.clinic_fixtures import details, make_staff, submit

pytestmark = pytest.mark.django_db

PHONE_NOTE = "patient prefers mornings; spoke on phone 12/11"


def case_url(referral: Referral) -> str:
    return reverse("admin:referrals_referral_change", args=[referral.public_id])


def notes_of(html: str) -> str:
    return html.split('id="notes-h"', 1)[1].split("</section>", 1)[0]


@pytest.fixture
def sciatica() -> Referral:
    (referral,) = submit("V01", patient=details(family_name="Hughes")).referrals
    assert referral.queue == "chiropractic"
    return referral


def test_a_note_from_the_queue_a_case_came_from_is_shown_in_the_queue_it_went_to(
    client, sciatica, chiropractor, podiatrist, triage_lead
):
    referral_add_note(referral=sciatica, actor=chiropractor, text=PHONE_NOTE)
    podiatry = referral_reroute(
        referral=sciatica, actor=triage_lead, queue="podiatry", reason="Heel pain, not back"
    )
    referral_add_note(referral=podiatry, actor=podiatrist, text="Booked for Tuesday")
    client.force_login(podiatrist)
    notes = notes_of(client.get(case_url(podiatry)).content.decode())
    # Read-only, marked with the queue it was written in, in time order with this queue's own.
    assert "chiro_carla" in notes
    assert "in Chiropractic, before the reroute" in notes
    assert notes.index(PHONE_NOTE) < notes.index("Booked for Tuesday")
    assert notes.count("before the reroute") == 1
    # The note was written on the earlier referral and stays there; the podiatrist still may
    # not open that referral, of a queue not theirs: its notes are shown here as this case's.
    assert list(sciatica.staff_notes.values_list("text", flat=True)) == [PHONE_NOTE]
    assert client.get(case_url(sciatica)).status_code == 404


def test_the_notes_of_every_queue_of_a_chain_of_reroutes_are_shown(
    client, sciatica, chiropractor, podiatrist, triage_lead
):
    referral_add_note(referral=sciatica, actor=chiropractor, text=PHONE_NOTE)
    podiatry = referral_reroute(
        referral=sciatica, actor=triage_lead, queue="podiatry", reason="Heel pain"
    )
    referral_add_note(referral=podiatry, actor=podiatrist, text="Needs insoles measured")
    orthotics = referral_reroute(
        referral=podiatry, actor=triage_lead, queue="orthotic_fitting", reason="Insoles"
    )
    fitter = make_staff("fit_faye", "Orthotic fitting team")
    client.force_login(fitter)
    notes = notes_of(client.get(case_url(orthotics)).content.decode())
    assert notes.index(PHONE_NOTE) < notes.index("Needs insoles measured")
    assert "in Chiropractic, before the reroute" in notes
    assert "in Podiatry, before the reroute" in notes


def test_a_note_of_a_referral_since_marked_entered_in_error_says_so(
    client, sciatica, chiropractor, podiatrist, triage_lead
):
    referral_add_note(referral=sciatica, actor=chiropractor, text=PHONE_NOTE)
    podiatry = referral_reroute(
        referral=sciatica, actor=triage_lead, queue="podiatry", reason="Heel pain"
    )
    referral_mark_entered_in_error(referral=sciatica, actor=triage_lead, reason="Wrong queue")
    client.force_login(podiatrist)
    notes = notes_of(client.get(case_url(podiatry)).content.decode())
    assert PHONE_NOTE in notes
    assert "that referral was marked entered in error" in notes


def test_without_view_staff_note_the_earlier_queues_notes_are_not_shown_either(
    client, sciatica, chiropractor, podiatrist, triage_lead
):
    referral_add_note(referral=sciatica, actor=chiropractor, text=PHONE_NOTE)
    podiatry = referral_reroute(
        referral=sciatica, actor=triage_lead, queue="podiatry", reason="Heel pain"
    )
    # An administrator took "view staff note" from the podiatry team.
    Group.objects.get(name="Podiatry team").permissions.remove(
        Permission.objects.get(codename="view_staffnote")
    )
    client.force_login(podiatrist)
    html = client.get(case_url(podiatry)).content.decode()
    assert "Hughes" in html
    assert "may not read the staff notes" in html
    assert PHONE_NOTE not in html


def test_a_case_pages_queries_do_not_grow_with_the_earlier_queues_notes(
    client, sciatica, chiropractor, triage_lead
):
    def queries(referral: Referral) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(case_url(referral)).status_code == 200
        return len(ctx.captured_queries)

    client.force_login(triage_lead)
    referral_add_note(referral=sciatica, actor=chiropractor, text=PHONE_NOTE)
    podiatry = referral_reroute(
        referral=sciatica, actor=triage_lead, queue="podiatry", reason="Heel pain"
    )
    client.get(case_url(podiatry))  # the session's first request extends it
    few = queries(podiatry)
    for number in range(5):
        referral_add_note(referral=sciatica, actor=chiropractor, text=f"Call {number}")
        referral_add_note(referral=podiatry, actor=triage_lead, text=f"Reply {number}")
    orthotics = referral_reroute(
        referral=podiatry, actor=triage_lead, queue="orthotic_fitting", reason="Insoles"
    )
    assert queries(podiatry) == few
    assert queries(orthotics) == few
    assert Referral.objects.get(pk=podiatry.pk).status == Status.REROUTED
