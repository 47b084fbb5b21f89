"""intake_submit_bulk: many cases at once (the data generator), through the same rules.

Every item goes through ``intake_prepare`` (validation, triage, routing, patient messages) exactly
like ``intake_submit``; patients are matched with the same keys and helpers, and referrals are
proposed with the same pure functions as ``referrals_propose`` (``referrals.proposals``). Only the
writing differs: a batch is matched against the database with a handful of queries and written
with ``bulk_create`` in one transaction, so nothing of a batch is ever half-written.

Differences from ``intake_submit``, on purpose:

- No notifications or emails: generated cases are history, nobody is to be paged for them.
- Rows carry the item's own times (``submitted_at``, and the history's times) as ``created_at`` /
  ``updated_at``, so a generated data set looks like two years of use.
- Rows are inserted with ``intake.rows`` (``executemany``/``COPY``), not ``bulk_create``: the ORM's
  per-value compilation alone would cost more than the whole 5,000-cases-a-second budget.
- Referrals still open and past due when written are marked overdue the way the scheduler would
  have marked them, so the first scheduler run after generating does not mail about thousands
  of historical cases.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from intake import identity
from intake.models import Intake, IntakeSource, Patient
from intake.rows import Table, allocate_ids
from intake.services import (
    PatientDetails,
    PreparedSubmission,
    SubmissionInvalid,
    intake_build,
    intake_prepare,
    patient_build,
    patient_matches,
    patient_refresh_contact,
)
from referrals.errors import ReasonRequired, TransitionNotAllowed
from referrals.models import (
    OPEN_STATUSES,
    TRANSITIONS,
    Action,
    EventKind,
    Referral,
    ReferralEvent,
    ReferralIntake,
)
from referrals.proposals import (
    LINK_FIELDS,
    created_event,
    proposals_for,
    referral_build,
    referral_join,
)
from referrals.services import referral_due_at

DEFAULT_BATCH = 5000
# Rows per INSERT statement: large enough to amortise the round trip, small enough for SQLite's
# bound-parameter limit (32,766) with the widest table (Intake, about 25 columns).
INSERT_ROWS = 1000
# (family name key, date of birth) pairs per matching query, for the same parameter limit.
MATCH_ROWS = 4000
WRITE_ATTEMPTS = 3
# Moves a generated history may contain. Reroute and red-flag clearance create further
# referrals and belong to the interactive services.
HISTORY_ACTIONS = frozenset(
    {
        Action.CLAIM,
        Action.RELEASE,
        Action.CONTACT,
        Action.SCHEDULE,
        Action.COMPLETE,
        Action.DECLINE,
        Action.CANCEL,
    }
)
PATIENT_CONTACT_FIELDS = ["phone", "phone_key", "email", "email_key", "preferred_contact"]


@dataclass(frozen=True)
class BulkSubmission:
    patient: PatientDetails
    answers: Mapping[str, Any]
    submitted_at: dt.datetime


@dataclass(frozen=True)
class HistoryStep:
    """One later move of a new referral, by a member of staff (``actor_id``) at ``at``."""

    action: str
    at: dt.datetime
    actor_id: int | None = None
    reason: str = ""


# Called once for each referral the batch creates (its queue, urgency, created_at and due_at are
# set) and returns the moves it went through, oldest first; empty for a referral still new.
HistoryPolicy = Callable[[Referral], Sequence[HistoryStep]]


class BulkSubmissionInvalid(Exception):
    """Errors per item (index in the input) and per field; nothing was written."""

    def __init__(self, errors: dict[int, dict[str, list[str]]]) -> None:
        super().__init__(f"{len(errors)} submission(s) are not valid.")
        self.errors = errors


def intake_submit_bulk(
    *,
    submissions: Sequence[BulkSubmission],
    source: str = IntakeSource.GENERATOR,
    history: HistoryPolicy | None = None,
    batch_size: int = DEFAULT_BATCH,
    now: dt.datetime | None = None,
) -> int:
    """Validate every item, then store them in batches of ``batch_size``, one transaction each.

    Raises BulkSubmissionInvalid, before writing anything, when any item is invalid. Returns the
    number of intakes stored.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    prepared = intake_prepare_bulk(submissions)
    return intake_write_bulk(
        prepared=prepared, source=source, history=history, batch_size=batch_size, now=now
    )


