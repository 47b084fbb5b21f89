"""intake_submit_bulk and generate_cases: the same results as intake_submit, written in batches."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import types
import zoneinfo
from typing import Any, cast
from unittest import mock

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db.models import Count, F, Q

from intake import rows
from intake.bulk import (
    WRITTEN_MODELS,
    BulkSubmission,
    BulkSubmissionInvalid,
    HistoryStep,
    intake_submit_bulk,
    prepare_one,
)
from intake.generator import CaseGenerator, _other_form
from intake.identity import age_on, normalise_phone
from intake.models import Intake, IntakeSource, Patient
from intake.services import validate_patient
from referrals.errors import TransitionNotAllowed
from referrals.models import (
    OPEN_STATUSES,
    EventKind,
    Referral,
    ReferralEvent,
    ReferralIntake,
    Status,
)
from tests.clinic_fixtures import details, submit, worked_case, worked_cases
from tests.conftest import on_postgresql
from tests.helpers import sqlite_plan

pytestmark = pytest.mark.django_db

LONDON = zoneinfo.ZoneInfo("Europe/London")
# A Tuesday morning, clinic open: every urgency has a distinct due time.
SUBMITTED = dt.datetime(2026, 3, 10, 10, 30, tzinfo=LONDON)

INTAKE_FIELDS = [
    "source",
    "date_of_birth",
    "submitted_at",
    "submission_date",
    "age_years",
    "answers",
    "questionnaire_version",
    "ruleset_version",
    "link_kind",
    "triage_result",
    "urgency",
    "flag_codes",
    "red_flag_count",
    "patient_messages",
    "messages_shown_at",
]
REFERRAL_FIELDS = [
    "queue",
    "status",
    "urgency",
    "red_flag_count",
    "priority",
    "due_at",
    "note",
    "suggested_after_clearance",
    "assigned_to_id",
    "closed_at",
    "link_kind",
]


def born(age: int) -> dt.date:
    on = SUBMITTED.date()
    birth = dt.date(on.year - age - 1, on.month, 1) + dt.timedelta(days=100)
    while age_on(birth, on) != age:
        birth -= dt.timedelta(days=30)
    return birth


def person(n: int, age: int = 45, **kwargs: Any) -> Any:
    return details(
        family_name=kwargs.pop("family_name", "Okafor"),
        date_of_birth=born(age),
        phone=kwargs.pop("phone", f"07700 9{n:05d}"),
        **kwargs,
    )


def case_age(case_id: str) -> int:
    return next(c["answers"]["age_years"] for c in worked_cases() if c["id"].startswith(case_id))


def bulk_one(case_id: str, patient: Any, at: dt.datetime = SUBMITTED) -> BulkSubmission:
    return BulkSubmission(patient=patient, answers=worked_case(case_id), submitted_at=at)


def bulk_submit(items: list[BulkSubmission], **kwargs: Any) -> int:
    """intake_submit_bulk as of the submission time, so nothing is overdue yet."""
    return intake_submit_bulk(submissions=items, **{"now": SUBMITTED, **kwargs})


def fields(obj: Any, names: list[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in names}


@pytest.mark.parametrize("case", [c["id"][:3] for c in worked_cases()])
def test_bulk_stores_the_same_case_as_intake_submit(case):
    age = case_age(case)
    single = submit(
        case, patient=person(1, age), submitted_at=SUBMITTED, source=IntakeSource.GENERATOR
    )
    assert bulk_submit([bulk_one(case, person(2, age))]) == 1
    bulk = Intake.objects.exclude(pk=single.intake.pk).get()
    single.intake.refresh_from_db()
    assert fields(bulk, INTAKE_FIELDS) == fields(single.intake, INTAKE_FIELDS)
    assert bulk.reference != single.intake.reference
    assert bulk.created_at == bulk.submitted_at

    def referrals(intake: Intake) -> list[dict[str, Any]]:
        return [fields(r, REFERRAL_FIELDS) for r in Referral.objects.filter(intake=intake)]

    assert referrals(bulk) == referrals(single.intake)
    assert referrals(bulk)
    for referral in Referral.objects.filter(intake=bulk):
        assert list(referral.intakes.all()) == [bulk]
        [event] = referral.events.all()
        assert (event.kind, event.to_status, event.to_urgency) == (
            EventKind.CREATED,
            Status.NEW,
            referral.urgency,
        )
        assert event.data == {"intake": bulk.reference}
        assert event.created_at == SUBMITTED


def test_bulk_stores_the_given_names_search_key_as_intake_submit_does():
    age = case_age("V01")
    submit("V01", patient=person(1, age, given_name="Zoë"), submitted_at=SUBMITTED)
    bulk_submit([bulk_one("V01", person(2, age, given_name="José", family_name="García"))])
    assert sorted(Patient.objects.values_list("given_name_key", flat=True)) == ["jose", "zoe"]


def test_no_notification_is_sent_for_bulk_cases():
    mail.outbox.clear()
    intake_submit_bulk(submissions=[bulk_one("V09", person(1, 44))])
    assert Referral.objects.get().urgency == "emergency"
    assert mail.outbox == []


def test_repeat_patients_are_matched_within_a_batch_and_against_the_database():
    submit("V01", patient=person(1, 38), submitted_at=SUBMITTED)
    later = SUBMITTED + dt.timedelta(days=30)
    same_by_international_phone = person(1, 38, phone="+44 7700 900001", family_name="OKAFOR")
    new_person = person(2, 38, family_name="Okafor-Smith", email="Ada@Example.com")
    new_again_by_email = person(3, 38, family_name="Okafor-Smith", email="ada@example.com")
    intake_submit_bulk(
        submissions=[
            bulk_one("V01", same_by_international_phone, later),
            bulk_one("V11", new_person, later),
            bulk_one("V11", new_again_by_email, later + dt.timedelta(hours=1)),
        ]
    )
    assert Patient.objects.count() == 2
    okafor = Patient.objects.get(family_name_key="okafor")
    assert okafor.intakes.count() == 2
    smith = Patient.objects.get(family_name_key="okafor" + "smith")
    assert smith.intakes.count() == 2
    # The newest submission's contact details are kept, as in patient_match_or_create.
    assert smith.email_key == "ada@example.com"
    assert smith.phone_key == "07700900003"


def test_same_name_and_birth_date_without_shared_contact_is_another_patient():
    intake_submit_bulk(submissions=[bulk_one("V01", person(1, 38)), bulk_one("V01", person(2, 38))])
    assert Patient.objects.count() == 2
    assert Referral.objects.count() == 2


def sequence_state(patient_n: int, cases: list[str], *, bulk: bool) -> list[dict[str, Any]]:
    ages = {case: case_age(case) for case in cases}
    age = max(ages.values())
    times = [SUBMITTED + dt.timedelta(hours=2 * i) for i in range(len(cases))]
    if bulk:
        bulk_submit(
            [
                bulk_one(case, person(patient_n, age), at)
                for case, at in zip(cases, times, strict=True)
            ]
        )
    else:
        for case, at in zip(cases, times, strict=True):
            submit(case, patient=person(patient_n, age), submitted_at=at)
    patient = Patient.objects.get(phone_key=f"077009{patient_n:05d}")
    out = []
    for referral in Referral.objects.filter(patient=patient).order_by("queue", "id"):
        state = fields(referral, [f for f in REFERRAL_FIELDS if f != "note"])
        state["intakes"] = referral.intakes.count()
        state["events"] = [e.kind for e in referral.events.order_by("id")]
        out.append(state)
    return out


@pytest.mark.parametrize(
    ("cases", "urgency"),
    [
        (["V17", "V09"], "emergency"),  # urgent then emergency: raised
        (["V09", "V17"], "emergency"),  # emergency then urgent: never lowered
        (["V01", "V22", "V06"], "routine"),  # routine chiropractic joined twice
    ],
)
def test_a_later_submission_in_the_batch_joins_the_open_referral_like_intake_submit(cases, urgency):
    bulk = sequence_state(1, cases, bulk=True)
    single = sequence_state(2, cases, bulk=False)
    assert bulk == single
    joined = [state for state in bulk if state["intakes"] > 1]
    assert joined
    assert all(state["urgency"] == urgency for state in joined)


def test_a_bulk_submission_joins_an_open_referral_in_the_database_and_never_lowers_it():
    first = submit("V09", patient=person(1, 44), submitted_at=SUBMITTED).referrals[0]
    bulk_submit([bulk_one("V17", person(1, 44), SUBMITTED + dt.timedelta(days=1))])
    referral = Referral.objects.get()
    assert referral.pk == first.pk
    assert (referral.urgency, referral.due_at) == ("emergency", first.due_at)
    assert referral.intakes.count() == 2
    assert [e.kind for e in referral.events.order_by("id")] == [EventKind.CREATED, EventKind.LINKED]


def test_a_bulk_submission_raises_an_open_referral_in_the_database():
    first = submit("V17", patient=person(1, 64), submitted_at=SUBMITTED).referrals[0]
    bulk_submit([bulk_one("V09", person(1, 64), SUBMITTED + dt.timedelta(hours=1))])
    referral = Referral.objects.get()
    assert referral.pk == first.pk
    assert referral.urgency == "emergency"
    assert referral.due_at < first.due_at
    assert [e.kind for e in referral.events.order_by("id")] == [
        EventKind.CREATED,
        EventKind.LINKED,
        EventKind.URGENCY_RAISED,
    ]


def test_invalid_items_are_rejected_with_errors_per_item_and_nothing_is_written():
    bad_answers = worked_case("V01")
    bad_answers["pain_now_nrs"] = 11
    items = [
        bulk_one("V01", person(1, 38)),
        BulkSubmission(patient=person(2, 38), answers=bad_answers, submitted_at=SUBMITTED),
        bulk_one("V01", person(3, 38, phone="")),
        BulkSubmission(
            patient=person(4, 38), answers=worked_case("V01"), submitted_at=dt.datetime(2026, 1, 1)
        ),
    ]
    with pytest.raises(BulkSubmissionInvalid) as caught:
        intake_submit_bulk(submissions=items)
    assert set(caught.value.errors) == {1, 2, 3}
    assert "pain_now_nrs" in caught.value.errors[1]
    assert "phone" in caught.value.errors[2]
    assert "submitted_at" in caught.value.errors[3]
    assert not Patient.objects.exists()
    assert not Intake.objects.exists()


def test_a_failure_while_writing_leaves_nothing_of_the_batch(monkeypatch):
    real_insert = rows.Table.insert

    def failing(self: rows.Table, values: Any) -> None:
        if self.model is ReferralEvent:
            raise RuntimeError("disk full")
        real_insert(self, values)

    monkeypatch.setattr(rows.Table, "insert", failing)
    with pytest.raises(RuntimeError):
        intake_submit_bulk(submissions=[bulk_one("V01", person(1, 38))])
    assert not Patient.objects.exists()
    assert not Intake.objects.exists()
    assert not Referral.objects.exists()


def test_history_is_played_through_the_table_of_legal_moves(chiropractor):
    later = SUBMITTED + dt.timedelta(days=1)

    def history(referral: Referral) -> list[HistoryStep]:
        return [
            HistoryStep("claim", later, chiropractor.pk),
            HistoryStep("contact", later + dt.timedelta(hours=1), chiropractor.pk),
            HistoryStep("schedule", later + dt.timedelta(hours=2), chiropractor.pk),
            HistoryStep("complete", later + dt.timedelta(days=10), chiropractor.pk),
        ]

    intake_submit_bulk(submissions=[bulk_one("V01", person(1, 38))], history=history)
    referral = Referral.objects.get()
    assert referral.status == Status.COMPLETED
    assert referral.assigned_to == chiropractor
    assert referral.claimed_at == later
    assert referral.closed_at == later + dt.timedelta(days=10)
    assert referral.updated_at == referral.closed_at
    moves = [(e.from_status, e.to_status) for e in referral.events.filter(kind="transition")]
    assert moves == [
        ("new", "claimed"),
        ("claimed", "contacted"),
        ("contacted", "scheduled"),
        ("scheduled", "completed"),
    ]
    # Completed after its due time: the scheduler would have marked it overdue on the way.
    assert referral.overdue_at == referral.due_at
    # A closed referral is not joined: the next submission opens a new one.
    intake_submit_bulk(submissions=[bulk_one("V01", person(1, 38), later + dt.timedelta(days=19))])
    assert Referral.objects.filter(status__in=OPEN_STATUSES).count() == 1


def test_an_illegal_history_writes_nothing(chiropractor):
    def history(referral: Referral) -> list[HistoryStep]:
        return [HistoryStep("complete", SUBMITTED + dt.timedelta(days=1), chiropractor.pk)]

    with pytest.raises(TransitionNotAllowed):
        intake_submit_bulk(submissions=[bulk_one("V01", person(1, 38))], history=history)
    assert not Intake.objects.exists()


def test_batches_are_written_in_separate_transactions_with_unique_references():
    items = [bulk_one("V01", person(n, 38)) for n in range(7)]
    assert intake_submit_bulk(submissions=items, batch_size=3) == 7
    assert Intake.objects.values("reference").distinct().count() == 7
    assert ReferralIntake.objects.count() == 7


def test_generate_cases_makes_realistic_data_through_the_bulk_service():
    mail.outbox.clear()
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "generate_cases", "--count", "200", "--seed", "7", "--batch", "60", stdout=out, stderr=err
    )
    assert "Generated 200 cases" in out.getvalue()
    assert Intake.objects.filter(source=IntakeSource.GENERATOR).count() == 200
    assert mail.outbox == []
    # Repeat patients were matched.
    assert Patient.objects.count() < 200
    # Each with the search's key of their given name, as intake_submit stores it.
    assert not Patient.objects.filter(given_name_key="").exists()
    # Histories: a share closed, some still open; spread over about two years.
    assert Referral.objects.filter(status=Status.COMPLETED).exists()
    assert Referral.objects.filter(status__in=OPEN_STATUSES).exists()
    first, last = (
        Intake.objects.order_by("submitted_at").first(),
        Intake.objects.order_by("submitted_at").last(),
    )
    assert first is not None
    assert last is not None
    assert (last.submitted_at - first.submitted_at).days > 500
    # Never two open referrals for one patient and queue (the partial unique index).
    duplicates = (
        Referral.objects.filter(status__in=OPEN_STATUSES)
        .values("patient", "queue")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not duplicates.exists()
    # Every claimed or later referral has its clinician; every closed one its time.
    assert not Referral.objects.filter(
        ~Q(status=Status.NEW), status__in=OPEN_STATUSES, assigned_to=None
    ).exists()
    assert not Referral.objects.exclude(status__in=OPEN_STATUSES).filter(closed_at=None).exists()
    assert ReferralEvent.objects.filter(kind=EventKind.CREATED).count() == Referral.objects.count()
    # Each referral carries the link kind of the intake that opened it (the dashboard's index).
    assert not Referral.objects.exclude(link_kind=F("intake__link_kind")).exists()
    assert Referral.objects.exclude(link_kind="neither").exists()


def test_generated_repeat_submissions_join_open_referrals_when_cases_are_dense():
    call_command("generate_cases", "--count", "200", "--years", "0.02", stdout=io.StringIO())
    assert ReferralIntake.objects.count() > Referral.objects.count()
    assert ReferralEvent.objects.filter(kind=EventKind.LINKED).exists()


def test_generate_cases_again_adds_to_the_data_and_matches_the_same_repeat_patients():
    call_command("generate_cases", "--count", "100", "--seed", "3", stdout=io.StringIO())
    patients = Patient.objects.count()
    call_command("generate_cases", "--count", "100", "--seed", "3", stdout=io.StringIO())
    assert Intake.objects.count() == 200
    assert Patient.objects.count() < 2 * patients


def generated_rows() -> dict[str, list[tuple[Any, ...]]]:
    """Everything generate_cases wrote, with each intake's random reference replaced by its
    position, so two runs of one seed compare equal."""
    references = {
        ref: n
        for n, ref in enumerate(Intake.objects.order_by("id").values_list("reference", flat=True))
    }

    def event_data(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "intake": references[data["intake"]]} if "intake" in data else data

    patient = [
        "id",
        "given_name",
        "family_name",
        "date_of_birth",
        "phone",
        "email",
        "preferred_contact",
        "created_at",
        "updated_at",
    ]
    intake = [
        "id",
        "patient_id",
        "submitted_at",
        "answers",
        "triage_result",
        "urgency",
        "flag_codes",
        "patient_messages",
    ]
    referral = [
        "id",
        "patient_id",
        "intake_id",
        *REFERRAL_FIELDS,
        "claimed_at",
        "overdue_at",
        "created_at",
        "updated_at",
    ]
    event = [
        "id",
        "referral_id",
        "kind",
        "actor_id",
        "from_status",
        "to_status",
        "from_urgency",
        "to_urgency",
        "reason",
        "created_at",
    ]
    # Ids counted from each table's first (AUTOINCREMENT does not restart after a delete).
    first = {
        name: model.objects.order_by("id").values_list("id", flat=True)[0]
        for name, model in (("patient", Patient), ("intake", Intake), ("referral", Referral))
    }

    def ids(rows: Any, *columns: str) -> list[tuple[Any, ...]]:
        return [
            tuple(value - first[column] for value, column in zip(row, columns, strict=False))
            + tuple(row[len(columns) :])
            for row in rows
        ]

    first_event = ReferralEvent.objects.order_by("id").values_list("id", flat=True)[0]
    return {
        "patients": ids(Patient.objects.order_by("id").values_list(*patient), "patient"),
        "intakes": ids(Intake.objects.order_by("id").values_list(*intake), "intake", "patient"),
        "referrals": ids(
            Referral.objects.order_by("id").values_list(*referral), "referral", "patient", "intake"
        ),
        "links": ids(
            ReferralIntake.objects.order_by("id").values_list(
                "referral_id", "intake_id", "created_at"
            ),
            "referral",
            "intake",
        ),
        "events": [
            (row[0] - first_event, row[1] - first["referral"], *row[2:], event_data(data))
            for *row, data in ReferralEvent.objects.order_by("id").values_list(*event, "data")
        ],
    }


def fresh_data() -> None:
    for model in (ReferralEvent, ReferralIntake, Referral, Intake, Patient):
        model.objects.all().delete()


def test_generate_cases_in_worker_processes_writes_the_same_rows_as_in_one_process():
    from intake.management.commands import generate_cases

    now = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
    runs = []
    for workers in ("0", "2"):
        fresh_data()
        # The test's transaction must outlive the fork: the workers never use the database.
        with (
            mock.patch.object(generate_cases.timezone, "now", return_value=now),
        ):
            # Dense (a few days) and twice over: repeat patients are matched within a batch,
            # against earlier batches and against the first run's rows, and referrals are joined.
            for _run in range(2):
                call_command(
                    "generate_cases",
                    "--count",
                    "300",
                    "--seed",
                    "5",
                    "--batch",
                    "70",
                    "--years",
                    "0.01",
                    "--workers",
                    workers,
                    stdout=io.StringIO(),
                )
        runs.append(generated_rows())
    single, parallel = runs
    assert single == parallel
    assert ReferralEvent.objects.filter(kind=EventKind.LINKED).exists()
    assert Patient.objects.count() < 500


def test_generate_cases_workers_run_at_a_lower_priority_than_the_writer(monkeypatch):
    from intake.management.commands import generate_cases as command

    monkeypatch.setattr(command, "_plan_here", lambda *args: os.nice(0))
    generator = cast(CaseGenerator, types.SimpleNamespace(batch_count=lambda batch: 3))
    now = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
    niceness = [plan for plan, _load in command._plans(generator, 10, workers=2, now=now)]
    assert niceness == [min(19, os.nice(0) + command.WORKER_NICENESS)] * 3


def test_a_worker_killed_mid_run_stops_generate_cases_with_a_message_keeping_what_was_written(
    monkeypatch,
):
    from intake.management.commands import generate_cases as command

    plan = command._plan_here

    def plan_or_die(generator, index, batch, now):
        if index == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return plan(generator, index, batch, now)

    monkeypatch.setattr(command, "_plan_here", plan_or_die)
    arguments = ["--count", "120", "--batch", "30", "--workers", "1", "--seed", "3"]
    with pytest.raises(CommandError, match="A worker process stopped unexpectedly") as stopped:
        call_command("generate_cases", *arguments, stdout=io.StringIO())
    # One worker: batches 0 and 1 were sent back before it planned batch 2, and written.
    assert "The 60 cases written before it are kept." in str(stopped.value)
    assert "terminated abruptly" in str(stopped.value)  # what the executor knows
    assert Intake.objects.count() == 60


def test_a_repeat_patient_writing_the_number_the_other_way_keeps_a_valid_number():
    """A repeat patient picked again and again must not grow the number (+44 +44 ...): that
    made generated submissions invalid after a few hundred thousand cases."""
    phone = "07700 900123"
    forms = [phone]
    for _ in range(5):
        forms.append(_other_form(forms[-1]))
    assert forms[2] == phone
    assert {normalise_phone(form) for form in forms} == {normalise_phone(phone)}
    assert all(
        not validate_patient(details(phone=form), today=dt.date(2026, 1, 1)) for form in forms
    )


def test_a_repeat_patient_past_the_questionnaires_age_range_is_not_sent_again():
    """Someone aged 110 who writes in again after their birthday would be refused (the
    questionnaire takes 16 to 110), so the generator makes a new person instead: such a case
    made a 10,000-case run with seed 1 fail."""
    from intake.generator import CaseGenerator

    start = dt.datetime(2025, 1, 1, 9, tzinfo=dt.UTC)
    generator = CaseGenerator(
        seed=1, count=100, start=start, end=start + dt.timedelta(days=60), staff={}, repeat_share=1
    )
    oldest = details(date_of_birth=dt.date(1914, 1, 20))  # 110 on 1 January, 111 on 20 January
    generator.pool = [oldest]
    generator.recent.clear()
    generator.recent.append((oldest, True))
    assert generator._submission(start).patient.date_of_birth == oldest.date_of_birth
    later = start + dt.timedelta(days=30)
    for _ in range(20):
        generator.recent.clear()
        generator.recent.append((oldest, True))
        item = generator._submission(later)
        assert item.patient.date_of_birth != oldest.date_of_birth
        assert not item.may_be_stored
        assert not isinstance(prepare_one(item), dict)


def test_rows_are_read_from_the_instances_as_getattr_reads_them_even_when_deferred():
    stored = submit("V01").intake
    table = rows.Table(Intake, [field.attname for field in Intake._meta.concrete_fields])
    assert table.rows_from([stored]) == [table.row([getattr(stored, c) for c in table.columns])]
    deferred = Intake.objects.only("id", "reference").get(pk=stored.pk)
    loaded = Intake.objects.get(pk=stored.pk)
    assert table.rows_from([deferred]) == [table.row([getattr(loaded, c) for c in table.columns])]
    one = rows.Table(Intake, ["reference"])
    assert one.rows_from([stored]) == [(stored.reference,)]


def test_the_models_the_bulk_writer_builds_have_their_primary_key_as_id():
    # _BatchWriter reads and sets the ids as ``id`` rather than through ``Model.pk``.
    for model in (Patient, Intake, Referral):
        pk = model._meta.pk
        assert pk is not None
        assert pk.attname == "id"
        assert not model._meta.parents


def test_table_update_stores_what_bulk_update_stores():
    fields = ["urgency", "due_at", "overdue_at", "priority", "updated_at"]
    by_pk = {r.pk: r for code in ("V01", "V09", "V22") for r in submit(code).referrals}
    referrals = list(by_pk.values())
    assert len(referrals) >= 2
    for n, referral in enumerate(referrals):
        referral.urgency = "urgent"
        referral.due_at = SUBMITTED + dt.timedelta(hours=n)
        referral.overdue_at = None if n else SUBMITTED
        referral.priority = 7
        referral.updated_at = referral.created_at + dt.timedelta(minutes=n)
    one, other = referrals[: len(referrals) // 2], referrals[len(referrals) // 2 :]
    Referral.objects.bulk_update(one, fields)
    rows.Table(Referral, [*fields, "id"]).update(other)
    stored = {r.pk: r for r in Referral.objects.filter(pk__in=[r.pk for r in referrals])}
    for referral in referrals:
        assert [getattr(stored[referral.pk], f) for f in fields] == [
            getattr(referral, f) for f in fields
        ]


def test_stored_values_names_the_stored_ones_in_any_number_of_queries(monkeypatch):
    monkeypatch.setattr(rows, "IN_ROWS", 2)
    stored = [submit(code).intake.reference for code in ("V01", "V09", "V22")]
    asked = ["NOPE0001", stored[0], "NOPE0002", stored[2], stored[1]]
    assert sorted(rows.stored_values(Intake, "reference", asked)) == sorted(stored)
    assert rows.stored_values(Intake, "reference", []) == []


def test_candidate_queries_find_exactly_the_stored_patients_with_the_keys(monkeypatch):
    """Matching reads the stored patients with a batch's keys, however many queries the keys
    take, anonymised ones left out (their identity is gone)."""
    from django.db import connection
    from django.utils import timezone

    import intake.bulk

    monkeypatch.setattr(intake.bulk, "MATCH_ROWS", 3)  # several queries on SQLite
    people = [
        submit(
            "V01", patient=details(family_name=name, date_of_birth=born, phone=phone)
        ).intake.patient
        for name, born, phone in [
            ("Okafor", dt.date(1980, 5, 17), "07700 900001"),
            ("Okafor", dt.date(1980, 5, 17), "07700 900002"),  # same key, another person
            ("Núñez", dt.date(1975, 1, 2), "07700 900003"),
            ("Smith", dt.date(1990, 3, 4), "07700 900004"),
            ("Jones", dt.date(1960, 7, 8), "07700 900005"),
        ]
    ]
    assert len({person.pk for person in people}) == 5
    Patient.objects.filter(pk=people[4].pk).update(anonymised_at=timezone.now())
    keys = sorted(
        {(p.family_name_key, p.date_of_birth) for p in people}
        | {("okafor", dt.date(1980, 5, 18)), ("nobody", dt.date(1980, 5, 17))}
        | {(f"absent{n}", dt.date(2000, 1, 1)) for n in range(5)}
    )
    found: list[int] = []
    for sql, params in intake.bulk.candidate_queries(keys + keys[:4]):  # a key given twice
        found.extend(patient.pk for patient in Patient.objects.raw(sql, params))
    assert sorted(found) == sorted(person.pk for person in people[:4])
    assert len(found) == 4
    if connection.vendor == "postgresql":
        assert len(list(intake.bulk.candidate_queries(keys))) == 1  # two arrays, one query


@pytest.mark.skipif(on_postgresql(), reason="SQLite's planner; PostgreSQL's follows statistics")
def test_candidates_are_read_by_one_probe_of_the_matching_index_per_key_not_a_scan():
    """A scan of the patient table per batch would grow with the history (SQLite did that
    with ``IN (VALUES ...)``). Without statistics (generate_cases leaves SQLite's unset)
    SQLite plans by fixed rules, so the plan on a small test database is the plan at a
    million patients; checked with a full query's worth of keys and with a few."""
    import intake.bulk

    table = Patient._meta.db_table
    for count in (intake.bulk.MATCH_ROWS, 50):
        keys = [(f"name{n}", dt.date(1900, 1, 1) + dt.timedelta(days=n)) for n in range(count)]
        ((sql, params),) = intake.bulk.candidate_queries(keys)
        plan = sqlite_plan(sql, params)
        assert any("USING INDEX patient_match_idx" in step for step in plan), plan
        assert not any(step.startswith(f"SCAN {table}") or step == "SCAN p" for step in plan)


@pytest.mark.postgres_only
def test_generate_cases_refreshes_postgresql_statistics_of_what_it_wrote():
    """The planner's row counts come from ANALYZE: after the load they are the rows written
    (reltuples is -1 or 0 for a table never analysed, or analysed empty)."""
    from django.db import connection

    out = io.StringIO()
    call_command("generate_cases", "--count", "40", "--seed", "5", "--workers", "0", stdout=out)
    # Inside the test's transaction: ANALYZE alone (VACUUM cannot run in one).
    assert "statistics refreshed" in out.getvalue()
    assert "vacuumed" not in out.getvalue()
    with connection.cursor() as cursor:
        for model in WRITTEN_MODELS:
            cursor.execute(
                "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [model._meta.db_table]
            )
            (estimated,) = cursor.fetchone()
            assert estimated == model.objects.count() > 0, model.__name__


def test_history_draws_are_a_function_of_the_key_uniform_and_chained_past_one_digest():
    from intake.generator import HistoryDraws

    first, again, other = (
        HistoryDraws("history:1:a"),
        HistoryDraws("history:1:a"),
        HistoryDraws("history:1:b"),
    )
    drawn = [first.random() for _ in range(20)]  # eight per digest: two chained digests more
    assert drawn == [again.random() for _ in range(20)]
    assert drawn != [other.random() for _ in range(20)]
    assert len(set(drawn)) == 20
    assert all(0.0 <= value < 1.0 for value in drawn)
    many = [HistoryDraws(f"key:{n}") for n in range(4000)]
    values = [draws.random() for draws in many]
    assert abs(sum(values) / len(values) - 0.5) < 0.02
    assert sum(value < 0.1 for value in values) == pytest.approx(400, abs=80)
    staff = (7, 8, 9)
    picked = [draws.choice(staff) for draws in many]
    assert {picked.count(n) for n in staff} <= set(range(1200, 1467))
    assert all(2 <= draws.uniform(2, 14) < 14 for draws in many[:500])
    waits = [draws.expovariate(1 / 3) for draws in many]
    assert min(waits) >= 0
    assert sum(waits) / len(waits) == pytest.approx(3, rel=0.1)


def test_a_referrals_history_is_the_same_whenever_and_wherever_it_is_made():
    """The writer may build an item's history again (a redone item): it depends on the referral
    alone, not on what was drawn before."""
    from intake.generator import CaseGenerator

    start = dt.datetime(2025, 1, 1, 9, tzinfo=dt.UTC)
    generator = CaseGenerator(
        seed=3, count=10, start=start, end=start + dt.timedelta(days=90), staff={"podiatry": [5, 6]}
    )
    referrals = [
        Referral(queue="podiatry", urgency=urgency, created_at=start + dt.timedelta(hours=n))
        for n, urgency in enumerate(["routine", "urgent", "emergency"] * 10)
    ]
    forward = [generator.history(referral) for referral in referrals]
    backward = [generator.history(referral) for referral in reversed(referrals)][::-1]
    assert forward == backward
    assert all(steps for steps in forward)
    assert len({tuple(steps) for steps in forward}) == len(forward)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_generate_cases_vacuums_what_it_wrote_so_index_only_scans_work():
    """Outside a transaction the written tables are vacuumed too: the visibility map it sets
    lets the admin queue's capped count read the index alone (a server with autovacuum off
    read every counted row from the table: p95 82.7 ms at 1,000,000 cases, 47.6 vacuumed)."""
    from django.db import connection

    from referrals.models import Referral
    from tests.clinic_fixtures import ensure_staff_groups

    ensure_staff_groups()  # an earlier transactional test's flush removed them
    out = io.StringIO()
    call_command("generate_cases", "--count", "200", "--seed", "6", "--workers", "0", stdout=out)
    assert "vacuumed" in out.getvalue()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relallvisible FROM pg_class WHERE oid = %s::regclass", [Referral._meta.db_table]
        )
        (all_visible,) = cursor.fetchone()
    assert all_visible > 0
