"""intake_submit_bulk: many cases at once (the data generator), through the same rules.

Every item goes through ``intake_prepare`` (validation, triage, routing, patient messages) exactly
like ``intake_submit``; patients are matched with the same keys and helpers, and referrals are
proposed with the same pure functions as ``referrals_propose`` (``referrals.proposals``). Only the
writing differs: a batch is matched against the database with a handful of queries and written
with ``bulk_create`` in one transaction, so nothing of a batch is ever half-written.

Each batch is first planned without the database (``batch_plan``: everything built and turned
into rows as if none of its people were stored yet; ``generate_cases`` does this in worker
processes) and then written (``intake_write_plan``): the writer matches the batch against stored
patients, redoes with the same code the few identity groups that need the database, swaps real
ids into the rows and inserts.

Differences from ``intake_submit``, on purpose:

- No notifications or emails: generated cases are history, nobody is to be paged for them.
- Rows carry the item's own times (``submitted_at``, and the history's times) as ``created_at`` /
  ``updated_at``, so a generated data set looks like two years of use.
- Rows are inserted with ``intake.rows`` (``executemany``/``COPY``), not ``bulk_create``: the ORM's
  per-value compilation alone would cost more than the whole 5,000-cases-a-second budget.
- The admin index's kept counts of closed days (referrals.dashboard.link_days) from the batch's
  first submission's day on are dropped with the batch, to be counted again with its cases.
- Referrals still open and past due when written are marked overdue the way the scheduler would
  have marked them, so the first scheduler run after generating does not mail about thousands
  of historical cases.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from intake import identity
from intake.locks import lock_name
from intake.models import Intake, IntakeSource, Patient
from intake.rows import IN_ROWS, Table, allocate_ids, datetime_texts, stored_values
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
from referrals.dashboard import link_days_forget
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
# (family name key, date of birth) pairs per matching query: rows.stored_values' size of an IN
# list, for the same parameter limit.
MATCH_ROWS = IN_ROWS
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
    # The caller knows this person may be stored already (a returning patient): the item, and
    # every item of the batch with the same name key and birth date, is then left to the writer
    # instead of being worked out ahead in ``batch_plan``. A wrong False is still correct (the
    # writer checks and redoes such an item), only slower.
    may_be_stored: bool = False


class HistoryStep(NamedTuple):
    """One later move of a new referral, by a member of staff (``actor_id``) at ``at``.

    A named tuple rather than a frozen dataclass: as immutable, and made in about half the
    time (a frozen dataclass sets each field through ``object.__setattr__``); a generated case
    makes some four of them.
    """

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
        prepared=prepared,
        may_be_stored=[item.may_be_stored for item in submissions],
        source=source,
        history=history,
        batch_size=batch_size,
        now=now,
    )


def intake_write_bulk(
    *,
    prepared: Sequence[PreparedSubmission],
    may_be_stored: Sequence[bool] | None = None,
    source: str = IntakeSource.GENERATOR,
    history: HistoryPolicy | None = None,
    batch_size: int = DEFAULT_BATCH,
    now: dt.datetime | None = None,
) -> int:
    """Store submissions already through ``intake_prepare``, in batches of ``batch_size``, one
    transaction each: each batch is planned (``batch_plan``) and then written
    (``intake_write_plan``) in this process."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    flags = list(may_be_stored) if may_be_stored is not None else [False] * len(prepared)
    for start in range(0, len(prepared), batch_size):
        chunk = prepared[start : start + batch_size]
        plan = batch_plan(
            chunk,
            may_be_stored=flags[start : start + batch_size],
            references=identity.new_references(len(chunk)),
            source=source,
            history=history,
            now=now,
        )
        intake_write_plan(
            plan,
            load=lambda indexes, chunk=chunk: {i: chunk[i] for i in indexes},  # type: ignore[misc]
            source=source,
            history=history,
            now=now,
        )
    return len(prepared)


def plan_submissions(
    submissions: Sequence[BulkSubmission],
    *,
    source: str,
    history: HistoryPolicy | None,
    now: dt.datetime,
) -> BatchPlan:
    """``intake_prepare`` and ``batch_plan`` for one batch: all of a batch's work that needs no
    database, for a worker process (``generate_cases --workers``). Raises BulkSubmissionInvalid."""
    prepared = intake_prepare_bulk(submissions)
    return batch_plan(
        prepared,
        may_be_stored=[item.may_be_stored for item in submissions],
        references=identity.new_references(len(prepared)),
        source=source,
        history=history,
        now=now,
    )


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
Row = Sequence[Any]
# Loads the prepared submissions of a batch's items by index (to redo them in the writer).
Loader = Callable[[Sequence[int]], Mapping[int, PreparedSubmission]]


