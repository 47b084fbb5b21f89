"""A rerouted case keeps its continuity in the queue it went to: the staff notes written in the
queues it came from, and how long it has waited (docs/CLINICAL_DECISIONS.md, "Red-flag
clearance and reroutes")."""

from __future__ import annotations

import datetime as dt
import importlib
import re

import pytest
from django.apps import apps
from django.contrib.admin import site
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from referrals.admin import ReferralAdmin
from referrals.models import EventKind, Referral, Status
from referrals.services import (
    referral_add_note,
    referral_due_at,
    referral_mark_entered_in_error,
    referral_override_urgency,
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


def test_the_notes_of_a_case_rerouted_into_a_referral_that_came_from_elsewhere_are_shown(
    client, sciatica, chiropractor, podiatrist, triage_lead
):
    """The patient's open podiatry referral had come from general review; the chiropractic
    case rerouted into it brought its notes, which the podiatrist did not see: the page followed
    the podiatry referral's own reroute alone (rerouted_from, taken)."""
    referral_add_note(referral=sciatica, actor=chiropractor, text=PHONE_NOTE)
    (feet,) = submit("V21", patient=details(family_name="Hughes")).referrals
    review = referral_reroute(referral=feet, actor=triage_lead, queue="general_review", reason="?")
    referral_add_note(referral=review, actor=triage_lead, text="Not inflammatory")
    podiatry = referral_reroute(referral=review, actor=triage_lead, queue="podiatry", reason="Feet")
    client.force_login(podiatrist)
    client.get(case_url(podiatry))  # the session's first request extends it
    with CaptureQueriesContext(connection) as ctx:
        client.get(case_url(podiatry))
    before = len(ctx.captured_queries)
    referral_reroute(referral=sciatica, actor=triage_lead, queue="podiatry", reason="Heel pain")
    with CaptureQueriesContext(connection) as ctx:
        notes = notes_of(client.get(case_url(podiatry)).content.decode())
    assert PHONE_NOTE in notes
    assert "in Chiropractic, before the reroute" in notes
    assert "Not inflammatory" in notes
    assert "in General review, before the reroute" in notes
    assert notes.index(PHONE_NOTE) < notes.index("Not inflammatory")
    # Read with the chain's one statement: none more for the reroute that came in.
    assert len(ctx.captured_queries) == before


def test_the_case_page_names_every_queue_a_referral_was_rerouted_into_from(
    client, sciatica, podiatrist, triage_lead
):
    """The page's "Rerouted from" named the first referral rerouted into it alone."""
    (feet,) = submit("V21", patient=details(family_name="Hughes")).referrals
    review = referral_reroute(referral=feet, actor=triage_lead, queue="general_review", reason="?")
    podiatry = referral_reroute(referral=review, actor=triage_lead, queue="podiatry", reason="Feet")
    referral_reroute(referral=sciatica, actor=triage_lead, queue="podiatry", reason="Heel pain")
    client.force_login(podiatrist)
    html = client.get(case_url(podiatry)).content.decode()
    assert '<th scope="row">Rerouted from</th><td>General review, Chiropractic</td>' in html


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


LIST = reverse("admin:referrals_referral_changelist")
THREE_DAYS = "3\xa0days"  # as timesince writes it
WAITING_COLUMN = "6"  # ?o= counts the checkbox's column first


def waiting_cells(html: str) -> list[str]:
    return re.findall(r'<td class="field-waiting">([^<]*)</td>', html)


def came_in(referral: Referral, ago: dt.timedelta) -> dt.datetime:
    """``referral`` made ``ago`` before now (the clock the page reads), its due time with it."""
    at = timezone.now() - ago
    Referral.objects.filter(pk=referral.pk).update(
        created_at=at, due_at=referral_due_at(referral.urgency, at)
    )
    referral.refresh_from_db()
    return at


def test_the_waiting_column_of_a_rerouted_referral_counts_from_its_first_queue(
    client, sciatica, podiatrist, triage_lead
):
    """The case waited 3 days in chiropractic; rerouted to podiatry it showed "Waiting 0
    minutes" there (found in a QA round), though its due time was kept from the first queue."""
    came_in(sciatica, dt.timedelta(days=3, minutes=5))
    feet = referral_reroute(referral=sciatica, actor=triage_lead, queue="podiatry", reason="Feet")
    client.force_login(podiatrist)
    client.get(LIST)  # the session's first request extends it
    # The queue page, sorted or not, and the admin's own column (Django's list draws it).
    assert waiting_cells(client.get(LIST).content.decode()) == [THREE_DAYS]
    sorted_page = client.get(LIST, {"o": WAITING_COLUMN}).content.decode()
    assert waiting_cells(sorted_page) == [THREE_DAYS]
    admin = site.get_model_admin(Referral)
    assert isinstance(admin, ReferralAdmin)
    with translation.override("en"):
        assert admin.waiting(Referral.objects.get(pk=feet.pk)) == THREE_DAYS
    # A second reroute counts from the first queue too.
    insoles = referral_reroute(
        referral=feet, actor=triage_lead, queue="orthotic_fitting", reason="Insoles"
    )
    assert Referral.objects.get(pk=insoles.pk).waiting_since == sciatica.created_at


def test_the_queue_sorted_by_waiting_puts_a_rerouted_case_by_its_first_queue(
    client, sciatica, triage_lead
):
    came_in(sciatica, dt.timedelta(days=3))
    feet = referral_reroute(referral=sciatica, actor=triage_lead, queue="podiatry", reason="Feet")
    (heel, *_) = submit("V11", patient=details(family_name="Patel")).referrals
    came_in(heel, dt.timedelta(days=1))
    client.force_login(triage_lead)
    longest_first = client.get(LIST, {"o": WAITING_COLUMN}).context["cl"].result_list
    ids = [row["pk"] for row in longest_first]
    assert ids.index(feet.pk) < ids.index(heel.pk)
    newest_first = client.get(LIST, {"o": f"-{WAITING_COLUMN}"}).context["cl"].result_list
    ids = [row["pk"] for row in newest_first]
    assert ids.index(heel.pk) < ids.index(feet.pk)


def test_a_reroute_into_an_open_referral_of_that_queue_keeps_the_earlier_wait(
    sciatica, triage_lead
):
    """A reroute to a queue where the patient's case is open already joins that referral
    (referrals_record): it waits from the earlier of the two, as its due time is kept."""
    first = came_in(sciatica, dt.timedelta(days=6))
    (heel, *_) = submit("V11", patient=details(family_name="Hughes")).referrals
    came_in(heel, dt.timedelta(days=2))
    assert heel.patient_id == sciatica.patient_id
    joined = referral_reroute(
        referral=sciatica, actor=triage_lead, queue=heel.queue, reason="Same feet"
    )
    assert joined.pk == heel.pk
    assert Referral.objects.get(pk=heel.pk).waiting_since == first


def test_a_reroute_into_an_open_referral_that_came_from_another_queue_keeps_the_earlier_times(
    client, sciatica, podiatrist, triage_lead
):
    """The patient's open podiatry referral had come from general review (rerouted_from
    taken): the chiropractic case rerouted into it kept neither its due time nor its waiting
    start, and nothing named it there (found in a review): it waited longer for joining."""
    first = came_in(sciatica, dt.timedelta(days=6))
    (feet,) = submit("V21", patient=details(family_name="Hughes")).referrals
    came_in(feet, dt.timedelta(days=2))
    review = referral_reroute(referral=feet, actor=triage_lead, queue="general_review", reason="?")
    podiatry = referral_reroute(
        referral=review, actor=triage_lead, queue="podiatry", reason="Feet after all"
    )
    assert podiatry.rerouted_from_id == review.pk
    joined = referral_reroute(
        referral=sciatica, actor=triage_lead, queue="podiatry", reason="Heel pain, not back"
    )
    assert joined.pk == podiatry.pk
    stored = Referral.objects.get(pk=podiatry.pk)
    assert stored.due_at == sciatica.due_at < podiatry.due_at
    assert stored.waiting_since == first
    # The link to the referral that came in, beside the one it had.
    assert stored.rerouted_from_id == review.pk
    assert sorted(stored.rerouted_in.values_list("pk", flat=True)) == [sciatica.pk, review.pk]
    assert Referral.objects.get(pk=sciatica.pk).rerouted_into_id == podiatry.pk
    # Each history names the other: the closed one where it went, the joined one what came in.
    went = sciatica.events.get(kind=EventKind.TRANSITION, to_status=Status.REROUTED)
    assert went.data == {"to": "podiatry"}
    came = stored.events.get(kind=EventKind.REROUTED_IN)
    assert came.data["from"] == "chiropractic"
    assert came.data["referral"] == str(sciatica.public_id)
    assert came.data["intake"] == sciatica.intake.reference
    assert (came.actor, came.reason) == (triage_lead, "Heel pain, not back")
    # The one line: the join said "New submission linked" too, where nothing new was sent.
    assert not stored.events.filter(kind=EventKind.LINKED, actor=triage_lead).exists()
    client.force_login(podiatrist)
    client.get(LIST)  # the session's first request extends it
    assert waiting_cells(client.get(LIST).content.decode()) == ["6\xa0days"]
    history = client.get(case_url(podiatry)).content.decode().split('id="history-h"', 1)[1]
    assert "Rerouted in from Chiropractic by lead_lin: “Heel pain, not back”" in history
    assert "New submission linked by lead_lin" not in history


def test_the_migration_counts_stored_reroutes_from_their_first_queue(sciatica, triage_lead):
    first = came_in(sciatica, dt.timedelta(days=3))
    feet = referral_reroute(referral=sciatica, actor=triage_lead, queue="podiatry", reason="Feet")
    insoles = referral_reroute(
        referral=feet, actor=triage_lead, queue="orthotic_fitting", reason="Insoles"
    )
    Referral.objects.update(waiting_since=None)  # as stored before the field
    module = importlib.import_module("referrals.migrations.0015_referral_waiting_since_backfill")
    module.count_reroutes_from_their_first_queue(apps, connection.schema_editor())
    stored = dict(Referral.objects.values_list("pk", "waiting_since"))
    assert stored == {sciatica.pk: None, feet.pk: first, insoles.pk: first}


def test_the_migration_names_where_stored_reroutes_went(sciatica, triage_lead):
    feet = referral_reroute(referral=sciatica, actor=triage_lead, queue="podiatry", reason="Feet")
    insoles = referral_reroute(
        referral=feet, actor=triage_lead, queue="orthotic_fitting", reason="Insoles"
    )
    Referral.objects.update(rerouted_into=None)  # as stored before the field
    module = importlib.import_module("referrals.migrations.0020_referral_rerouted_into_backfill")
    module.name_where_stored_reroutes_went(apps, connection.schema_editor())
    stored = dict(Referral.objects.values_list("pk", "rerouted_into"))
    assert stored == {sciatica.pk: feet.pk, feet.pk: insoles.pk, insoles.pk: None}


def test_the_migration_names_where_stored_joins_went_and_carries_their_times(sciatica, triage_lead):
    """Before rerouted_into, a reroute into the patient's open referral whose rerouted_from was
    taken left no link, its times not carried, and the join's "New submission linked" event:
    the migration finds the join by that event (the same staff, case and moment as the
    closed referral's move) and gives the still open referral the earlier times."""
    first = came_in(sciatica, dt.timedelta(days=6))
    (feet,) = submit("V21", patient=details(family_name="Hughes")).referrals
    came_in(feet, dt.timedelta(days=2))
    review = referral_reroute(referral=feet, actor=triage_lead, queue="general_review", reason="?")
    podiatry = referral_reroute(
        referral=review, actor=triage_lead, queue="podiatry", reason="Feet after all"
    )
    referral_reroute(referral=sciatica, actor=triage_lead, queue="podiatry", reason="Heel pain")
    # As stored before: no forward links, the join's event as it was, its own times.
    Referral.objects.update(rerouted_into=None)
    podiatry.events.filter(kind=EventKind.REROUTED_IN).update(
        kind=EventKind.LINKED, reason="", data={"intake": sciatica.intake.reference}
    )
    Referral.objects.filter(pk=podiatry.pk).update(
        due_at=podiatry.due_at, waiting_since=review.created_at
    )
    module = importlib.import_module("referrals.migrations.0020_referral_rerouted_into_backfill")
    module.name_where_stored_reroutes_went(apps, connection.schema_editor())
    module.name_where_stored_joins_went(apps, connection.schema_editor())
    stored = dict(Referral.objects.values_list("pk", "rerouted_into"))
    assert stored[sciatica.pk] == stored[review.pk] == podiatry.pk
    assert stored[feet.pk] == review.pk
    joined = Referral.objects.get(pk=podiatry.pk)
    assert (joined.due_at, joined.waiting_since) == (sciatica.due_at, first)


def test_the_queue_pages_statements_are_the_same_with_reroutes(client, triage_lead):
    """The Waiting column is read with the row: no statement more for a rerouted row."""

    def statements() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(LIST).status_code == 200
        return len(ctx.captured_queries)

    cases = [submit("V01", patient=details(phone=f"07700 96{i:04d}")) for i in range(4)]
    client.force_login(triage_lead)
    client.get(LIST)
    before = statements()
    for case in cases:
        (referral,) = case.referrals
        referral_reroute(referral=referral, actor=triage_lead, queue="podiatry", reason="Feet")
    assert statements() == before


def test_a_reroute_that_raises_the_referral_it_joins_does_not_call_itself_a_new_submission(
    triage_lead,
):
    """The joined referral's history said "Urgency raised by a new submission" (the join's
    event kind's label) where staff had rerouted a case into it: a case joined it, either way."""
    from referrals.case import HISTORY_COLUMNS, history_lines

    case = submit("V15")  # chiropractic and podiatry, routine
    chiro, podiatry = sorted(case.referrals, key=lambda r: r.queue)
    referral_override_urgency(referral=chiro, actor=triage_lead, urgency="urgent", reason="Worse")
    referral_reroute(referral=chiro, actor=triage_lead, queue="podiatry", reason="Feet")
    lines = history_lines(podiatry.events.order_by("id").values(*HISTORY_COLUMNS))
    assert not [line for line in lines if "new submission" in line.lower()], lines
    assert any("Urgency raised by a case that joined (Routine → Urgent)" in line for line in lines)
    assert any("Rerouted in from Chiropractic" in line for line in lines)
