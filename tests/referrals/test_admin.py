import datetime as dt
import itertools
import re
from pathlib import Path

import pytest
from django.contrib import admin as django_admin
from django.contrib.admin.templatetags.admin_list import results
from django.contrib.auth.models import User
from django.db import connection
from django.template import Context, Template
from django.template.loader import get_template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape

from intake.admin import IntakeAdmin
from intake.identity import parse_typed_date
from intake.messages import staff_disclaimer
from intake.models import Intake, Urgency
from intake.privacy import patient_erase
from referrals import audit
from referrals.admin import ReferralAdmin
from referrals.admin_queue import STATEMENTS, CappedCountPaginator, queue_rows
from referrals.case import ACTOR_NAME, history_lines
from referrals.models import AuditEntry, Referral, ReferralEvent, Status
from referrals.services import referral_claim, referral_reroute
from tests.clinic_fixtures import details, submit
from tests.conftest import on_postgresql
from tests.helpers import postgres_plan, sqlite_plan

pytestmark = pytest.mark.django_db

LIST = reverse("admin:referrals_referral_changelist")
QUEUE_QUERIES = 4


def case_url(referral):
    return reverse("admin:referrals_referral_change", args=[referral.public_id])


def move_url(referral):
    return reverse("admin:referrals_referral_move", args=[referral.public_id])


@pytest.fixture
def cases():
    """A sciatica case (chiropractic), a plantar-heel case (podiatry + orthotics), a CES case."""
    return {
        "sciatica": submit("V01", patient=details(family_name="Hughes", phone="07700 900001")),
        "heel": submit("V11", patient=details(family_name="Patel", phone="07700 900002")),
        "ces": submit("V09", patient=details(family_name="Morgan", phone="07700 900003")),
    }


def listed_references(client):
    response = client.get(LIST, {"status": "any"})
    assert response.status_code == 200
    return {row["intake__reference"] for row in response.context["cl"].result_list}


def test_each_team_lists_only_its_own_queue(
    client, cases, chiropractor, podiatrist, medical_reviewer
):
    client.force_login(chiropractor)
    assert listed_references(client) == {cases["sciatica"].intake.reference}
    client.force_login(podiatrist)
    assert listed_references(client) == {cases["heel"].intake.reference}
    client.force_login(medical_reviewer)
    assert listed_references(client) == {cases["ces"].intake.reference}


def test_the_triage_lead_lists_every_queue(client, cases, triage_lead):
    client.force_login(triage_lead)
    assert listed_references(client) == {c.intake.reference for c in cases.values()}


def test_another_teams_case_page_is_a_404(client, cases, podiatrist):
    client.force_login(podiatrist)
    (referral,) = cases["sciatica"].referrals
    assert client.get(case_url(referral)).status_code == 404
    assert client.post(move_url(referral), {"move-action": "claim"}).status_code == 404
    referral.refresh_from_db()
    assert referral.status == Status.NEW


def test_the_default_edit_form_is_never_served(client, cases, triage_lead):
    client.force_login(triage_lead)
    (referral,) = cases["sciatica"].referrals
    pk_url = f"/admin/referrals/referral/{referral.pk}/change/"
    assert client.get(pk_url).status_code == 404


def test_another_teams_intake_is_absent_and_its_page_a_404(client, cases, podiatrist):
    client.force_login(podiatrist)
    response = client.get(reverse("admin:intake_intake_changelist"))
    assert {i.reference for i in response.context["cl"].result_list} == {
        cases["heel"].intake.reference
    }
    other = cases["sciatica"].intake
    assert client.get(reverse("admin:intake_intake_change", args=[other.pk])).status_code == 404


def test_a_linked_submission_is_listed_for_its_referrals_team(client, podiatrist):
    """Visible through any link, not only the submission that opened the referral."""
    first = submit("V11", patient=details(family_name="Patel", phone="07700 900002"))
    second = submit("V11", patient=details(family_name="Patel", phone="07700 900002"))
    assert second.intake.patient_id == first.intake.patient_id
    client.force_login(podiatrist)
    response = client.get(reverse("admin:intake_intake_changelist"))
    listed = {i.reference for i in response.context["cl"].result_list}
    assert listed == {first.intake.reference, second.intake.reference}


def test_a_submission_opens_its_open_referral_rather_than_one_rerouted_from(
    client, cases, triage_lead
):
    """A submission's row opened its closed referral, the one rerouted away, whenever both
    sorted alike (same urgency, and the reroute keeps the due time): a lead who looked a case
    up by its reference landed on a page with nothing to do (found in a QA round)."""
    (old,) = cases["sciatica"].referrals
    new = referral_reroute(referral=old, actor=triage_lead, queue="podiatry", reason="Foot")
    client.force_login(triage_lead)
    opened = client.get(reverse("admin:intake_intake_change", args=[old.intake_id]))
    assert opened.status_code == 302
    assert opened["Location"] == case_url(new)


def test_the_submissions_list_counts_no_further_than_its_cap(client, triage_lead, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 4)
    for i in range(5):
        submit("V01", patient=details(phone=f"07700 94{i:04d}"))
    client.force_login(triage_lead)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(reverse("admin:intake_intake_changelist")).content.decode()
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1
    assert "LIMIT 5" in counts[0]
    assert "More than 4 intakes" in page
    monkeypatch.setattr(CappedCountPaginator, "cap", 5)
    assert "5 intakes" in client.get(reverse("admin:intake_intake_changelist")).content.decode()


def test_paging_on_past_the_cap_reaches_the_oldest_submission(client, triage_lead, monkeypatch):
    """Each page counts ``cap`` rows past its own first row: the last page counted leads on,
    so no row is left reachable only by search (a review found a month's 1,001st entry was)."""
    monkeypatch.setattr(CappedCountPaginator, "cap", 2)
    monkeypatch.setattr(IntakeAdmin, "list_per_page", 1)
    made = [submit("V01", patient=details(phone=f"07700 95{i:04d}")).intake for i in range(5)]
    client.force_login(triage_lead)
    url = reverse("admin:intake_intake_changelist")

    def page(number: int) -> tuple[list[str], str, list[str]]:
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url, {"p": number})
        assert response.status_code == 200
        counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
        shown = [intake.reference for intake in response.context["cl"].result_list]
        return shown, response.content.decode(), counts

    shown, html, counts = page(1)
    assert shown == [made[-1].reference]
    assert "More than 2 intakes" in html
    assert "LIMIT 3" in counts[0]
    assert "?p=3" in html
    assert "?p=4" not in html
    shown, html, counts = page(3)
    assert shown == [made[2].reference]
    assert "More than 4 intakes" in html
    assert "LIMIT 5" in counts[0]
    assert "?p=5" in html
    shown, html, counts = page(5)
    assert shown == [made[0].reference]
    assert "5 intakes" in html
    assert client.get(url, {"p": 6}).status_code == 302  # past the end: Django's ?e=1


@pytest.mark.parametrize("page", ["2001", "99999999999999999999", "-3"])
def test_a_page_past_the_paging_depth_is_a_page_that_does_not_exist(client, triage_lead, page):
    """A page number past what the database's integers hold was a 500 (a review); deeper
    than MAX_DEPTH rows a list is narrowed, not paged: Django's answer to a page that does
    not exist (a redirect with ?e=1), or its first page for a number below one."""
    submit("V01")
    client.force_login(triage_lead)
    for url in (
        LIST,
        reverse("admin:intake_intake_changelist"),
        reverse("admin:referrals_auditentry_changelist"),
    ):
        response = client.get(url, {"p": page})
        assert response.status_code in (200, 302), (url, response.status_code)
        if response.status_code == 302:
            assert "e=1" in response["Location"]