@dataclass(frozen=True)
class BatchPlan:
    """One batch worked out without the database, as if none of its people were stored yet.

    Every item went through the shared builders (``patient_build``, ``intake_build``,
    ``proposals_for``, ``referral_build``, ``referral_join`` within the batch, ``created_event``,
    the history through TRANSITIONS, overdue marking) and ``Table.rows_from``; the rows are what
    is inserted, except that ids and the keys pointing at them are local: positions in these
    lists (``patients[n]`` has id ``n``, an intake's ``patient_id`` is such a position, ...).
    The writer swaps in real ids. Items whose person may be stored (``held``) are left to the
    writer with their prepared submission. Plain tuples and strings: cheap to pickle.
    """

    keys: list[IdentityKey]
    contacts: list[tuple[str, str]]
    references: list[str]
    held: dict[int, PreparedSubmission]
    patients: list[Row]
    patient_items: list[int]
    intakes: list[Row]
    intake_items: list[int]
    referrals: list[Row]
    links: list[Row]
    events: list[Row]
    # The earliest submission time of the batch: no referral it creates is older.
    first_submitted: dt.datetime | None = None


def identity_key(prepared: PreparedSubmission) -> IdentityKey:
    details = prepared.patient
    return identity.normalise_family_name(details.family_name), details.date_of_birth


def contact_keys(prepared: PreparedSubmission) -> tuple[str, str]:
    """The phone and email matching keys: worked out once per item, for the plan's matching in
    the writer and for building the patient (each is about a microsecond)."""
    details = prepared.patient
    return identity.normalise_phone(details.phone), identity.normalise_email(details.email)


def batch_plan(
    prepared: Sequence[PreparedSubmission],
    *,
    may_be_stored: Sequence[bool],
    references: Sequence[str],
    source: str,
    history: HistoryPolicy | None,
    now: dt.datetime,
) -> BatchPlan:
    """Work a batch out without the database (pure: it runs in worker processes).

    Matching and open-referral joining are per identity (normalised family name and birth
    date), so a group of items with the same identity can be worked out apart from the rest:
    groups with an item that ``may_be_stored`` are held for the writer, the others are planned
    here with the same ``_BatchWriter`` code the writer uses, against no stored patients.
    """
    keys = [identity_key(item) for item in prepared]
    contacts = [contact_keys(item) for item in prepared]
    held_keys = {key for key, flag in zip(keys, may_be_stored, strict=True) if flag}
    writer = _BatchWriter(source=source, history=history, now=now)
    held: dict[int, PreparedSubmission] = {}
    intake_items: list[int] = []
    for index, (item, key, contact, reference) in enumerate(
        zip(prepared, keys, contacts, references, strict=True)
    ):
        if key in held_keys:
            held[index] = item
            continue
        writer._add(item, key, contact, reference)
        intake_items.append(index)
    writer._mark_overdue()
    writer._set_keys(
        range(len(writer.new_patients)),
        range(len(writer.intakes)),
        range(len(writer.new_referrals)),
    )
    creators: dict[int, int] = {}
    for intake, index in zip(writer.intakes, intake_items, strict=True):
        creators.setdefault(intake.patient_id, index)
    patients, intakes, referrals, links, events = writer._rows()
    return BatchPlan(
        keys=keys,
        contacts=contacts,
        references=list(references),
        held=held,
        patients=patients,
        patient_items=[creators[n] for n in range(len(patients))],
        intakes=intakes,
        intake_items=intake_items,
        referrals=referrals,
        links=links,
        events=events,
        first_submitted=min((item.submitted_at for item in prepared), default=None),
    )


