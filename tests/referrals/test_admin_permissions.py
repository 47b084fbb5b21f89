"""What each staff page asks of a group's model permissions (docs/SECURITY.md, "What each staff
page needs"): the pages ask what the API asks for the same data, and a group missing one is
refused without being shown a patient's data, nor offered a link to what it cannot open.

A review found a group that kept "view intake" and lost "view referral" still shown the
submissions list and the dashboard's counts, which the API refused it."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from django.urls import reverse

from intake.services import Submission
from referrals.models import AuditEntry, Status
from tests.clinic_fixtures import details, make_staff, submit

pytestmark = pytest.mark.django_db

TEAM = "Chiropractic team"
FAMILY_NAME = "Quennell"
PHONE = "07700 900417"
INDEX = reverse("admin:index")
QUEUE = reverse("admin:referrals_referral_changelist")
SUBMISSIONS = reverse("admin:intake_intake_changelist")
AUDIT = reverse("admin:referrals_auditentry_changelist")


@pytest.fixture
def case() -> Submission:
    """A sciatica case: one chiropractic referral."""
    return submit("V01", patient=details(family_name=FAMILY_NAME, phone=PHONE))


def team_member_without(*codenames: str) -> User:
    """A member of the chiropractic team after an administrator took ``codenames`` from it."""
    user = make_staff("chiro_q", TEAM)
    Group.objects.get(name=TEAM).permissions.remove(
        *Permission.objects.filter(codename__in=codenames)
    )
    return user


def case_url(case: Submission, name: str = "change") -> str:
    (referral,) = case.referrals
    return reverse(f"admin:referrals_referral_{name}", args=[referral.public_id])


def intake_url(case: Submission) -> str:
    return reverse("admin:intake_intake_change", args=[case.intake.pk])


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def shows_nothing_of(html: str, case: Submission) -> bool:
    return not any(
        secret in html
        for secret in (FAMILY_NAME, FAMILY_NAME.upper(), PHONE, case.intake.reference)
    )


def admin_links(html: str) -> set[str]:
    """The admin pages a page links to (the index's list of models, the dashboard's rows), but
    signing out, and signing in again (the note shown once a session has ended)."""
    links = {href.replace("&amp;", "&") for href in re.findall(r'href="(/admin/[^"]*)"', html)}
    return {link for link in links if not link.startswith(("/admin/logout", "/admin/login"))}


# --- the submissions list (Intake) ----------------------------------------------------------


@pytest.mark.parametrize(
    "taken",
    [("view_referral",), ("view_referral", "change_referral"), ("view_intake",)],
    ids=["view referral", "view and change referral", "view intake"],
)
def test_the_submissions_are_refused_without_view_referral_and_view_intake(case, taken):
    client = signed_in(team_member_without(*taken))
    for answer in (
        client.get(SUBMISSIONS),
        client.get(SUBMISSIONS, {"q": case.intake.reference}),
        client.get(intake_url(case)),
    ):
        assert answer.status_code == 403
        assert shows_nothing_of(answer.content.decode(), case)
    index = client.get(INDEX).content.decode()
    assert SUBMISSIONS not in index
    assert shows_nothing_of(index, case)


def test_a_team_member_lists_the_submissions_and_a_row_opens_the_case_page(case, chiropractor):
    client = signed_in(chiropractor)
    listed = client.get(SUBMISSIONS)
    assert listed.status_code == 200
    assert [i.reference for i in listed.context["cl"].result_list] == [case.intake.reference]
    assert intake_url(case) in listed.content.decode()
    opened = client.get(intake_url(case))
    assert opened.status_code == 302
    assert opened["Location"] == case_url(case)
    assert SUBMISSIONS in client.get(INDEX).content.decode()


def test_without_view_patient_the_submissions_are_listed_but_open_no_case(case):
    """The list shows the submission alone; the case page, which shows the patient, is not
    linked, and its address is refused before the case is looked up."""
    client = signed_in(team_member_without("view_patient"))
    listed = client.get(SUBMISSIONS)
    assert listed.status_code == 200
    html = listed.content.decode()
    assert case.intake.reference in html
    assert intake_url(case) not in html
    assert case_url(case) not in html
    assert client.get(intake_url(case)).status_code == 403
    unknown = reverse("admin:intake_intake_change", args=[case.intake.pk + 1000])
    assert client.get(unknown).status_code == 403


# --- the queue, the case page and its forms -------------------------------------------------


@pytest.mark.parametrize(
    "taken",
    [("view_referral",), ("view_intake",), ("view_patient",), ("view_referral", "view_intake")],
    ids=["view referral", "view intake", "view patient", "view referral and intake"],
)
def test_the_queue_and_the_case_page_are_refused_without_all_three_view_permissions(case, taken):
    """Each shows the referral, the patient and the submission's flags: a case is shown whole
    or not at all, and "change referral" (kept here) does not stand in for "view"."""
    client = signed_in(team_member_without(*taken))
    (referral,) = case.referrals
    answers = [
        client.get(QUEUE),
        client.get(QUEUE, {"q": FAMILY_NAME}),
        client.get(case_url(case)),
        client.post(case_url(case, "move"), {"move-action": "claim"}),
        client.post(case_url(case, "note"), {"note-text": ""}),
        client.post(QUEUE, {"action": "claim_selected", "_selected_action": [referral.pk]}),
    ]
    for answer in answers:
        assert answer.status_code == 403
        assert shows_nothing_of(answer.content.decode(), case)
    referral.refresh_from_db()
    assert referral.status == Status.NEW
    assert not AuditEntry.objects.filter(action="view").exists()


def test_a_team_member_still_works_the_queue_and_the_case_page(case, chiropractor):
    client = signed_in(chiropractor)
    assert FAMILY_NAME.upper() in client.get(QUEUE).content.decode()
    page = client.get(case_url(case)).content.decode()
    assert FAMILY_NAME in page
    assert PHONE in page
    assert client.post(case_url(case, "move"), {"move-action": "claim"}).status_code == 302
    (referral,) = case.referrals
    referral.refresh_from_db()
    assert referral.status == Status.CLAIMED


# --- the case page's parts: actions, notes, history -----------------------------------------
# Each is shown beside the case only with its own model permission (the last note's "view
# referral event and view staff note are not asked separately"); the case itself stays.

NOTE = "Rang twice, no answer; try after 5 pm."


@pytest.fixture
def worked(case, chiropractor) -> Submission:
    """The case claimed and noted by a colleague: a history line and a note to (not) show."""
    colleague = signed_in(chiropractor)
    assert colleague.post(case_url(case, "move"), {"move-action": "claim"}).status_code == 302
    assert colleague.post(case_url(case, "note"), {"note-text": NOTE}).status_code == 302
    return case


def test_without_change_referral_the_case_is_shown_without_its_actions(worked):
    client = signed_in(team_member_without("change_referral"))
    page = client.get(case_url(worked))
    assert page.status_code == 200
    html = page.content.decode()
    assert FAMILY_NAME in html
    assert case_url(worked, "move") not in html
    assert case_url(worked, "clear") not in html
    assert "may view this referral but not act on it" in html
    assert NOTE in html
    assert client.post(case_url(worked, "move"), {"move-action": "release"}).status_code == 403


def test_without_view_staff_note_the_notes_are_not_shown(worked):
    client = signed_in(team_member_without("view_staffnote"))
    html = client.get(case_url(worked)).content.decode()
    assert FAMILY_NAME in html
    assert NOTE not in html
    assert "may not read the staff notes" in html
    assert case_url(worked, "note") in html  # "add staff note" kept: the box stays


def test_without_add_staff_note_the_note_box_is_not_offered(worked):
    client = signed_in(team_member_without("add_staffnote"))
    html = client.get(case_url(worked)).content.decode()
    assert NOTE in html
    assert case_url(worked, "note") not in html
    assert client.post(case_url(worked, "note"), {"note-text": "x"}).status_code == 403


def history_of(html: str) -> str:
    return html.split('id="history-h"', 1)[1].split("</section>", 1)[0]


def test_without_view_referral_event_the_history_is_not_shown(worked, chiropractor):
    assert "<li>" in history_of(signed_in(chiropractor).get(case_url(worked)).content.decode())
    client = signed_in(team_member_without("view_referralevent"))
    html = client.get(case_url(worked)).content.decode()
    assert FAMILY_NAME in html
    assert "<li>" not in history_of(html)
    assert "may not read the referral's history" in html
    (referral,) = worked.referrals
    # The API's referral detail and a move's answer carry the history: a staff session
    # without it is refused them; the list, which does not, stays.
    assert client.get("/api/v1/referrals").status_code == 200
    detail = client.get(f"/api/v1/referrals/{referral.public_id}")
    assert detail.status_code == 403
    assert shows_nothing_of(detail.content.decode(), worked)
    assert client.post(f"/api/v1/referrals/{referral.public_id}/release", {}).status_code == 403
    referral.refresh_from_db()
    assert referral.status == Status.CLAIMED


def test_a_team_member_sees_every_part_of_the_case(worked, chiropractor):
    html = signed_in(chiropractor).get(case_url(worked)).content.decode()
    assert case_url(worked, "move") in html
    assert case_url(worked, "note") in html
    assert NOTE in html
    assert "may not" not in html


# --- the dashboard and the index -------------------------------------------------------------


@pytest.mark.parametrize("taken", ["view_referral", "view_intake", "view_patient"])
def test_the_dashboard_counts_are_not_shown_without_the_queues_permissions(case, taken):
    client = signed_in(team_member_without(taken))
    answer = client.get(INDEX)
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "Open referrals" not in html
    assert "Median time to claim" not in html
    assert "Foot and back" not in html
    assert QUEUE not in html
    assert shows_nothing_of(html, case)


def test_a_team_member_sees_the_dashboard_counts(case, chiropractor):
    html = signed_in(chiropractor).get(INDEX).content.decode()
    assert "Open referrals" in html
    assert f"{QUEUE}?queue=chiropractic" in html


@pytest.mark.parametrize(
    "taken",
    [(), ("view_referral",), ("view_intake",), ("view_patient",), ("change_referral",)],
    ids=["nothing", "view referral", "view intake", "view patient", "change referral"],
)
def test_the_index_links_only_to_pages_the_user_may_open(case, taken):
    client = signed_in(team_member_without(*taken))
    links = admin_links(client.get(INDEX).content.decode())
    assert links
    for link in sorted(links):
        assert client.get(link).status_code == 200, link


def test_the_triage_lead_and_a_superuser_keep_every_page(case, triage_lead):
    admin = User.objects.create_superuser("root_r", "root@clinic.test", "x" * 16)
    for user in (triage_lead, admin):
        client = signed_in(user)
        index = client.get(INDEX).content.decode()
        assert "Open referrals" in index
        for url in (QUEUE, SUBMISSIONS, AUDIT):
            assert url in index
            assert client.get(url).status_code == 200
        assert FAMILY_NAME in client.get(case_url(case)).content.decode()
        assert client.get(intake_url(case))["Location"] == case_url(case)


# --- the audit trail -------------------------------------------------------------------------


@pytest.mark.parametrize("taken", ["view_auditentry", "view_patient"])
def test_the_audit_trail_is_refused_to_a_lead_without_its_permissions(case, triage_lead, taken):
    """Its entries name the patient they concern (the entry's page shows the patient)."""
    (referral,) = case.referrals
    entry = AuditEntry.objects.create(
        action="view",
        object_type="referral",
        object_id=str(referral.public_id),
        patient_id=referral.patient_id,
    )
    Group.objects.get(name="Triage lead").permissions.remove(Permission.objects.get(codename=taken))
    client = signed_in(triage_lead)
    for url in (AUDIT, reverse("admin:referrals_auditentry_change", args=[entry.pk])):
        answer = client.get(url)
        assert answer.status_code == 403
        assert shows_nothing_of(answer.content.decode(), case)
    assert AUDIT not in client.get(INDEX).content.decode()


# --- the API asks the same ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("taken", "referrals", "intake"),
    [
        (("view_referral",), 403, 403),
        (("view_intake",), 403, 403),
        (("view_patient",), 200, 403),
    ],
    ids=["view referral", "view intake", "view patient"],
)
def test_the_api_asks_a_staff_session_what_the_pages_ask(case, taken, referrals, intake):
    client = signed_in(team_member_without(*taken))
    (referral,) = case.referrals
    assert client.get("/api/v1/referrals").status_code == referrals
    assert client.get(f"/api/v1/referrals/{referral.public_id}").status_code == referrals
    for path in ("", "/fhir", "/body-map.svg"):
        answer = client.get(f"/api/v1/intakes/{case.intake.public_id}{path}")
        assert answer.status_code == intake
        assert shows_nothing_of(answer.content.decode(), case)
    assert client.post(f"/api/v1/referrals/{referral.public_id}/claim", {}).status_code == 403