def intake_write_bulk(
    *,
    prepared: Sequence[PreparedSubmission],
    source: str = IntakeSource.GENERATOR,
    history: HistoryPolicy | None = None,
    batch_size: int = DEFAULT_BATCH,
    now: dt.datetime | None = None,
) -> int:
    """Store submissions already through ``intake_prepare`` (``intake_prepare_bulk`` or
    ``prepare_one`` in a process pool), in batches of ``batch_size``, one transaction each."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    for start in range(0, len(prepared), batch_size):
        chunk = prepared[start : start + batch_size]
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with transaction.atomic():
                    _BatchWriter(chunk, source=source, history=history, now=now).write()
                break
            except IntegrityError:
                # A concurrent writer took a reference or an open patient+queue slot between our
                # reads and our insert: everything is re-read on the next attempt.
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
    return len(prepared)


def prepare_one(item: BulkSubmission) -> PreparedSubmission | dict[str, list[str]]:
    """``intake_prepare`` for one item: the prepared submission, or its errors per field.

    Pure (no database): ``generate_cases --workers`` runs it in a process pool.
    """
    if timezone.is_naive(item.submitted_at):
        return {"submitted_at": ["The submission time must carry a time zone."]}
    try:
        return intake_prepare(
            patient=item.patient, answers=item.answers, submitted_at=item.submitted_at
        )
    except SubmissionInvalid as exc:
        return exc.errors


def prepared_or_raise(
    outcomes: Iterable[PreparedSubmission | dict[str, list[str]]],
) -> list[PreparedSubmission]:
    """The prepared submissions, or BulkSubmissionInvalid with every item's errors."""
    prepared: list[PreparedSubmission] = []
    errors: dict[int, dict[str, list[str]]] = {}
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, PreparedSubmission):
            prepared.append(outcome)
        else:
            errors[index] = outcome
    if errors:
        raise BulkSubmissionInvalid(errors)
    return prepared


def intake_prepare_bulk(submissions: Sequence[BulkSubmission]) -> list[PreparedSubmission]:
    return prepared_or_raise(map(prepare_one, submissions))


IdentityKey = tuple[str, dt.date]