def intake_write_plan(
    plan: BatchPlan,
    *,
    load: Loader,
    source: str = IntakeSource.GENERATOR,
    history: HistoryPolicy | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Write a planned batch in one transaction; returns the number of intakes stored.

    ``load`` gives the prepared submissions of planned items that have to be redone here: items
    that turn out to match a stored patient (or share an identity with one that does), and the
    rare item whose reference was taken meanwhile.
    """
    now = now or timezone.now()
    for attempt in range(WRITE_ATTEMPTS):
        try:
            with transaction.atomic():
                _write_plan(plan, load=load, source=source, history=history, now=now)
            break
        except IntegrityError:
            # A concurrent writer took a reference or an open patient+queue slot between our
            # reads and our insert: everything is re-read on the next attempt.
            if attempt == WRITE_ATTEMPTS - 1:
                raise
    return len(plan.keys)


def _write_plan(
    plan: BatchPlan, *, load: Loader, source: str, history: HistoryPolicy | None, now: dt.datetime
) -> None:
    keys = plan.keys
    unique_keys = sorted(set(keys))
    _lock_identities(unique_keys)
    writer = _BatchWriter(source=source, history=history, now=now)
    writer._load_candidates(unique_keys)
    redo_keys: set[IdentityKey] = set()
    candidates = writer.candidates
    for index, key in enumerate(keys):
        # Matching changes a stored patient only when an item matches it, so a group none of
        # whose items matches a stored candidate is exactly as planned.
        stored = candidates.get(key)
        if stored and index not in plan.held:
            phone_key, email_key = plan.contacts[index]
            if any(patient_matches(patient, phone_key, email_key) for patient in stored):
                redo_keys.add(key)
    taken = _taken_references(plan.references)
    redo_keys.update(keys[index] for index in taken)
    redo = [i for i, key in enumerate(keys) if key in redo_keys and i not in plan.held]
    items = {**plan.held, **load(redo)} if redo else plan.held
    fresh = iter(_new_references(len(taken), avoid=set(plan.references)))
    for index in sorted(items):
        reference = next(fresh) if index in taken else plan.references[index]
        writer._add(items[index], keys[index], plan.contacts[index], reference)
    writer._mark_overdue()
    writer._write_with(plan, dropped=set(redo))
    if plan.first_submitted is not None:
        # Its referrals were created in days the dashboard may have counted and kept.
        link_days_forget(since=plan.first_submitted)


def candidate_queries(keys: Sequence[IdentityKey]) -> Iterator[tuple[str, list[Any]]]:
    """The queries (SQL and parameters) for the stored patients, not anonymised, with one of
    ``keys`` (name key, birth date), by id: one probe of the matching index per
    key, whatever the table's size.

    Written as a join from the keys, not ``(name, born) IN (VALUES ...)``: with that, SQLite
    scanned the whole patient table for every batch, and PostgreSQL hashed the list and
    scanned it in parallel (115-130 ms a batch of 5,000 keys at 820,000 patients, about 25 µs
    a case and growing with the history; 20 ms as a join, 9 of them the server's). On
    PostgreSQL the keys go as two arrays, which the planner counts (a nested loop over the
    index) and which need two parameters instead of two per key. A key given twice is asked
    once (a join would return its patients twice).
    """
    keys = list(dict.fromkeys(keys))
    table = connection.ops.quote_name(Patient._meta.db_table)
    join = (
        f"JOIN {table} p ON p.family_name_key = k.name AND p.date_of_birth = k.born "
        "WHERE p.anonymised_at IS NULL ORDER BY p.id"
    )
    if connection.vendor == "postgresql":
        names = [name for name, _born in keys]
        borns = [born for _name, born in keys]
        sql = f"SELECT p.* FROM unnest(%s::text[], %s::date[]) AS k (name, born) {join}"  # noqa: S608 - a quoted table name
        yield sql, [names, borns]
        return
    adapt = connection.ops.adapt_datefield_value
    for start in range(0, len(keys), MATCH_ROWS):
        part = keys[start : start + MATCH_ROWS]
        values = ", ".join(["(%s, %s)"] * len(part))
        params: list[Any] = [value for name, born in part for value in (name, adapt(born))]
        yield (
            "SELECT p.* FROM (SELECT column1 AS name, column2 AS born "  # noqa: S608 - placeholders only
            f"FROM (VALUES {values})) AS k {join}",
            params,
        )


class _BatchWriter:
    """Match, propose and write one batch; a fresh instance re-reads everything on retry."""

    def __init__(
        self,
        *,
        source: str,
        history: HistoryPolicy | None,
        now: dt.datetime,
    ) -> None:
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
        self.tz = settings.CLINIC_CALENDAR.tz  # the due times' dates, as referral_due_at's

    # --- reads ------------------------------------------------------------------------------
    def _load_candidates(self, keys: list[IdentityKey]) -> None:
        by_id: dict[int, Patient] = {}
        for sql, params in candidate_queries(keys):
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
    def _patient(
        self, details: PatientDetails, key: IdentityKey, contact: tuple[str, str], at: dt.datetime
    ) -> Patient:
        phone_key, email_key = contact
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
        cache_key = (urgency, at.astimezone(self.tz).date())
        due = self.due_cache.get(cache_key)
        if due is None:
            due = self.due_cache[cache_key] = referral_due_at(urgency, at)
        return due

    def _add(
        self,
        prepared: PreparedSubmission,
        key: IdentityKey,
        contact: tuple[str, str],
        reference: str,
    ) -> None:
        """Build one item; ``key`` and ``contact`` are its ``identity_key`` and
        ``contact_keys``."""
        at = prepared.submitted_at
        patient = self._patient(prepared.patient, key, contact, at)
        intake = intake_build(
            prepared, patient=patient, source=self.source, actor=None, interrupt_shown_at=None
        )
        intake.reference = reference
        # History, not news: no webhooks or alerts to send (the sweeper leaves it alone).
        intake.created_at = intake.updated_at = intake.announced_at = at
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
                # Its patient's id, None here for a new patient, comes from its intake's in
                # _set_keys (referral_build takes the intake's).
                referral = referral_build(proposal, intake=intake, actor=None)
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
                if referral.id is not None:
                    self.joined_referrals[referral.id] = referral

    # --- rows ------------------------------------------------------------------------------
    # The ids are read and set as ``id``, the primary key's attribute on the three models
    # built here (a test holds that): ``Model.pk`` is a property that looks the key's name up in
    # ``_meta`` on every read, about 0.3 µs, and a case's rows read or set some fifteen ids.
    def _set_keys(
        self, patient_ids: Iterable[int], intake_ids: Iterable[int], referral_ids: Iterable[int]
    ) -> None:
        # Parents first: an intake reads its patient's new id, a referral its intake's.
        for patient, pk in zip(self.new_patients, patient_ids, strict=True):
            patient.id = pk
        for intake, pk in zip(self.intakes, intake_ids, strict=True):
            intake.id = pk
            intake.patient_id = intake.patient.id
        for referral, pk in zip(self.new_referrals, referral_ids, strict=True):
            referral.id = pk
            referral.patient_id = referral.intake.patient_id
            referral.intake_id = referral.intake.id

    def _rows(self) -> tuple[list[Row], list[Row], list[Row], list[Row], list[Row]]:
        """Rows of what this writer built, once ``_set_keys`` gave them ids."""
        tables = _tables()
        links, events = tables[ReferralIntake], tables[ReferralEvent]
        try:
            return (
                tables[Patient].rows_from(self.new_patients),
                tables[Intake].rows_from(self.intakes),
                tables[Referral].rows_from(self.new_referrals),
                [links.row((r.id, i.id, at)) for r, i, at in self.links],
                [events.row((e[0].id, *e[1:])) for e in self.events],
            )
        finally:
            datetime_texts.forget()

    # --- writes -----------------------------------------------------------------------------
    def _write_with(self, plan: BatchPlan, *, dropped: set[int]) -> None:
        """Insert the plan's rows (less the items in ``dropped``, redone here) and this
        writer's, with real ids: the plan's first, in plan order, then this writer's."""
        patients, intakes, referrals, links, events = _kept(plan, dropped)
        patient_ids = allocate_ids(Patient, len(patients) + len(self.new_patients))
        intake_ids = allocate_ids(Intake, len(intakes) + len(self.intakes))
        referral_ids = allocate_ids(Referral, len(referrals) + len(self.new_referrals))
        self._set_keys(
            patient_ids[len(patients) :], intake_ids[len(intakes) :], referral_ids[len(referrals) :]
        )
        mine = self._rows()
        tables = _tables()
        pmap = _id_map(plan.patients, patients, patient_ids)
        imap = _id_map(plan.intakes, intakes, intake_ids)
        rmap = _id_map(plan.referrals, referrals, referral_ids)
        tables[Patient].insert(_patched(patients, tables[Patient], {"id": pmap}) + mine[0])
        tables[Intake].insert(
            _patched(intakes, tables[Intake], {"id": imap, "patient_id": pmap}) + mine[1]
        )
        tables[Referral].insert(
            _patched(
                referrals,
                tables[Referral],
                {"id": rmap, "patient_id": pmap, "intake_id": imap},
            )
            + mine[2]
        )
        _update_table(Patient, [*PATIENT_CONTACT_FIELDS, "updated_at"]).update(
            self.changed_patients.values()
        )
        _update_table(Referral, LINK_FIELDS).update(self.joined_referrals.values())
        tables[ReferralIntake].insert(
            _patched(links, tables[ReferralIntake], {"referral_id": rmap, "intake_id": imap})
            + mine[3]
        )
        tables[ReferralEvent].insert(
            _patched(events, tables[ReferralEvent], {"referral_id": rmap}) + mine[4]
        )


def _kept(
    plan: BatchPlan, dropped: set[int]
) -> tuple[list[Row], list[Row], list[Row], list[Row], list[Row]]:
    """The plan's rows less those of the items in ``dropped`` (by the item that owns them)."""
    if not dropped:
        return plan.patients, plan.intakes, plan.referrals, plan.links, plan.events
    intake_item = plan.intake_items
    intake_column = _tables()[Referral].columns.index("intake_id")
    referral_item = [intake_item[row[intake_column]] for row in plan.referrals]
    return (
        [
            row
            for row, item in zip(plan.patients, plan.patient_items, strict=True)
            if item not in dropped
        ],
        [row for row, item in zip(plan.intakes, intake_item, strict=True) if item not in dropped],
        [
            row
            for row, item in zip(plan.referrals, referral_item, strict=True)
            if item not in dropped
        ],
        [row for row in plan.links if referral_item[row[0]] not in dropped],
        [row for row in plan.events if referral_item[row[0]] not in dropped],
    )


def _id_map(all_rows: list[Row], kept: list[Row], ids: list[int]) -> list[int | None]:
    """Local id (position in ``all_rows``, its column 0) to the real id of the kept rows."""
    out: list[int | None] = [None] * len(all_rows)
    for row, pk in zip(kept, ids, strict=False):
        out[row[0]] = pk
    return out


def _patched(rows: list[Row], table: Table, maps: Mapping[str, list[int | None]]) -> list[Row]:
    """``rows`` with their local ids replaced by real ones."""
    if not rows:
        return []
    changes = [(table.columns.index(column), ids) for column, ids in maps.items()]
    out: list[Row] = []
    for row in rows:
        new = list(row)
        for position, ids in changes:
            new[position] = ids[row[position]]
        out.append(new)
    return out


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
_UPDATES: dict[tuple[str, type[Model], tuple[str, ...]], Table] = {}


# The tables the bulk writer fills (and updates: matched patients, joined referrals).
WRITTEN_MODELS: Final = (Patient, Intake, Referral, ReferralIntake, ReferralEvent)


def _columns(model: type[Model]) -> list[str]:
    if model is ReferralIntake:
        return ["referral_id", "intake_id", "created_at"]
    if model is ReferralEvent:
        return list(EVENT_COLUMNS)
    return [field.attname for field in model._meta.concrete_fields]


def _tables() -> dict[type[Model], Table]:
    """Converters depend on the backend: one set per database vendor."""
    vendor = connection.vendor
    out: dict[type[Model], Table] = {}
    for model in WRITTEN_MODELS:
        key = (vendor, model)
        if key not in _TABLES:
            _TABLES[key] = Table(model, _columns(model))
        out[model] = _TABLES[key]
    return out


def _update_table(model: type[Model], fields: Sequence[str]) -> Table:
    """The update of ``fields`` of stored rows of ``model`` (``Table.update``: the key last)."""
    key = (connection.vendor, model, tuple(fields))
    if key not in _UPDATES:
        _UPDATES[key] = Table(model, [*fields, "id"])
    return _UPDATES[key]


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
    names = [lock_name(family, born) for family, born in keys]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtext(k)) "
            "FROM unnest(%s::text[]) AS k) AS locks",
            [sorted(names)],
        )


def _taken_references(references: Sequence[str]) -> set[int]:
    """Positions of the references already stored, or repeated in ``references``."""
    taken: set[int] = set()
    seen: dict[str, int] = {}
    for index, reference in enumerate(references):
        if reference in seen:
            taken.add(index)
        seen.setdefault(reference, index)
    taken.update(seen[reference] for reference in stored_values(Intake, "reference", sorted(seen)))
    return taken


def _new_references(count: int, *, avoid: Collection[str] = ()) -> list[str]:
    """``count`` references unused in the batch (and not in ``avoid``) and in the database."""
    chosen: set[str] = set()
    while len(chosen) < count:
        chosen.update(identity.new_references(count - len(chosen)))
        chosen.difference_update(avoid)
        chosen.difference_update(stored_values(Intake, "reference", sorted(chosen)))
    return sorted(chosen)