def test_the_queue_pages_on_past_its_cap(client, triage_lead, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 4)
    monkeypatch.setattr(ReferralAdmin, "list_per_page", 2)
    for i in range(3):
        submit("V22", patient=details(phone=f"07700 96{i:04d}"))  # three referrals each
    client.force_login(triage_lead)
    seen: list[str] = []
    for number in range(1, 6):
        response = client.get(LIST, {"status": "any", "p": number})
        assert response.status_code == 200, number
        seen += [str(row["public_id"]) for row in response.context["cl"].result_list]
    assert "9 referrals" in response.content.decode()
    assert sorted(seen) == sorted(str(r.public_id) for r in Referral.objects.all())


@pytest.mark.skipif(on_postgresql(), reason="SQLite's rule-based plans")
@pytest.mark.parametrize("persona", ["podiatrist", "triage_lead"])
def test_on_sqlite_the_submissions_page_reads_intakes_in_order_and_asks_each_for_a_link(
    client, cases, persona, request
):
    client.force_login(request.getfixturevalue(persona))
    cl = client.get(reverse("admin:intake_intake_changelist")).context["cl"]
    plan = " ".join(sqlite_plan(*cl.result_list.query.sql_with_params()))
    # Newest first by the submissions' time index; per intake, its links by their intake
    # index and each link's referral by key; no list of every linked intake, no sort.
    assert "SCAN intake_intake USING INDEX intake_intake_submitted_at" in plan, plan
    assert "CORRELATED SCALAR SUBQUERY" in plan, plan
    assert "SEARCH U0 USING INDEX referrals_referralintake_intake_id" in plan, plan
    assert "USING INTEGER PRIMARY KEY" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    assert "LIST SUBQUERY" not in plan, plan


def test_the_case_page_shows_flags_with_evidence_the_disclaimer_and_what_the_patient_saw(
    client, cases, medical_reviewer
):
    client.force_login(medical_reviewer)
    (referral,) = cases["ces"].referrals
    response = client.get(case_url(referral))
    assert response.status_code == 200
    page = response.content.decode()
    assert "RED_FLAG_CAUDA_EQUINA" in page
    assert "RED_FLAG_CAUDA_EQUINA.a, RED_FLAG_CAUDA_EQUINA.b" in page
    assert "need to be checked by a doctor straight away" in page
    assert "prompts for clinical reasoning, not diagnoses" in page
    assert "Do not wait for us to contact you" in page
    assert "Clear the red flag" in page


@pytest.mark.parametrize("page", ["queue", "queue, Django's view", "submissions"])
def test_the_lists_of_triage_results_carry_the_staff_text_naming_their_rulesets(
    client, cases, triage_lead, page
):
    """Spec §7: the staff text "on every triage view"; a list names the ruleset versions of
    the rows it shows (docs/CLINICAL_DECISIONS.md)."""
    client.force_login(triage_lead)
    url, params = {
        "queue": (LIST, {}),
        "queue, Django's view": (LIST, {"_popup": "1"}),
        "submissions": (reverse("admin:intake_intake_changelist"), {}),
    }[page]
    text = client.get(url, params).content.decode()
    assert "Decision support, not diagnosis." in text
    assert escape(staff_disclaimer(ruleset_version="1.0.0")) in text
    Intake.objects.filter(pk=cases["ces"].intake.pk).update(ruleset_version="0.9.0")
    text = client.get(url, params).content.decode()
    assert "rule set (version 0.9.0, 1.0.0) applied" in text


def test_every_look_at_a_case_is_audited_with_who_and_where(client, cases, chiropractor):
    client.force_login(chiropractor)
    (referral,) = cases["sciatica"].referrals
    client.get(case_url(referral), REMOTE_ADDR="198.51.100.7")
    entry = AuditEntry.objects.get(action="view")
    assert entry.actor == chiropractor
    assert entry.object_id == str(referral.public_id)
    assert entry.patient_id == referral.patient_id
    assert entry.ip_address == "198.51.100.7"


def test_a_clinician_takes_a_case_from_new_to_completed_on_the_case_page(
    client, cases, chiropractor
):
    client.force_login(chiropractor)
    (referral,) = cases["sciatica"].referrals
    for action in ("claim", "contact", "schedule", "complete"):
        response = client.post(move_url(referral), {"move-action": action})
        assert response.status_code == 302, response.content
    referral.refresh_from_db()
    assert referral.status == Status.COMPLETED
    assert AuditEntry.objects.filter(action="complete", actor=chiropractor).exists()


def test_an_illegal_move_or_missing_reason_is_a_clear_message_not_an_error(
    client, cases, chiropractor
):
    client.force_login(chiropractor)
    (referral,) = cases["sciatica"].referrals
    response = client.post(move_url(referral), {"move-action": "complete"})
    assert response.status_code == 409
    assert "cannot be moved" in response.content.decode()
    # Input to correct is a 400, as the API answers it; a referral's state a 409.
    response = client.post(move_url(referral), {"move-action": "decline", "move-reason": "  "})
    assert response.status_code == 400
    assert "Please give a reason." in response.content.decode()
    response = client.post(move_url(referral), {"move-action": "no-such-move"})
    assert response.status_code == 400
    for action, field in (("reroute", "move-queue"), ("override_urgency", "move-urgency")):
        data = {"move-action": action, "move-reason": "x", field: ""}
        response = client.post(move_url(referral), data)
        assert response.status_code == 400, action
        assert "errorlist" in response.content.decode()


def test_a_case_is_rerouted_from_the_case_page(client, cases, chiropractor):
    client.force_login(chiropractor)
    (referral,) = cases["sciatica"].referrals
    response = client.post(
        move_url(referral),
        {"move-action": "reroute", "move-queue": "podiatry", "move-reason": "Foot first"},
    )
    assert response.status_code == 302
    new = Referral.objects.get(queue="podiatry", patient=referral.patient)
    assert new.rerouted_from == referral
    # The chiropractor cannot follow the case into podiatry, so stays on the old one.
    assert response["Location"] == case_url(referral)


def test_the_medical_reviewer_clears_a_red_flag_and_releases_referrals(
    client, cases, medical_reviewer
):
    client.force_login(medical_reviewer)
    (referral,) = cases["ces"].referrals
    url = reverse("admin:referrals_referral_clear", args=[referral.public_id])
    # A queue named twice (a hand-made POST) is released once.
    release = ["chiropractic", "chiropractic"]
    response = client.post(
        url, {"clear-reason": "Saddle sensation normal on exam", "clear-release": release}
    )
    assert response.status_code == 302
    assert Referral.objects.filter(patient=referral.patient, queue="chiropractic").count() == 1
    referral.refresh_from_db()
    assert referral.status == Status.COMPLETED


def test_staff_notes_are_added_and_shown(client, cases, chiropractor):
    client.force_login(chiropractor)
    (referral,) = cases["sciatica"].referrals
    url = reverse("admin:referrals_referral_note", args=[referral.public_id])
    assert client.post(url, {"note-text": "Left voicemail <b>twice</b>"}).status_code == 302
    page = client.get(case_url(referral)).content.decode()
    assert "Left voicemail &lt;b&gt;twice&lt;/b&gt;" in page


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Hughes", "sciatica"),
        ("17/05/1980", "all"),
        ("07700900002", "heel"),
        ("", "all"),
        # A family and a given name, either way round, as the list writes them (a review found
        # "Hughes, Ada" and "Ada Hughes" found nothing).
        ("Hughes, Ada", "sciatica"),
        ("HUGHES Ada", "sciatica"),
        ("Ada Hughes", "sciatica"),
        ("Hughes, Zed", "none"),
        # A birth date as a letter or a caller gives it, the month by name: these were read
        # as a family name ("may") and found nothing.
        ("17 May 1980", "all"),
        ("17 may 1980", "all"),
        ("May 17, 1980", "all"),
        ("17 May 1981", "none"),
    ],
)
def test_search_by_name_birth_date_phone_and_reference(client, cases, triage_lead, term, expected):
    client.force_login(triage_lead)
    response = client.get(LIST, {"q": term})
    found = {row["intake__reference"] for row in response.context["cl"].result_list}
    want = (
        {c.intake.reference for c in cases.values()}
        if expected == "all"
        else set()
        if expected == "none"
        else {cases[expected].intake.reference}
    )
    assert found == want
    reference = cases["heel"].intake.reference
    response = client.get(LIST, {"q": reference.lower()})
    assert {row["intake__reference"] for row in response.context["cl"].result_list} == {reference}