class _BatchWriter:
    """Match, propose and write one batch; a fresh instance re-reads everything on retry."""

    def __init__(
        self,
        chunk: Sequence[PreparedSubmission],
        *,
        source: str,
        history: HistoryPolicy | None,
        now: dt.datetime,
    ) -> None:
        self.chunk = chunk
        self.source = source
        self.history = history
        self.now = now
        self.candidates: dict[IdentityKey, list[Patient]] = defaultdict(list)
        # Keyed by (id(patient), queue): new patients have no primary key yet.
        self.open: dict[tuple[int, str], Referral] = {}
        self.new_patients: list[Patient] = []
        self.changed_patients: dict[int, Patient] = {}
        self.intakes: list[Intake] = []
        self.new_referrals: list[Referral] = []
        self.joined_referrals: dict[int, Referral] = {}
        self.links: list[tuple[Referral, Intake, dt.datetime]] = []
        self.events: list[EventRow] = []
        self.due_cache: dict[tuple[str, dt.date], dt.datetime] = {}

    def write(self) -> None:
        keys = [
            (identity.normalise_family_name(p.patient.family_name), p.patient.date_of_birth)
            for p in self.chunk
        ]
        unique_keys = sorted(set(keys))
        _lock_identities(unique_keys)
        self._load_candidates(unique_keys)
        references = _new_references(len(self.chunk))
        for prepared, key, reference in zip(self.chunk, keys, references, strict=True):
            self._add(prepared, key, reference)
        self._mark_overdue()
        self._insert()

    # --- reads ------------------------------------------------------------------------------
    def _load_candidates(self, keys: list[IdentityKey]) -> None:
        table = connection.ops.quote_name(Patient._meta.db_table)
        adapt = connection.ops.adapt_datefield_value
        by_id: dict[int, Patient] = {}
        for start in range(0, len(keys), MATCH_ROWS):
            part = keys[start : start + MATCH_ROWS]
            values = ", ".join(["(%s, %s)"] * len(part))
            params: list[Any] = [value for name, born in part for value in (name, adapt(born))]
            sql = (
                f"SELECT * FROM {table} WHERE anonymised_at IS NULL "  # noqa: S608 - placeholders only
                f"AND (family_name_key, date_of_birth) IN (VALUES {values}) ORDER BY id"
            )
            for patient in Patient.objects.raw(sql, params):
                self.candidates[(patient.family_name_key, patient.date_of_birth)].append(patient)
                by_id[patient.pk] = patient
        ids = sorted(by_id)
        for start in range(0, len(ids), MATCH_ROWS):
            for referral in Referral.objects.select_for_update().filter(
                patient_id__in=ids[start : start + MATCH_ROWS], status__in=OPEN_STATUSES
            ):
                self.open[(id(by_id[referral.patient_id]), referral.queue)] = referral

    # --- one item ---------------------------------------------------------------------------
    def _patient(self, details: PatientDetails, key: IdentityKey, at: dt.datetime) -> Patient:
        phone_key = identity.normalise_phone(details.phone)
        email_key = identity.normalise_email(details.email)
        for patient in self.candidates[key]:
            if patient_matches(patient, phone_key, email_key):
                if patient_refresh_contact(patient, details, phone_key, email_key):
                    patient.updated_at = at
                    if patient.pk is not None:
                        self.changed_patients[patient.pk] = patient
                return patient
        patient = patient_build(details, key[0], phone_key, email_key)
        patient.created_at = patient.updated_at = at
        self.candidates[key].append(patient)
        self.new_patients.append(patient)
        return patient

    def _due(self, urgency: str, at: dt.datetime) -> dt.datetime:
        if urgency == "emergency":
            return referral_due_at(urgency, at)
        # Urgent and routine due times depend only on the local submission date.
        cache_key = (urgency, timezone.localtime(at).date())
        due = self.due_cache.get(cache_key)
        if due is None:
            due = self.due_cache[cache_key] = referral_due_at(urgency, at)
        return due

    def _add(self, prepared: PreparedSubmission, key: IdentityKey, reference: str) -> None:
        at = prepared.submitted_at
        patient = self._patient(prepared.patient, key, at)
        intake = intake_build(
            prepared, patient=patient, source=self.source, actor=None, interrupt_shown_at=None
        )
        intake.reference = reference
        intake.created_at = intake.updated_at = at
        self.intakes.append(intake)
        result = prepared.result
        proposals = proposals_for(
            intake=intake,
            queues=result["queues"],
            urgency=result["urgency"],
            due=self._due(result["urgency"], at),
        )
        for proposal in proposals:
            slot = (id(patient), proposal.queue)
            existing = self.open.get(slot)
            if existing is None:
                referral = referral_build(proposal, intake=intake, actor=None)
                referral.patient = patient
                referral.created_at = referral.updated_at = at
                self.new_referrals.append(referral)
                self.links.append((referral, intake, at))
                self.events.append(
                    _event_row(created_event(referral, intake=intake, actor=None, reason=""), at)
                )
                if self.history is not None:
                    self.events.extend(_apply_history(referral, self.history(referral)))
                if referral.status in OPEN_STATUSES:
                    self.open[slot] = referral
                continue
            self.links.append((existing, intake, at))
            events, _raised = referral_join(existing, proposal, intake=intake, actor=None)
            self.events.extend(_event_row(event, at) for event in events)
            existing.updated_at = max(existing.updated_at, at)
            if existing.pk is not None:
                self.joined_referrals[existing.pk] = existing

    def _mark_overdue(self) -> None:
        """What the scheduler would have recorded: overdue once past due while still open."""
        for referral in [*self.new_referrals, *self.joined_referrals.values()]:
            if referral.overdue_at is not None:
                continue
            open_until = referral.closed_at or self.now
            if referral.due_at < open_until:
                referral.overdue_at = referral.due_at
                self.events.append(
                    (referral, EventKind.OVERDUE, None, "", "", "", "", "", {}, referral.due_at)
                )
                referral.updated_at = max(referral.updated_at, referral.due_at)
                if referral.pk is not None:
                    self.joined_referrals[referral.pk] = referral

    # --- writes -----------------------------------------------------------------------------
    def _insert(self) -> None:
        for model, objects in (
            (Patient, self.new_patients),
            (Intake, self.intakes),
            (Referral, self.new_referrals),
        ):
            for obj, pk in zip(objects, allocate_ids(model, len(objects)), strict=True):
                obj.pk = pk
        for intake in self.intakes:
            intake.patient_id = intake.patient.pk
        for referral in self.new_referrals:
            referral.patient_id = referral.patient.pk
            referral.intake_id = referral.intake.pk
        tables = _tables()
        for model, objects in (
            (Patient, self.new_patients),
            (Intake, self.intakes),
            (Referral, self.new_referrals),
        ):
            table = tables[model]
            table.insert(table.rows_from(objects))
        if self.changed_patients:
            Patient.objects.bulk_update(
                self.changed_patients.values(), [*PATIENT_CONTACT_FIELDS, "updated_at"]
            )
        if self.joined_referrals:
            Referral.objects.bulk_update(self.joined_referrals.values(), list(LINK_FIELDS))
        links = tables[ReferralIntake]
        links.insert([links.row((r.pk, i.pk, at)) for r, i, at in self.links])
        events = tables[ReferralEvent]
        events.insert([events.row((e[0].pk, *e[1:])) for e in self.events])


