"""intake_submit: the only way a case is created (form, API, demo data, data generator)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connections, router, transaction
from django.db.models import QuerySet
from django.utils import timezone

from clinic.compiled import CompiledInstances, compiled_instances, db_value
from clinic.instances import unsaved
from clinic.prepared import preparing, unprepared
from intake import identity
from intake.assessment import assess
from intake.locks import lock_identity
from intake.messages import PatientMessages, patient_messages
from intake.models import ContactMethod, Intake, Patient
from intake.questionnaire import QUESTIONNAIRE_VERSION
from intake.validation import MSG_UNDER_16, validate_answers, validate_fields
from referrals.calendar import local_date as calendar_date
from referrals.links import link_kind
from referrals.models import Referral
from referrals.services import referrals_record
from referrals.tasks import announce_intake

NAME_MAX = 150


class SubmissionInvalid(Exception):
    """Errors per field, in the one shape the form and the API both show."""

    def __init__(self, errors: dict[str, list[str]], *, under_16: bool = False) -> None:
        super().__init__("The submission is not valid.")
        self.errors = errors
        self.under_16 = under_16


@dataclass(frozen=True)
class PatientDetails:
    given_name: str
    family_name: str
    date_of_birth: dt.date
    phone: str = ""
    email: str = ""
    preferred_contact: str = ""

    def __post_init__(self) -> None:
        # The bidirectional embeddings and isolates are dropped however the details came (the
        # form, the API, a draft): messaging apps wrap a copied number in them ("\u202a+44
        # 7700 900123\u202c"), and a right-to-left name comes pasted inside an isolate. They
        # only set the direction a value is shown in, which its own characters decide on our
        # pages; the overrides, which reorder what is shown, are refused (_BIDI_OVERRIDE).
        for name in ("given_name", "family_name", "phone", "email"):
            value = getattr(self, name)
            if isinstance(value, str) and _BIDI_WRAP.search(value):
                object.__setattr__(self, name, _BIDI_WRAP.sub("", value))


@dataclass
class Submission:
    intake: Intake
    referrals: list[Referral]
    messages: PatientMessages
    result: dict[str, Any] = field(repr=False, default_factory=dict)


# The C0 and C1 control characters (Unicode's "Cc"): a line break, a tab or an escape in a name
# or a number went into the patient's record as sent (an API QA round). Not the joiners some
# scripts spell names with (U+200C in Persian), which are format characters ("Cf").
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")
# The bidirectional overrides (U+202D, U+202E) reorder how a value is shown: sent as
# "\u202enosnhoJ" a family name read "Johnson" on the staff pages while it was stored, searched
# and matched as "nosnhoJ" (an API QA round). Refused. The embeddings, their end and the
# isolates (U+202A-U+202C, U+2066-U+2069) are dropped instead (PatientDetails); the marks
# (U+200E, U+200F) stay, as the joiners do.
_BIDI_OVERRIDE: Final = re.compile("[\u202d\u202e]")
_BIDI_WRAP: Final = re.compile("[\u202a-\u202c\u2066-\u2069]")


def _text_errors(value: str, label: str, *, required: bool, max_length: int) -> list[str]:
    if "\x00" in value:
        return [f"{label} contains a character that cannot be stored."]
    if _CONTROL.search(value):
        return [f"Please remove line breaks and other control characters from the {label.lower()}."]
    if _BIDI_OVERRIDE.search(value):
        return [
            f"Please type the {label.lower()} again: it holds invisible characters that "
            "change the direction of text."
        ]
    if required and not value.strip():
        return [f"Please enter your {label.lower()}."]
    if len(value) > max_length:
        return [f"{label} must be at most {max_length} characters."]
    return []


# ``ContactMethod.values`` builds a new list at every read (about 3 µs, once per submission).
# In order: the generator draws from it.
CONTACT_METHODS: Final = tuple(ContactMethod.values)


def validate_patient(
    details: PatientDetails, *, today: dt.date, refused: Collection[str] = frozenset()
) -> dict[str, list[str]]:
    """The patient's errors per field. ``refused`` names the fields the caller already refused
    by their type (the API: a number for a phone, a date it cannot read), whose values in
    ``details`` are stand-ins: every check that reads one of them is left out, so a check of
    another field never speaks from a stand-in ("give a phone or an email" for an email sent
    as a number)."""
    errors: dict[str, list[str]] = {}

    def add(key: str, messages: list[str]) -> None:
        if messages:
            errors.setdefault(key, []).extend(messages)

    given, family, born = (
        "given_name" not in refused,
        "family_name" not in refused,
        "date_of_birth" not in refused,
    )
    phone, email, contact = (
        "phone" not in refused,
        "email" not in refused,
        "preferred_contact" not in refused,
    )
    if given:
        given_errors = _text_errors(
            details.given_name, "Given name", required=True, max_length=NAME_MAX
        )
        # A letter of any script: a given name of only invisible characters ("\u200b") passed,
        # and showed staff nothing (an API QA round).
        if not given_errors and not any(char.isalpha() for char in details.given_name):
            given_errors = ["Please enter your given name using letters."]
        add("given_name", given_errors)
    if family:
        add(
            "family_name",
            _text_errors(details.family_name, "Family name", required=True, max_length=NAME_MAX),
        )
        if details.family_name.strip() and not identity.normalise_family_name(details.family_name):
            add("family_name", ["Please enter your family name using letters."])
    if born and details.date_of_birth > today:
        add("date_of_birth", ["The date of birth cannot be in the future."])
    elif born and details.date_of_birth.year < today.year - 120:
        add("date_of_birth", ["Please check the year of birth."])
    if phone:
        add("phone", _text_errors(details.phone, "Phone number", required=False, max_length=40))
    if email:
        add("email", _text_errors(details.email, "Email address", required=False, max_length=254))
    if phone:
        phone_key = identity.normalise_phone(details.phone)
        if details.phone.strip() and not 7 <= len(phone_key) <= 15:
            add("phone", ["Please enter a phone number we can call, with its area code."])
    if email and details.email.strip() and "email" not in errors:
        try:
            validate_email(details.email.strip())
        except ValidationError:
            add("email", ["Please enter a valid email address, like name@example.com."])
    if phone and email and not details.phone.strip() and not details.email.strip():
        add("phone", ["Please give a phone number or an email address so we can reach you."])
    if not contact:
        return errors
    if details.preferred_contact not in CONTACT_METHODS:
        add("preferred_contact", ["Please choose how you would like us to contact you."])
    elif details.preferred_contact == ContactMethod.PHONE and phone and not details.phone.strip():
        add("phone", ["You asked us to phone you: please give a phone number."])
    elif details.preferred_contact == ContactMethod.EMAIL and email and not details.email.strip():
        add("email", ["You asked us to email you: please give an email address."])
    return errors


def patient_match_or_create(details: PatientDetails) -> Patient:
    family_key = identity.normalise_family_name(details.family_name)
    phone_key = identity.normalise_phone(details.phone)
    email_key = identity.normalise_email(details.email)
    lock_identity(family_key, details.date_of_birth)
    for patient in _candidates(family_key, details.date_of_birth):
        if patient_matches(patient, phone_key, email_key):
            changed = patient_refresh_contact(patient, details, phone_key, email_key)
            # Saved even when nothing changed: updated_at records the latest submission, and a
            # returning patient costs the same one write as a new one.
            patient.save(update_fields=[*changed, "updated_at"])
            return patient
    patient = patient_build(details, family_key, phone_key, email_key)
    patient.save(force_insert=True)
    return patient


def _same_person(family_key: str, date_of_birth: dt.date) -> QuerySet[Patient]:
    return Patient.objects.filter(
        family_name_key=family_key, date_of_birth=date_of_birth, anonymised_at=None
    ).order_by("id")


# Stand-ins for the family name key and the birth date while the lookup is compiled: their
# places among its parameters are the submission's. Built a second time with the other pair,
# the statement must differ only there (compiled_values), so a parameter that happened to
# equal a stand-in is caught rather than overwritten.
_ANY_FAMILY, _ANY_FAMILY_AGAIN = "\x00family", "\x00family again"
_ANY_BIRTH, _ANY_BIRTH_AGAIN = dt.date(1, 1, 1), dt.date(1, 1, 2)


def _identity_values(family_key: str, date_of_birth: dt.date, alias: str) -> dict[str, Any]:
    database = connections[alias]
    return {
        "family": db_value(Patient._meta.get_field("family_name_key"), family_key, database),
        "born": db_value(Patient._meta.get_field("date_of_birth"), date_of_birth, database),
    }


@cache
def _candidates_lookup(alias: str) -> CompiledInstances:
    """The ORM's statement for the patients a submission may be, compiled once per database:
    building it cost about 250 µs a submission, inside the write transaction (on SQLite, with
    the database's one write lock held)."""
    return compiled_instances(
        _same_person(_ANY_FAMILY, _ANY_BIRTH).using(alias),
        _identity_values(_ANY_FAMILY, _ANY_BIRTH, alias),
        (
            _same_person(_ANY_FAMILY_AGAIN, _ANY_BIRTH_AGAIN).using(alias),
            _identity_values(_ANY_FAMILY_AGAIN, _ANY_BIRTH_AGAIN, alias),
        ),
    )


def _candidates(family_key: str, date_of_birth: dt.date) -> list[Patient]:
    """``_same_person(family_key, date_of_birth)``'s patients, without compiling it."""
    alias = Patient._default_manager.db
    # Not prepared: a generic plan, made without the name and the birth date, read every
    # patient born that day by the birth-date index and filtered them by name.
    with unprepared(alias):
        return _candidates_lookup(alias).instances(
            connections[alias], **_identity_values(family_key, date_of_birth, alias)
        )


def patient_matches(patient: Patient, phone_key: str, email_key: str) -> bool:
    """Same normalised family name and birth date (the caller's filter) and a shared contact."""
    return bool(
        (phone_key and patient.phone_key == phone_key)
        or (email_key and patient.email_key == email_key)
    )


def patient_build(
    details: PatientDetails, family_key: str, phone_key: str, email_key: str
) -> Patient:
    """A new, unsaved patient (shared with the bulk path)."""
    return unsaved(
        Patient,
        given_name=details.given_name.strip(),
        given_name_key=identity.normalise_given_name(details.given_name),
        family_name=details.family_name.strip(),
        family_name_key=family_key,
        date_of_birth=details.date_of_birth,
        phone=details.phone.strip(),
        phone_key=phone_key,
        email=details.email.strip(),
        email_key=email_key,
        preferred_contact=details.preferred_contact,
    )


def patient_refresh_contact(
    patient: Patient, details: PatientDetails, phone_key: str, email_key: str
) -> list[str]:
    """The newest submission has the newest contact details; keep what it leaves out."""
    changed: list[str] = []
    if phone_key and phone_key != patient.phone_key:
        patient.phone, patient.phone_key = details.phone.strip(), phone_key
        changed += ["phone", "phone_key"]
    if email_key and email_key != patient.email_key:
        patient.email, patient.email_key = details.email.strip(), email_key
        changed += ["email", "email_key"]
    if details.preferred_contact != patient.preferred_contact:
        patient.preferred_contact = details.preferred_contact
        changed.append("preferred_contact")
    return changed


@dataclass(frozen=True)
class PreparedSubmission:
    """A submission that passed validation and triage, ready to store."""

    patient: PatientDetails
    answers: dict[str, Any]
    result: dict[str, Any]
    messages: PatientMessages
    submitted_at: dt.datetime
    submission_date: dt.date
    age_years: int


def patient_messages_for(result: Mapping[str, Any], answers: Mapping[str, Any]) -> PatientMessages:
    """The §4.3 messages for a triage result, with the clinic's phone numbers."""
    return patient_messages(
        urgency=result["urgency"],
        no_symptoms=result["derived"]["no_symptoms"],
        has_diabetes=bool(answers["has_diabetes"]),
        emergency_number=settings.CLINIC_EMERGENCY_NUMBER,
        urgent_care_number=settings.CLINIC_URGENT_CARE_NUMBER,
    )


# ``answers`` of ``intake_errors`` when the caller refused them already (missing, or null).
ANSWERS_REFUSED: Final[object] = object()
MSG_ANSWERS_NOT_AN_OBJECT: Final = "Expected an object of answers."

# What ``intake_errors`` puts in place of the patient's fields the caller refused; its checks
# read none of them (``validate_patient``'s ``refused``).
_STAND_INS: Final[Mapping[str, Any]] = {
    "given_name": "",
    "family_name": "",
    "date_of_birth": dt.date.min,
    "phone": "",
    "email": "",
    "preferred_contact": "",
}


def _submission_errors(
    patient: PatientDetails,
    answers: object,
    *,
    today: dt.date,
    refused: Collection[str] = frozenset(),
) -> tuple[dict[str, list[str]], bool, dict[str, Any] | None, int | None]:
    """The patient's and the answers' checks together: the errors per field, whether the
    refusal for under 16 applies, the cleaned answers (None unless valid) and the age."""
    errors = validate_patient(patient, today=today, refused=refused)
    # The age comes from a date of birth that passed its own checks, and only then do the
    # checks that read it (the age's range, under 16) run. With a date that is unreadable,
    # refused or impossible the date's own error stands for them, and every other check of
    # the answers still runs: none of them reads the age.
    birth_date_valid = "date_of_birth" not in errors and "date_of_birth" not in refused
    age = identity.age_on(patient.date_of_birth, today) if birth_date_valid else None
    cleaned: dict[str, Any] | None = None
    not_an_object = False
    if isinstance(answers, Mapping):
        if "age_years" in answers:
            errors["age_years"] = ["age_years is computed from the date of birth; do not send it."]
        checked = validate_answers({**answers, "age_years": age})
        answer_errors, under_16, cleaned = checked.errors, checked.under_16, checked.answers
    else:
        # No answers to check (refused by the caller, or not an object): the age is still
        # checked, so a patient under 16 learns it at once.
        answer_errors = (
            validate_fields({"age_years": age}, ["age_years"]) if age is not None else {}
        )
        under_16 = answer_errors.get("age_years") == [MSG_UNDER_16]
        not_an_object = answers is not ANSWERS_REFUSED
    if birth_date_valid:
        for message in answer_errors.get("age_years", []):
            errors.setdefault("date_of_birth", []).append(message)
    for key, field_errors in answer_errors.items():
        if key != "age_years":
            errors.setdefault(key, []).extend(field_errors)
    if not_an_object:
        errors["answers"] = [MSG_ANSWERS_NOT_AN_OBJECT]
    return errors, under_16 and birth_date_valid, cleaned, age


def intake_prepare(
    *, patient: PatientDetails, answers: Mapping[str, Any], submitted_at: dt.datetime | None = None
) -> PreparedSubmission:
    """Validate identity and answers, compute age, triage and route. Pure of writes.

    Raises SubmissionInvalid with errors per field.
    """
    submitted_at = submitted_at or timezone.now()
    # The clinic's date, on the working calendar due times are reckoned by, whatever zone a
    # request may have activated (and no context-local read of the active zone).
    local_date = calendar_date(submitted_at, settings.CLINIC_CALENDAR)
    errors, under_16, cleaned, age = _submission_errors(patient, answers, today=local_date)
    if errors:
        raise SubmissionInvalid(errors, under_16=under_16)
    if cleaned is None or age is None:  # pragma: no cover - valid results always carry both
        raise SubmissionInvalid({"answers": ["The answers could not be read."]})
    result = assess(cleaned)
    messages = patient_messages_for(result, cleaned)
    return PreparedSubmission(
        patient=patient,
        answers=cleaned,
        result=result,
        messages=messages,
        submitted_at=submitted_at,
        submission_date=local_date,
        age_years=age,
    )


def intake_errors(
    *,
    patient: Mapping[str, Any],
    answers: object = ANSWERS_REFUSED,
    submitted_at: dt.datetime | None = None,
) -> SubmissionInvalid | None:
    """What ``intake_prepare`` refuses in a submission some of whose fields the caller already
    refused (the API, by their types), or None: every check that reads only the fields it
    accepted, so one answer names every error the body shows. ``patient`` holds the accepted
    fields of ``PatientDetails`` by name; ``answers`` is left out when they were refused.
    """
    today = calendar_date(submitted_at or timezone.now(), settings.CLINIC_CALENDAR)
    refused = _STAND_INS.keys() - patient.keys()
    details = PatientDetails(**{**_STAND_INS, **patient})
    errors, under_16, _, _ = _submission_errors(details, answers, today=today, refused=refused)
    return SubmissionInvalid(errors, under_16=under_16) if errors else None


def intake_build(
    prepared: PreparedSubmission,
    *,
    patient: Patient,
    source: str,
    actor: Any,
    interrupt_shown_at: dt.datetime | None,
) -> Intake:
    """The unsaved intake row for a prepared submission (shared with the bulk path)."""
    result = prepared.result
    flag_codes = [flag["code"] for flag in result["flags"]]
    return unsaved(
        Intake,
        patient=patient,
        source=source,
        date_of_birth=prepared.patient.date_of_birth,
        submitted_at=prepared.submitted_at,
        submission_date=prepared.submission_date,
        age_years=prepared.age_years,
        answers=prepared.answers,
        questionnaire_version=QUESTIONNAIRE_VERSION,
        ruleset_version=result["ruleset_version"],
        triage_result={**result, "questionnaire_version": QUESTIONNAIRE_VERSION},
        urgency=result["urgency"],
        flag_codes=flag_codes,
        red_flag_count=sum(code.startswith("RED_FLAG_") for code in flag_codes),
        link_kind=link_kind(flag_codes, prepared.answers),
        patient_messages=prepared.messages.as_dict(),
        messages_shown_at=prepared.submitted_at,
        interrupt_shown_at=interrupt_shown_at,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _store(
    prepared: PreparedSubmission,
    *,
    reference: str,
    source: str,
    actor: Any,
    interrupt_shown_at: dt.datetime | None,
) -> Submission:
    result = prepared.result
    patient = patient_match_or_create(prepared.patient)
    intake = intake_build(
        prepared,
        patient=patient,
        source=source,
        actor=actor,
        interrupt_shown_at=interrupt_shown_at,
    )
    intake.reference = reference
    intake.save(force_insert=True)
    proposed = referrals_record(
        intake=intake, queues=result["queues"], urgency=result["urgency"], actor=None
    )
    # Webhooks and staff alerts go out from the worker: one task row, written in this
    # transaction, so a case is never stored without them and the request writes the same
    # number of rows whatever the flags.
    announce_intake.enqueue(
        intake.pk,
        [r.pk for r in proposed.referrals],
        [r.pk for r in proposed.created],
        [r.pk for r in proposed.to_notify],
    )
    return Submission(
        intake=intake, referrals=proposed.referrals, messages=prepared.messages, result=result
    )


REFERENCE_ATTEMPTS = 5


def intake_submit(
    *,
    patient: PatientDetails,
    answers: Mapping[str, Any],
    source: str,
    actor: Any = None,
    submitted_at: dt.datetime | None = None,
    interrupt_shown_at: dt.datetime | None = None,
) -> Submission:
    """Validate, triage, route and store one case in one transaction; nothing is stored on error."""
    prepared = intake_prepare(patient=patient, answers=answers, submitted_at=submitted_at)
    # The write's statements are the same few on every submission: PostgreSQL prepares each
    # once per connection (clinic.prepared), the patient lookup apart (_candidates). Planning
    # and parsing them, the answers and triage result written into the statement as literals,
    # cost the server more than running them.
    alias = router.db_for_write(Intake)
    for _attempt in range(REFERENCE_ATTEMPTS):
        # A reference taken by another case (27^8 codes: about one submission in ten thousand
        # at a million cases) fails the intake's unique index: the whole transaction is tried
        # again with a new one. No savepoint around the insert: two statements fewer for every
        # submission.
        reference = identity.new_reference()
        try:
            with transaction.atomic(using=alias), preparing(alias):
                return _store(
                    prepared,
                    reference=reference,
                    source=source,
                    actor=actor,
                    interrupt_shown_at=interrupt_shown_at,
                )
        except IntegrityError:
            if not Intake.objects.filter(reference=reference).exists():
                raise
    raise RuntimeError("Could not allocate a unique reference.")