@pytest.mark.parametrize(
    ("typed", "born"),
    [
        ("17/05/1980", dt.date(1980, 5, 17)),
        ("1980-05-17", dt.date(1980, 5, 17)),
        ("17-05-1980", dt.date(1980, 5, 17)),
        ("17.05.1980", dt.date(1980, 5, 17)),
        ("17 May 1980", dt.date(1980, 5, 17)),
        ("17 may 1980", dt.date(1980, 5, 17)),
        ("17 MAY, 1980", dt.date(1980, 5, 17)),
        ("17 Sept 1980", dt.date(1980, 9, 17)),
        ("17 Sep. 1980", dt.date(1980, 9, 17)),
        ("3 September 1980", dt.date(1980, 9, 3)),
        ("17th June 1980", dt.date(1980, 6, 17)),
        ("17-Jul-1980", dt.date(1980, 7, 17)),
        ("May 17, 1980", dt.date(1980, 5, 17)),
        ("Feb 29 1980", dt.date(1980, 2, 29)),
        # Not a date: a two-digit year (which century?), no day, no month, a day the month
        # does not have, a name that is not a month.
        ("17 May 80", None),
        ("May 1980", None),
        ("17 Ma 1980", None),
        ("30 Feb 1980", None),
        ("17 Mai 1980", None),
        ("Hughes, Ada", None),
    ],
)
def test_a_birth_date_is_read_with_the_month_as_a_number_or_an_english_name(typed, born):
    assert parse_typed_date(typed) == born


@pytest.mark.parametrize(
    "term",
    [
        "Bronte-Muller, Zoe",
        "BRONTE-MULLER Zoe",
        "Zoe Bronte-Muller",
        "Brontë-Müller, Zoë",
        "bronte muller zoe",
        "Garcia, Jose",
        "Jose Garcia",
    ],
)
def test_search_finds_a_given_name_typed_without_its_accents(client, triage_lead, term):
    zoe = submit("V01", patient=details(given_name="Zoë", family_name="Brontë-Müller"))
    jose = submit(
        "V11", patient=details(given_name="José", family_name="García", phone="07700 900002")
    )
    submit(
        "V09", patient=details(given_name="Zola", family_name="Bronte-Muller", phone="07700 900003")
    )
    client.force_login(triage_lead)
    found = {
        row["intake__reference"] for row in client.get(LIST, {"q": term}).context["cl"].result_list
    }
    want = jose if "Jose" in term else zoe
    assert found == {want.intake.reference}


def test_a_reference_made_mostly_of_digits_is_still_found_by_reference(client, cases, triage_lead):
    intake = cases["heel"].intake
    intake.reference = "64764NY6"
    intake.save(update_fields=["reference"])
    client.force_login(triage_lead)
    response = client.get(LIST, {"q": "6476-4NY6"})
    assert {row["intake__reference"] for row in response.context["cl"].result_list} == {"64764NY6"}


def test_a_later_submissions_reference_finds_the_referral_it_joined(client, chiropractor):
    """A patient's second submission joins their open referral of the queue instead of opening
    one; its confirmation page gave the patient its own reference, which they read out when
    they call. The queue's search found the referral by the reference that opened it alone:
    "no referral" for a case in the queue (the Submissions list found it)."""
    patient = details(family_name="Quarshie")
    first = submit("V01", patient=patient)
    later = submit("V06", patient=patient)  # chiropractic again: joins the open referral
    assert [r.pk for r in later.referrals] == [r.pk for r in first.referrals]
    client.force_login(chiropractor)
    for reference in (first.intake.reference, later.intake.reference):
        assert searched(client, reference) == {first.intake.reference}


def searched(client, term):
    """The references the queue lists for a search."""
    response = client.get(LIST, {"q": term})
    return {row["intake__reference"] for row in response.context["cl"].result_list}


@pytest.mark.parametrize(("term", "expected"), [("900002", "heel"), ("0770090000", "all")])
def test_part_of_a_phone_number_is_searched_when_no_whole_number_matches(
    client, cases, triage_lead, term, expected
):
    client.force_login(triage_lead)
    want = {c.intake.reference for c in cases.values()} if expected == "all" else None
    assert searched(client, term) == (want or {cases[expected].intake.reference})


def test_part_of_a_number_is_searched_whatever_another_queues_patients_have(client, chiropractor):
    """Whether part of a number was searched turned on every patient's number: a podiatry
    patient whose whole number is the digits typed hid the chiropractor's own patient, whose
    number holds them, and told the chiropractor such a patient exists elsewhere."""
    mine = submit("V01", patient=details(family_name="Hughes", phone="07700 900123"))
    submit("V11", patient=details(family_name="Patel", phone="7700 900123"))  # podiatry
    client.force_login(chiropractor)
    assert searched(client, "7700900123") == {mine.intake.reference}


def test_the_search_help_says_how_much_of_a_phone_number_is_enough(client, triage_lead):
    """Part of a number is searched from 6 digits: "0555" found nothing, and the help said
    only "phone number" (a review)."""
    client.force_login(triage_lead)
    assert "phone number (whole, or 6 digits or more of it)" in client.get(LIST).content.decode()


@pytest.mark.parametrize("term", ["Hughes", "h", "17/05/1980", "07700900002", "900002"])
def test_a_term_matching_too_many_patients_to_list_finds_the_same_cases(
    client, cases, triage_lead, monkeypatch, term
):
    """Past SEARCH_PATIENTS_LISTED patients their referrals are found by a join, not a list."""
    client.force_login(triage_lead)
    listed = searched(client, term)
    monkeypatch.setattr("referrals.admin.SEARCH_PATIENTS_LISTED", 0)
    assert searched(client, term) == listed
    assert listed


def test_a_birth_date_search_leaves_out_erased_patients(client, triage_lead):
    """An erasure keeps only the year of birth, stored as 1 January of it: a search for
    "1 Jan 1980" listed every erased patient born in 1980 beside the one patient born that day
    (found in a QA round of the staff pages). Erased patients are found by their reference."""
    born_then = submit(
        "V01", patient=details(family_name="Hughes", date_of_birth=dt.date(1980, 1, 1))
    )
    erased = submit("V11", patient=details(family_name="Patel", date_of_birth=dt.date(1980, 5, 17)))
    patient_erase(public_id=erased.intake.patient.public_id, actor=None, reason="Asked to")
    client.force_login(triage_lead)
    for term in ("01/01/1980", "1 Jan 1980", "17/05/1980"):
        found = searched(client, term)
        assert erased.intake.reference not in found, term
    assert searched(client, "1 Jan 1980") == {born_then.intake.reference}
    assert searched(client, erased.intake.reference) == {erased.intake.reference}


def test_the_queue_heads_show_urgency_first_then_due_as_the_rows_are_ordered(client, triage_lead):
    """The queue is ordered by urgency (its priority), then due time; the head marked only Due
    as the sort, so the page read as ordered by due time alone (a QA round of the staff pages):
    Django marks a column for an ordering term only when the column sorts by that term without
    its sign, and Urgency sorts by "-priority"."""
    submit("V01")
    client.force_login(triage_lead)
    html = client.get(LIST).content.decode()
    heads = {
        column: (classes, head)
        for classes, column, head in re.findall(
            r'<th scope="col" class="([^"]*column-(\w+)[^"]*)">(.*?)</th>', html, re.S
        )
    }
    for column, priority in (("urgency_badge", 1), ("due", 2)):
        classes, head = heads[column]
        assert "sorted ascending" in classes
        assert f'title="Sorting priority: {priority}"' in head
    # Urgency's toggle puts the least urgent first, due time still second.
    assert 'href="?o=-3.7"' in heads["urgency_badge"][1]