# (referral, kind, actor_id, from_status, to_status, from_urgency, to_urgency, reason, data, at)
EventRow = tuple[Referral, str, "int | None", str, str, str, str, str, dict[str, Any], dt.datetime]
EVENT_COLUMNS = (
    "referral_id",
    "kind",
    "actor_id",
    "from_status",
    "to_status",
    "from_urgency",
    "to_urgency",
    "reason",
    "data",
    "created_at",
)


def _event_row(event: ReferralEvent, at: dt.datetime) -> EventRow:
    return (
        event.referral,
        event.kind,
        event.actor_id,
        event.from_status,
        event.to_status,
        event.from_urgency,
        event.to_urgency,
        event.reason,
        event.data,
        at,
    )


_TABLES: dict[tuple[str, type[Model]], Table] = {}


def _tables() -> dict[type[Model], Table]:
    """Converters depend on the backend: one set per database vendor."""
    vendor = connection.vendor
    specs: dict[type[Model], list[str]] = {
        model: [field.attname for field in model._meta.concrete_fields]
        for model in (Patient, Intake, Referral)
    }
    specs[ReferralIntake] = ["referral_id", "intake_id", "created_at"]
    specs[ReferralEvent] = list(EVENT_COLUMNS)
    out = {}
    for model, columns in specs.items():
        key = (vendor, model)
        if key not in _TABLES:
            _TABLES[key] = Table(model, columns)
        out[model] = _TABLES[key]
    return out


def _apply_history(referral: Referral, steps: Sequence[HistoryStep]) -> list[EventRow]:
    """Play a generated history through the one table of legal moves (TRANSITIONS)."""
    events: list[EventRow] = []
    last = referral.created_at
    for step in steps:
        move = TRANSITIONS.get(step.action)
        if move is None or step.action not in HISTORY_ACTIONS:
            raise TransitionNotAllowed(f"{step.action!r} is not a move a generated history makes.")
        if referral.status not in move.sources:
            raise TransitionNotAllowed(
                f"Cannot {step.action} a referral that is {referral.status}."
            )
        if move.needs_reason and not step.reason.strip():
            raise ReasonRequired(f"{step.action} needs a reason.")
        if step.at < last:
            raise ValueError("History steps must be in time order, after the submission.")
        if step.action == Action.CLAIM:
            if step.actor_id is None:
                raise ValueError("A claim needs the member of staff who claimed.")
            referral.assigned_to_id = step.actor_id
            referral.claimed_at = step.at
        elif step.action == Action.RELEASE:
            referral.assigned_to_id = None
        from_status = referral.status
        referral.status = move.target
        if move.target not in OPEN_STATUSES:
            referral.closed_at = step.at
        referral.updated_at = last = step.at
        events.append(
            (
                referral,
                EventKind.TRANSITION,
                step.actor_id,
                from_status,
                move.target,
                "",
                "",
                step.reason,
                {},
                step.at,
            )
        )
    return events


def _lock_identities(keys: Sequence[IdentityKey]) -> None:
    """The same advisory locks as patient_match_or_create, taken in one statement, in order."""
    if connection.vendor != "postgresql" or not keys:
        return
    names = [f"patient:{family}:{born.isoformat()}" for family, born in keys]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtext(k)) "
            "FROM unnest(%s::text[]) AS k) AS locks",
            [sorted(names)],
        )


def _new_references(count: int) -> list[str]:
    """``count`` references unused in the batch and in the database."""
    chosen: set[str] = set()
    while len(chosen) < count:
        chosen.update(identity.new_references(count - len(chosen)))
        candidates = sorted(chosen)
        for start in range(0, len(candidates), MATCH_ROWS):
            taken = Intake.objects.filter(
                reference__in=candidates[start : start + MATCH_ROWS]
            ).values_list("reference", flat=True)
            chosen.difference_update(taken)
    return list(chosen)