# The tables a search reads, each of which grows with the history.
SEARCHED_TABLES = ("intake_patient", "intake_intake", "referrals_referral")


# What a search looks its rows up by: a row's key, or the column of the term it read.
SEARCH_KEYS = {"id", "rowid", "patient_id", "intake_id", "reference"} | {
    "family_name_key", "date_of_birth", "phone_key"
}  # fmt: skip
CONDITION_COLUMN = re.compile(r"(\w+)\)?(?:::\w+)?\s*(?:=|~>=~|~<~|>=|<=|<|>|~~)")


def _unkeyed_reads(sql: str) -> list[str]:
    """The steps of ``sql``'s plan that read a searched table other than by a search key: a
    scan, or an index walked by another column (all open referrals of a queue, say)."""
    bad = []
    if connection.vendor == "sqlite":
        for step in sqlite_plan(sql):
            match = re.match(r"(SCAN|SEARCH) (\w+)(.*)", step)
            if match is None or match.group(2) not in SEARCHED_TABLES:
                continue
            columns = CONDITION_COLUMN.findall(match.group(3))
            if match.group(1) == "SCAN" or not columns or columns[0] not in SEARCH_KEYS:
                bad.append(step)
        return bad
    for node in postgres_plan(sql):
        if node.get("Relation Name") not in SEARCHED_TABLES:
            continue
        condition = node.get("Index Cond") or node.get("Recheck Cond") or ""
        columns = CONDITION_COLUMN.findall(condition)
        if not columns or not set(columns) <= SEARCH_KEYS:
            bad.append(f"{node['Node Type']} on {node['Relation Name']}: {condition}")
    return bad


def _write_other_open_cases(count: int) -> None:
    """On PostgreSQL, ``count`` other cases (patients born on other days, with other names and
    numbers, each with an intake and an open referral), written by the server, and the
    searched tables' statistics read. Without statistics (nothing runs ANALYZE in the test
    database) the planner prices each index by defaults and by the table's pages, which grow
    with every earlier test's rolled-back rows: a date-of-birth search's referrals were read
    by referral_queue_order_idx, filtered, after some tests and not others (and passed in the
    whole suite only because an earlier file's ANALYZE had left its row counts behind)."""
    fields = [c for f in Intake._meta.concrete_fields if (c := f.column) and c != "id"]
    made = {
        "public_id": "gen_random_uuid()",
        "reference": "'Z' || patient.n",
        "patient_id": "patient.id",
        "date_of_birth": "patient.date_of_birth",
    }
    intake_values = ", ".join(made.get(column, f"i.{column}") for column in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH patient AS ("  # noqa: S608 - the model's own column names
            " INSERT INTO intake_patient (public_id, given_name, given_name_key, family_name,"
            " family_name_key, date_of_birth, phone, phone_key, email, email_key,"
            " preferred_contact, created_at, updated_at)"
            " SELECT gen_random_uuid(), 'Other', 'OTHER', 'Other' || g, 'OTHER' || g,"
            " date '1930-01-01' + g %% 18000, '', '0' || (1000000000 + g), '', '', 'phone',"
            " now(), now() FROM generate_series(1, %s) AS g"
            " RETURNING id, date_of_birth, family_name_key AS n),"
            f" intake AS (INSERT INTO intake_intake ({', '.join(fields)})"
            f" SELECT {intake_values} FROM patient,"
            " (SELECT * FROM intake_intake ORDER BY id LIMIT 1) AS i"
            " RETURNING id, patient_id, urgency, link_kind)"
            " INSERT INTO referrals_referral (public_id, patient_id, intake_id, queue, status,"
            " urgency, red_flag_count, priority, due_at, note, suggested_after_clearance,"
            " created_at, updated_at, link_kind)"
            " SELECT gen_random_uuid(), intake.patient_id, intake.id,"
            " (ARRAY['chiropractic', 'podiatry', 'orthotic_fitting', 'general_review'])"
            "[1 + intake.id %% 4], 'new', intake.urgency, 0, intake.id %% 3,"
            " now() + (intake.id %% 30) * interval '1 day', '', '[]', now(), now(),"
            " intake.link_kind FROM intake",
            [count],
        )
        cursor.execute("ANALYZE intake_patient, intake_intake, referrals_referral")


@pytest.mark.parametrize(
    "term", ["Hughes", "Hughes, Ada", "Ada Hughes", "17/05/1980", "17 May 1980", "07700900002"]
)
def test_a_search_reads_the_patients_and_referrals_by_index(client, cases, triage_lead, term):
    """A search by name, date of birth or whole phone number read every referral (the
    readings ORed across the intake and the patient joined in; a prefix LIKE that no index
    served on PostgreSQL): 185 ms at 30,000 cases there, growing with the history. Now the
    patients first, by patient_match_idx (a pattern operator class on PostgreSQL, a range on
    SQLite), patient_birth_idx or patient_phone_idx, then their referrals by theirs."""
    if connection.vendor == "postgresql":
        # Rows enough that reading them whole is the dearer plan, as in a clinic's history.
        _write_other_open_cases(5_000)
    client.force_login(triage_lead)
    client.get(LIST, {"q": term})  # sessions, permissions and the like read once
    with CaptureQueriesContext(connection) as seen:
        response = client.get(LIST, {"q": term})
    assert response.context["cl"].result_list
    searched = [
        q["sql"]
        for q in seen.captured_queries
        if q["sql"].startswith("SELECT") and any(f'"{t}"' in q["sql"] for t in SEARCHED_TABLES)
    ]
    assert searched
    for sql in searched:
        assert _unkeyed_reads(sql) == [], sql


@pytest.mark.postgres_only
def test_on_postgresql_part_of_a_phone_number_is_searched_by_index(client, cases, triage_lead):
    """Part of a number read every patient's (132 ms at 1,000,000 patients, and three times
    when it matched many): on PostgreSQL a trigram index serves it (intake migration 0012)."""
    # Patients enough that reading every number is the dearer plan (100,000, written by the
    # server: a small table is read whole whatever its indexes).
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO intake_patient (public_id, given_name, given_name_key, family_name,"
            " family_name_key, date_of_birth, phone, phone_key, email, email_key,"
            " preferred_contact, created_at, updated_at)"
            " SELECT gen_random_uuid(), 'Other', 'OTHER', 'Other', 'OTHER', '1970-01-01', '',"
            " '0' || (1000000000 + floor(random() * 9000000000))::bigint, '', '', 'phone',"
            " now(), now() FROM generate_series(1, 100000)"
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE intake_patient")
    client.force_login(triage_lead)
    client.get(LIST, {"q": "900002"})
    with CaptureQueriesContext(connection) as seen:
        response = client.get(LIST, {"q": "900002"})
    assert response.context["cl"].result_list
    partial = [q["sql"] for q in seen.captured_queries if "LIKE '%900002%'" in q["sql"]]
    assert partial
    for sql in partial:
        indexes, scans = [], []
        for node in postgres_plan(sql, enable_seqscan="off"):  # a handful of rows here
            if node.get("Index Name", "").startswith("patient_"):
                indexes.append((node["Index Name"], node.get("Index Cond", "")))
            if node.get("Relation Name") == "intake_patient":
                scans.append(node["Node Type"])
        assert "Seq Scan" not in scans
        # Found by the number's trigrams, not read whole (the other phone index's condition,
        # phone_key <> '', leaves every number to read).
        assert indexes == [("patient_phone_trgm_idx", "((phone_key)::text ~~ '%900002%'::text)")]


def test_the_queue_shows_open_referrals_unless_asked_for_others(client, cases, chiropractor):
    client.force_login(chiropractor)
    (referral,) = cases["sciatica"].referrals
    client.post(move_url(referral), {"move-action": "decline", "move-reason": "Seen elsewhere"})
    assert client.get(LIST).context["cl"].result_count == 0
    assert client.get(LIST, {"status": "declined"}).context["cl"].result_count == 1
    assert client.get(LIST, {"status": "any"}).context["cl"].result_count == 1


def test_filters_overdue_and_assigned_to_me(client, cases, chiropractor):
    client.force_login(chiropractor)
    (referral,) = cases["sciatica"].referrals
    assert client.get(LIST, {"overdue": "yes"}).context["cl"].result_count == 0
    client.post(move_url(referral), {"move-action": "claim"})
    assert client.get(LIST, {"assigned": "me"}).context["cl"].result_count == 1
    assert client.get(LIST, {"assigned": "none"}).context["cl"].result_count == 0


def test_the_queue_is_narrowed_to_the_referrals_made_since_a_day(client, cases, chiropractor):
    """From the clinic's midnight starting that day, whatever the status (the dashboard's
    links carry their first day); shown in the filter panel, with a link that clears it."""
    (recent,) = cases["sciatica"].referrals
    old = submit("V01", patient=details(family_name="Older", phone="07700 900004")).referrals[0]
    day = timezone.localdate() - dt.timedelta(days=90)
    start = timezone.make_aware(dt.datetime.combine(day, dt.time()))
    Referral.objects.filter(pk=recent.pk).update(created_at=start)
    Referral.objects.filter(pk=old.pk).update(created_at=start - dt.timedelta(seconds=1))
    client.force_login(chiropractor)
    response = client.get(LIST, {"since": day.isoformat(), "status": "any"})
    assert [row["public_id"] for row in response.context["cl"].result_list] == [recent.public_id]
    assert response.context["cl"].result_count == 1
    panel = response.content.decode().split('id="changelist-filter"')[1].split("</search>")[0]
    chosen = f'<a href="?since={day.isoformat()}&amp;status=any">Since {day:%-d %b %Y}</a>'
    assert f'<li class="selected">\n    {chosen}' in panel
    assert '<a href="?status=any">All</a>' in panel
    assert "Clear all filters" in panel
    # Not offered until asked for: its choices would name today's date.
    assert "date referred" not in client.get(LIST).content.decode()


@pytest.mark.parametrize(
    "value",
    ["2026-02-30", "yesterday", "2026-9-6", "06/09/2026", "٢٠٢٦-٠٩-٠٦", "0001-01-01", "9999-12-31"],
)
def test_a_since_that_is_not_a_day_is_refused_with_a_message(client, cases, chiropractor, value):
    """As Django answers a lookup it cannot use (the list without it, ?e=1), saying why, once
    (the queue page and then Django's view each build the list); not a 500. The other filters
    and the search go too, and the message says so (it said "without it" alone)."""
    client.force_login(chiropractor)
    response = client.get(LIST, {"since": value, "status": "any", "q": "Okafor"})
    assert response.status_code == 302
    assert response["Location"] == LIST + "?e=1"
    shown = [str(m) for m in client.get(response["Location"]).context["messages"]]
    assert shown == [
        "The date in the address was not understood (since= takes a day as YYYY-MM-DD, "
        "e.g. 2026-09-06): the queue is shown without it, or any other filter or search in "
        "the address."
    ]


def test_the_audit_trail_is_for_the_triage_lead_and_read_only(
    client, cases, chiropractor, triage_lead
):
    url = reverse("admin:referrals_auditentry_changelist")
    client.force_login(chiropractor)
    assert client.get(url).status_code == 403
    client.force_login(triage_lead)
    assert client.get(url).status_code == 200
    entry = AuditEntry.objects.create(action="view", object_type="referral", object_id="x")
    change = reverse("admin:referrals_auditentry_change", args=[entry.pk])
    assert client.post(change, {"action": "tampered"}).status_code == 403
    delete = reverse("admin:referrals_auditentry_delete", args=[entry.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert AuditEntry.objects.filter(pk=entry.pk, action="view").exists()


def test_the_audit_trails_page_reads_no_more_than_it_shows(client, cases, triage_lead, monkeypatch):
    """Filters of constants and date ranges, a capped count: nothing reads every entry (no
    DISTINCT of a column, no date hierarchy's years)."""
    monkeypatch.setattr(CappedCountPaginator, "cap", 2)
    (referral,) = cases["sciatica"].referrals
    for action in ("view", "claim", "view"):
        audit.audit_record(actor=triage_lead, action=action, obj=referral)
    old = audit.audit_record(actor=triage_lead, action="patient_export", obj=referral.patient)
    AuditEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    client.force_login(triage_lead)
    url = reverse("admin:referrals_auditentry_changelist")
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(url).content.decode()
    statements = [q["sql"] for q in ctx.captured_queries if "referrals_auditentry" in q["sql"]]
    assert not [sql for sql in statements if "DISTINCT" in sql.upper()], statements
    (count,) = [sql for sql in statements if "COUNT(" in sql.upper()]
    assert "LIMIT 3" in count
    assert "More than 2 audit entries" in page
    for label in (audit.ACTIONS["patient_export"], audit.OBJECT_TYPES["patient"], "Past 7 days"):
        assert escape(label) in page

    def shown(**params: str) -> list[str]:
        response = client.get(url, params)
        return sorted(entry.action for entry in response.context["cl"].result_list)

    assert shown(action="view") == ["view", "view"]
    assert shown(object_type="patient") == ["patient_export"]
    # "Past 7 days", as the filter's link writes it: aware local midnights.
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    since, until = str(today - dt.timedelta(days=7)), str(today + dt.timedelta(days=1))
    assert shown(created_at__gte=since, created_at__lt=until) == ["claim", "view", "view"]


def test_the_audit_trail_and_the_submissions_are_narrowed_by_month(client, triage_lead, cases):
    """Every month from the earliest row's to this one is offered without reading the rows
    (one MIN by the index), and a month is a range on the time index."""
    (referral,) = cases["sciatica"].referrals
    old = audit.audit_record(actor=triage_lead, action="view", obj=referral)
    audit.audit_record(actor=triage_lead, action="claim", obj=referral)
    now = timezone.localtime()
    then = (now.replace(day=15) - dt.timedelta(days=62)).replace(day=10)
    AuditEntry.objects.filter(pk=old.pk).update(created_at=then)
    Intake.objects.filter(pk=cases["heel"].intake.pk).update(submitted_at=then)
    client.force_login(triage_lead)
    months = [f"{m:%Y-%m}" for m in (now, now.replace(day=1) - dt.timedelta(days=1), then)]
    for url, param, field in (
        (reverse("admin:referrals_auditentry_changelist"), "created_at_month", "action"),
        (reverse("admin:intake_intake_changelist"), "submitted_at_month", "reference"),
    ):
        with CaptureQueriesContext(connection) as ctx:
            page = client.get(url).content.decode()
        assert all(f"{param}={month}" in page for month in months), months
        offered = [q["sql"] for q in ctx.captured_queries if "MIN(" in q["sql"].upper()]
        assert len(offered) == 1
        assert "DISTINCT" not in offered[0].upper()
        shown = client.get(url, {param: months[-1]}).context["cl"].result_list
        want = "view" if field == "action" else cases["heel"].intake.reference
        assert [getattr(row, field) for row in shown] == [want]
        # Not a month, or a month at the calendar's ends (its range would overflow a
        # datetime: a 500 before a review found it): ignored.
        for value in ("2026-13", "0000-06", "0001-01", "9999-12"):
            response = client.get(url, {param: value})
            assert response.status_code == 200, value
            assert len(response.context["cl"].result_list) == len(
                client.get(url).context["cl"].result_list
            )


def test_an_audit_entry_records_only_a_known_action_on_a_patients_records(cases, triage_lead):
    (referral,) = cases["sciatica"].referrals
    with pytest.raises(ValueError, match="Unknown audit action 'peek'"):
        audit.audit_record(actor=triage_lead, action="peek", obj=referral)
    with pytest.raises(ValueError, match="not"):
        audit.audit_record(actor=triage_lead, action="view", obj=triage_lead)
    assert not AuditEntry.objects.exists()


def test_the_admin_index_shows_the_dashboard(client, cases, triage_lead):
    client.force_login(triage_lead)
    page = client.get(reverse("admin:index")).content.decode()
    assert "Open referrals" in page
    assert "<svg" in page
    assert "Median time to claim" in page


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_queue_and_case_page_queries_do_not_grow_with_rows(client, triage_lead):
    client.force_login(triage_lead)
    for i in range(5):
        submit("V22", patient=details(phone=f"07700 91{i:04d}"))
    first = Referral.objects.order_by("id").first()
    # The first request after logging in extends the session (IdleSessionMiddleware).
    client.get(LIST)
    small = (_queries(client, LIST), _queries(client, case_url(first)))
    for i in range(5, 100):
        submit("V22", patient=details(phone=f"07700 91{i:04d}"))
    large = (_queries(client, LIST), _queries(client, case_url(first)))
    assert small == large
    # A later page (an offset) and the whole history (every status) run the same queries.
    assert _queries(client, LIST + "?p=3") == large[0]
    assert _queries(client, LIST + "?status=any") == large[0]
    # The dashboard's links too: narrowed by a day, a link kind and a queue.
    since = (timezone.localdate() - dt.timedelta(days=90)).isoformat()
    linked = f"{LIST}?queue=chiropractic&link=back_to_foot&status=any&since={since}"
    assert _queries(client, linked) == large[0]
    # Session, user (with its permissions and groups: clinic/auth_backends.py), the capped
    # count and the page, on SQLite and PostgreSQL alike.
    assert large[0] == QUEUE_QUERIES
    # The same when the default view's statements are not kept yet (admin_queue.STATEMENTS).
    STATEMENTS.clear()
    assert _queries(client, LIST) == QUEUE_QUERIES


def test_another_teams_note_and_clearance_forms_are_404s(client, cases, podiatrist):
    client.force_login(podiatrist)
    (ces,) = cases["ces"].referrals
    note = reverse("admin:referrals_referral_note", args=[ces.public_id])
    clear = reverse("admin:referrals_referral_clear", args=[ces.public_id])
    assert client.post(note, {"note-text": "peek"}).status_code == 404
    assert (
        client.post(clear, {"clear-reason": "x", "clear-release": ["podiatry"]}).status_code == 404
    )
    ces.refresh_from_db()
    assert ces.status == Status.NEW
    assert not ces.staff_notes.exists()


def test_the_queue_shows_the_foot_and_back_link_with_arrow_and_label(client, triage_lead):
    client.force_login(triage_lead)
    submit("V22", patient=details(family_name="Hughes", phone="07700 900011"))
    page = client.get(LIST, {"status": "any"}).content.decode()
    assert "Foot/back" in page
    assert '<span aria-hidden="true">↓</span> Back → foot' in page
    assert 'title="The foot or leg symptoms may come from the back' in page


def test_the_foot_and_back_filter_lists_only_that_kind(client, triage_lead):
    client.force_login(triage_lead)
    back_to_foot = submit("V22", patient=details(family_name="Hughes", phone="07700 900011"))
    foot_to_back = submit("V15", patient=details(family_name="Patel", phone="07700 900012"))
    submit("V11", patient=details(family_name="Morgan", phone="07700 900013"))
    response = client.get(LIST, {"status": "any", "link": "back_to_foot"})
    assert {r["intake__reference"] for r in response.context["cl"].result_list} == {
        back_to_foot.intake.reference
    }
    response = client.get(LIST, {"status": "any", "link": "foot_to_back"})
    assert {r["intake__reference"] for r in response.context["cl"].result_list} == {
        foot_to_back.intake.reference
    }
    assert "foot and back" in response.content.decode().lower()


@pytest.fixture
def djangos_view(monkeypatch):
    """The queue drawn by Django's own changelist_view, as for a POST or a popup."""
    from referrals import admin as referral_admin

    monkeypatch.setattr(referral_admin, "queue_changelist_view", lambda *args: None)


def test_the_queue_rows_are_what_the_generic_changelist_writes(client, triage_lead, djangos_view):
    """queue_rows writes the cells itself; they must not drift from Django's."""
    for i, case in enumerate(["V01", "V09", "V11", "V22", "V06", "V17"]):
        submit(case, patient=details(family_name=f"O'Brien{i}", phone=f"07700 92{i:04d}"))
    first, second = Referral.objects.order_by("id")[:2]
    referral_claim(referral=first, actor=triage_lead)
    Referral.objects.filter(pk=second.pk).update(due_at=timezone.now() - dt.timedelta(hours=2))
    client.force_login(triage_lead)
    cells: list[str] = []
    for params in ({"status": "any"}, {"status": "any", "o": "2.-7"}, {"queue": "podiatry"}):
        response = client.get(LIST, params)
        cl = response.context["cl"]
        fast = [[str(cell) for cell in row] for row in queue_rows(cl)]
        generic = [[str(cell) for cell in row] for row in results(cl)]
        assert fast == generic
        assert fast
        page = response.content.decode()
        assert all("".join(row) in page for row in fast)
        # The whole table too: the rows are joined in Python, not by the template's loops.
        table = Template("{% load referral_queue %}{% queue_result_list cl %}")
        django_table = Template("{% load admin_list %}{% result_list cl %}")
        written = table.render(Context({"cl": cl}))
        assert written == django_table.render(Context({"cl": cl, "opts": cl.opts}))
        assert written in page
        cells += [cell for row in fast for cell in row]
    assert any("Overdue since" in cell for cell in cells)
    assert any("_changelist_filters=" in cell for cell in cells)
    assert any("&#x27;" in cell for cell in cells)  # O'Brien, escaped


def test_the_search_box_is_djangos_with_a_label_of_its_own(client, cases, triage_lead):
    """Django's search box is labelled by an image with alt text alone: a label with no text,
    for a box the search help describes (axe's label-title-only; tests/browser). Its template
    has no block to override: templates/admin/search_form.html is Django's, held to it here
    but for the label, so that a change in Django's shows."""
    client.force_login(triage_lead)
    response = client.get(LIST, {"q": "Hughes"})
    page = response.content.decode()
    label = (
        '<label for="searchbar"><img src="/static/admin/img/search.svg" alt="">'
        '<span class="visually-hidden">Search referrals</span></label>'
    )
    assert label in page
    assert 'aria-describedby="searchbar_helptext"' in page
    context = {"cl": response.context["cl"], "show_result_count": True, "search_var": "q"}
    djangos = Path(django_admin.__file__).parent / "templates" / "admin" / "search_form.html"
    theirs = Template(djangos.read_text(encoding="utf-8")).render(Context(context))
    ours = get_template("admin/search_form.html").render(context)
    assert label in ours
    djangos_label = (
        '<label for="searchbar"><img src="/static/admin/img/search.svg" alt="Search"></label>'
    )
    assert djangos_label in theirs
    lines = [line for line in ours.replace(label, djangos_label).splitlines() if line.strip()]
    assert lines == [line for line in theirs.splitlines() if line.strip()]


def test_the_queue_counts_no_further_than_its_cap(client, triage_lead, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "cap", 4)
    for i in range(3):
        submit("V22", patient=details(phone=f"07700 93{i:04d}"))  # three referrals each
    client.force_login(triage_lead)
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(LIST, {"status": "any"}).content.decode()
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1
    assert "LIMIT 5" in counts[0]
    assert "More than 4 referrals" in page
    assert "Select all 9" not in page
    assert "Select all 5" not in page
    podiatry = client.get(LIST, {"status": "any", "queue": "podiatry"}).content.decode()
    assert "3 referrals" in podiatry


@pytest.mark.skipif(on_postgresql(), reason="SQLite's partial-index matching")
@pytest.mark.parametrize("persona", ["chiropractor", "triage_lead"])
def test_on_sqlite_the_open_queue_reads_an_open_work_index(client, cases, persona, request):
    """SQLite uses a partial index only if the query repeats its condition as literals."""
    client.force_login(request.getfixturevalue(persona))
    cl = client.get(LIST).context["cl"]
    plan = " ".join(sqlite_plan(*cl.queryset.query.sql_with_params()))
    assert re.search(r"referral_(queue_)?open_order_idx|referral_queue_order_idx", plan), plan
    assert "SCAN referrals_referral" not in plan


@pytest.mark.django_db
def test_the_intakes_link_kind_has_no_index():
    with connection.cursor() as cursor:
        indexed = connection.introspection.get_constraints(cursor, "intake_intake")
    assert ["link_kind"] not in [info["columns"] for info in indexed.values()], indexed


@pytest.mark.skipif(on_postgresql(), reason="SQLite's rule-based plans")
@pytest.mark.parametrize("persona", ["chiropractor", "triage_lead"])
def test_on_sqlite_the_queue_filtered_by_link_reads_referrals_in_order(
    client, cases, persona, request
):
    """The foot-and-back filter checks each referral's intake by key, in the queue's order.

    The intake's link kind (seven values) had an index that neither this plan nor any other
    read (the plan was the same with it), at an insert per submission: it is gone."""
    client.force_login(request.getfixturevalue(persona))
    cl = client.get(LIST, {"link": "both"}).context["cl"]
    plan = " ".join(sqlite_plan(*cl.queryset.query.sql_with_params()))
    assert re.search(r"referral_(queue_)?open_order_idx|referral_queue_order_idx", plan), plan
    assert "SEARCH intake_intake USING INTEGER PRIMARY KEY" in plan, plan
    assert "intake_intake USING INDEX" not in plan, plan


@pytest.mark.skipif(on_postgresql(), reason="SQLite's rule-based plans")
@pytest.mark.parametrize("link", ["foot_only", ""])
def test_on_sqlite_the_queue_since_a_day_is_counted_by_the_updated_index(
    client, cases, triage_lead, link
):
    """As the dashboard's window (referrals.dashboard.in_window): the count reads the
    referrals touched since that day, not every one; the page reads them in page order."""
    client.force_login(triage_lead)
    since = (timezone.localdate() - dt.timedelta(days=90)).isoformat()
    with CaptureQueriesContext(connection) as ctx:
        cl = client.get(LIST, {"since": since, "status": "any", "link": link}).context["cl"]
    (count,) = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    plan = " ".join(sqlite_plan(count))
    assert "SEARCH referrals_referral USING INDEX referral_updated_id_idx" in plan, plan
    page = " ".join(sqlite_plan(*cl.queryset.query.sql_with_params()))
    assert "USING INDEX referral_order_idx" in page, page
    assert "TEMP B-TREE" not in page, page


@pytest.mark.skipif(on_postgresql(), reason="SQLite's rule-based plans")
def test_on_sqlite_a_dashboard_numbers_cases_are_read_by_the_link_index_and_sorted(
    client, cases, triage_lead
):
    """The list a foot-and-back number links to: its count from referral_link_idx alone, its
    page the window's rows by that index, sorted (not a walk of every referral in page order,
    where the window's rows come last)."""
    client.force_login(triage_lead)
    since = (timezone.localdate() - dt.timedelta(days=90)).isoformat()
    with CaptureQueriesContext(connection) as ctx:
        cl = client.get(LIST, {"since": since, "status": "any", "link": "both"}).context["cl"]
    (count,) = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    plan = " ".join(sqlite_plan(count))
    assert "SEARCH referrals_referral USING COVERING INDEX referral_link_idx" in plan, plan
    page = " ".join(sqlite_plan(*cl.queryset.query.sql_with_params()))
    assert "SEARCH referrals_referral USING INDEX referral_link_idx" in page, page
    assert "USE TEMP B-TREE FOR ORDER BY" in page, page


@pytest.mark.parametrize("language", ["en-gb", "fr", "de", "pl"])
@pytest.mark.parametrize(
    "ago",
    [
        dt.timedelta(seconds=5),
        dt.timedelta(minutes=1, seconds=20),
        dt.timedelta(hours=1, minutes=2, seconds=30),
        dt.timedelta(days=1, hours=3, seconds=30),
        dt.timedelta(days=12, seconds=30),
        dt.timedelta(days=45, hours=5, seconds=30),
        dt.timedelta(days=400, seconds=30),
        dt.timedelta(days=-2),
    ],
)
def test_the_waiting_column_reads_like_timesince_in_every_language(ago, language):
    """The column translates each unit once per number; the words must stay Django's."""
    from django.contrib.admin import site
    from django.utils import translation
    from django.utils.timesince import timesince

    from referrals.admin import ReferralAdmin

    admin = site.get_model_admin(Referral)
    assert isinstance(admin, ReferralAdmin)
    row = Referral(created_at=timezone.now() - ago)
    with translation.override(language):
        assert admin.waiting(row) == timesince(row.created_at)
        assert admin.waiting(row) == timesince(row.created_at)  # the cached one too


def test_the_queue_page_scripts_carry_the_nonce_of_its_policy(client, cases, chiropractor):
    client.force_login(chiropractor)
    response = client.get(LIST)
    match = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])
    assert match is not None
    page = response.content.decode()
    scripts = re.findall(r"<script [^>]*>", page)
    assert len(scripts) > 3
    assert all(f'nonce="{match.group(1)}"' in tag for tag in scripts), scripts
    assert set(re.findall(r'nonce="([^"]+)"', page)) == {match.group(1)}


def test_the_case_page_shows_the_newest_history_and_links_whatever_their_number(
    client, triage_lead, monkeypatch
):
    """Issue 7: a referral that many submissions joined must not make its page slow. The page
    shows the newest CASE_EVENTS_SHOWN events and CASE_LINKED_SHOWN linked submissions, says
    so, and runs the same queries however many there are."""
    from referrals import admin as referral_admin

    monkeypatch.setattr(referral_admin, "CASE_EVENTS_SHOWN", 4)
    monkeypatch.setattr(referral_admin, "CASE_LINKED_SHOWN", 3)
    client.force_login(triage_lead)
    same = details(phone="07700 912345")
    (referral,) = submit("V01", patient=same).referrals
    client.get(LIST)
    few = _queries(client, case_url(referral))
    page = client.get(case_url(referral)).content.decode()
    assert "Showing the latest" not in page
    for _ in range(6):
        submit("V01", patient=same)  # each joins the open referral: a link and an event
    references = list(
        referral.intakes.order_by("submitted_at", "id").values_list("reference", flat=True)
    )
    assert len(references) == 7
    assert _queries(client, case_url(referral)) == few
    page = client.get(case_url(referral)).content.decode()
    assert "Showing the latest 4 entries of the history." in page
    assert "Submissions linked (the latest 3):" in page
    assert all(reference in page for reference in references[-3:])
    assert references[0] not in page.split("Submissions linked")[1]


def test_the_case_page_history_reads_each_event_with_its_label_actor_and_change(
    client, triage_lead
):
    same = details(phone="07700 912345")
    (referral,) = submit("V01", patient=same).referrals
    for _ in range(3):
        submit("V01", patient=same)
    referral_claim(referral=referral, actor=triage_lead)
    client.force_login(triage_lead)
    page = client.get(case_url(referral)).content.decode()
    entries = re.findall(r"<li>(\d+ \w+ \d\d:\d\d — [^<]*)</li>", page)
    assert [entry.split(" — ", 1)[1] for entry in entries] == [
        "Created: New (proposed) (Routine)",
        "New submission linked",
        "New submission linked",
        "New submission linked",
        f"Status changed: New (proposed) → Claimed by {triage_lead.get_username()}",
    ]


# The history line as the case template wrote it before history_lines() took it over (a first
# entry, with nothing before its status and urgency, since without the "· →" placeholder).
TEMPLATE_LINE = (
    '{{ event.created_at|date:"j M H:i" }} — {{ event.get_kind_display }}'
    "{% if event.from_status or event.to_status %}: "
    "{% if event.from_status %}{{ event.from_status }} → {% endif %}"
    "{{ event.to_status }}{% endif %}"
    "{% if event.to_urgency %} "
    "({% if event.from_urgency %}{{ event.from_urgency }} → {% endif %}{{ event.to_urgency }})"
    "{% endif %}"
    "{% if event.actor %} by {{ event.actor.get_username }}{% endif %}"
    "{% if event.reason %}: “{{ event.reason }}”{% endif %}"
)


@pytest.mark.parametrize("language", ["en-gb", "fr"])
def test_history_lines_read_as_the_template_wrote_them(language):
    template = Template(TEMPLATE_LINE)
    with translation.override(language):
        labels = {code: str(label) for code, label in [*Status.choices, *Urgency.choices]}
    # 28 Mar 22:30 in New York: the line must show the local day and time, not UTC's.
    at = dt.datetime(2026, 3, 29, 2, 30, tzinfo=dt.UTC)
    combinations = itertools.product(
        ["linked", "transition", "not_a_kind"],
        ["", "new", "retired_status"],
        ["", "claimed"],
        ["", "routine"],
        ["", "urgent"],
        [None, User(username="ana<b>")],
        ["", 'Pain <worse> & "odd" at night'],
    )
    with translation.override(language), timezone.override("America/New_York"):
        for kind, from_s, to_s, from_u, to_u, actor, reason in combinations:
            fields = {
                "created_at": at,
                "kind": kind,
                "from_status": from_s,
                "to_status": to_s,
                "from_urgency": from_u,
                "to_urgency": to_u,
                "reason": reason,
            }
            # The template given each status and urgency by its label, as the lines now name
            # them ("New (proposed) → Claimed", not "new → claimed").
            shown = {
                **fields,
                "from_status": labels.get(from_s, from_s),
                "to_status": labels.get(to_s, to_s),
                "from_urgency": labels.get(from_u, from_u),
                "to_urgency": labels.get(to_u, to_u),
            }
            event = ReferralEvent(**shown, actor=actor)
            row = {**fields, ACTOR_NAME: actor.username if actor else None}
            (line,) = history_lines([row])
            assert escape(line) == template.render(Context({"event": event})), row
            assert line.startswith("28 ")


def test_the_case_page_has_the_admins_breadcrumbs(client, cases, chiropractor):
    """Django 6 styles ol.breadcrumbs; the case page's own div drew unstyled, the trail
    pressed against the window's edge (found running make run)."""
    client.force_login(chiropractor)
    referral = Referral.objects.filter(queue="chiropractic").first()
    assert referral is not None
    html = client.get(f"/admin/referrals/referral/{referral.public_id}/change/").content.decode()
    trail = html.split('<ol class="breadcrumbs">', 1)[1].split("</ol>", 1)[0]
    assert '<a href="/admin/referrals/referral/">Referrals</a>' in trail
    assert f'<li aria-current="page">{referral.intake.reference} (Chiropractic)</li>' in trail
    assert '<div class="breadcrumbs">' not in html


@pytest.mark.parametrize("typed", ["{a}-{b}", "{a} {b}", "{a}{b}", " {a}-{b} "])
def test_the_submissions_search_finds_a_reference_as_read_out(client, cases, triage_lead, typed):
    """As the queue's search does (intake.identity.parse_reference): a reference read out with
    a dash or a space was not found in Submissions."""
    reference = cases["heel"].intake.reference
    term = typed.format(a=reference[:4].lower(), b=reference[4:])
    client.force_login(triage_lead)
    response = client.get(reverse("admin:intake_intake_changelist"), {"q": term})
    assert [i.reference for i in response.context["cl"].result_list] == [reference]


def test_a_move_says_what_was_saved_where_a_screen_reader_announces_it(client, cases, chiropractor):
    """ "Saved." alone, in a list no screen reader announced (found by a review)."""
    client.force_login(chiropractor)
    referral = Referral.objects.filter(queue="chiropractic").first()
    assert referral is not None
    url = f"/admin/referrals/referral/{referral.public_id}/"
    page = client.post(url + "move/", {"move-action": "claim"}, follow=True)
    html = page.content.decode()
    assert '<div role="status"><ul class="messagelist">' in html
    assert '<li class="success">Saved: Claim.</li>' in html


STAFF_LISTS = {
    "queue": LIST,
    "submissions": reverse("admin:intake_intake_changelist"),
    "audit trail": reverse("admin:referrals_auditentry_changelist"),
}


@pytest.mark.parametrize("page", STAFF_LISTS)
@pytest.mark.parametrize(
    "lookup",
    [
        {"created_at__year": "0"},
        {"created_at__iso_year": "99999"},
        {"id__range": "1"},
        {"id__regex": "("},
        {"created_at__date": "2026-02-30"},
    ],
)
def test_a_filter_the_list_does_not_offer_is_refused_with_a_message(
    client, cases, triage_lead, page, lookup
):
    """Django applies any lookup on a model's own field named in the address, beyond the
    list's filters: a year out of range, a regular expression that does not compile or a
    range of one value failed the page's query with a 500 (a 503 on SQLite, as if the
    database were away). Only the filters the list offers are applied; anything else is
    refused as since= is, the list shown without it, saying why."""
    client.force_login(triage_lead)
    url = STAFF_LISTS[page]
    response = client.get(url, {**lookup, "q": "Okafor"})
    assert response.status_code == 302
    assert response["Location"] == url + "?e=1"
    shown = [str(m) for m in client.get(response["Location"]).context["messages"]]
    assert shown == [
        f"The address asks for a filter this list does not offer ({', '.join(lookup)}): the "
        "list is shown without it, or any other filter or search in the address."
    ]


SUPERUSER_LISTS = {
    "staff accounts": reverse("admin:auth_user_changelist"),
    "API tokens": reverse("admin:referrals_apitoken_changelist"),
    "webhook endpoints": reverse("admin:referrals_webhookendpoint_changelist"),
    "webhook deliveries": reverse("admin:referrals_webhookdelivery_changelist"),
}


@pytest.mark.parametrize("page", SUPERUSER_LISTS)
@pytest.mark.parametrize("lookup", [{"id__range": "1"}, {"id__regex": "("}])
def test_the_administrators_lists_refuse_a_filter_they_do_not_offer_too(client, page, lookup):
    """As the staff lists do (above): they were a 500 (a 503 on SQLite)."""
    client.force_login(User.objects.create_superuser("root", "root@clinic.test", "pw-12345678"))
    url = SUPERUSER_LISTS[page]
    response = client.get(url, lookup)
    assert response.status_code == 302
    assert response["Location"] == url + "?e=1"
    shown = [str(m) for m in client.get(response["Location"]).context["messages"]]
    assert shown == [
        f"The address asks for a filter this list does not offer ({', '.join(lookup)}): the "
        "list is shown without it, or any other filter or search in the address."
    ]


@pytest.mark.parametrize("page", [*STAFF_LISTS, *SUPERUSER_LISTS])
def test_a_search_of_more_words_than_a_list_takes_is_refused_with_a_message(client, page):
    """Django's admin search ANDs a condition per word: about 1,000 words (a letter pasted into
    the box) went past SQLite's expression depth, answered 503 as if the database were away.
    A search takes up to 100 words; more is refused, saying so."""
    client.force_login(User.objects.create_superuser("root", "root@clinic.test", "pw-12345678"))
    url = {**STAFF_LISTS, **SUPERUSER_LISTS}[page]
    assert client.get(url, {"q": " ".join(["word"] * 100)}).status_code == 200
    response = client.get(url, {"q": " ".join(f"w{n}" for n in range(1_000))})
    assert response.status_code == 302
    assert response["Location"] == url + "?e=1"
    shown = [str(m) for m in client.get(response["Location"]).context["messages"]]
    assert shown == [
        "The search takes up to 100 words: the list is shown without it, or any filter in "
        "the address."
    ]
