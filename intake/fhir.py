"""FHIR R4 (4.0.1) JSON for the questionnaire and for one case. No database access, no I/O.

The export is checked against the ``fhir.resources.R4B`` models (the closest to R4 that
``fhir.resources`` ships); the resources use only elements R4 and R4B share.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

from intake.messages import staff_disclaimer
from intake.questionnaire import (
    FIELDS,
    QUESTIONNAIRE_VERSION,
    SECTIONS,
    Choice,
    Field,
    answer_label,
)
from intake.triage import HARD

FHIR_VERSION: Final = "4.0.1"
MEDIA_TYPE: Final = "application/fhir+json"
BASE: Final = "https://clinic-intake.example/fhir"
QUESTIONNAIRE_URL: Final = f"{BASE}/Questionnaire/intake"
FLAG_SYSTEM: Final = f"{BASE}/CodeSystem/flag"
QUEUE_SYSTEM: Final = f"{BASE}/CodeSystem/queue"
REFERRAL_SYSTEM: Final = f"{BASE}/referral"
INTAKE_SYSTEM: Final = f"{BASE}/intake-reference"
VERSION_TAG: Final = {"system": "http://hl7.org/fhir/FHIR-version", "code": FHIR_VERSION}
MIN_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE: Final = "http://hl7.org/fhir/StructureDefinition/maxValue"
MODULE_SECTION: Final = ("startback", "Optional licensed module: STarT Back scores")

ITEM_TYPES: Final = {
    "bool": "boolean",
    "int": "integer",
    "single": "choice",
    "multi": "choice",
    "text": "text",
}
# Spec §4.2 urgency -> FHIR request priority.
PRIORITY: Final = {"routine": "routine", "urgent": "urgent", "emergency": "stat"}
REQUEST_STATUS: Final = {
    "new": "active",
    "claimed": "active",
    "contacted": "active",
    "scheduled": "active",
    "completed": "completed",
    "declined": "revoked",
    "cancelled": "revoked",
    "rerouted": "revoked",
    "entered_in_error": "entered-in-error",
}
REFERRAL_CATEGORY: Final = {
    "coding": [
        {"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}
    ]
}


def answer_system(field_code: str) -> str:
    return f"{BASE}/CodeSystem/{field_code}"


def _coding(field: Field, choice: Choice) -> dict[str, str]:
    return {"system": answer_system(field.code), "code": choice.code, "display": choice.label}


# questionnaire.SHOW_WHEN as enableWhen (any one condition enables the question): the answers
# intake.triage's no_symptoms and leg_symptoms_reported read.
_LEG_SIDES: Final = ("leg_symptoms_side", "pain_below_knee_side", "leg_neuro_side")
_TICKED: Final = ("pain_regions", "numbness_areas")
_YES: Final = ("tingling", "leg_weak_or_heavy", "foot_drop", "weakness_worsening")
_WALKS: Final = ("heel_walk", "toe_walk")


def _coded(code: str, operator: str, value: str) -> dict[str, Any]:
    return {
        "question": code,
        "operator": operator,
        "answerCoding": {"system": answer_system(code), "code": value},
    }


def _enable_when(show_when: str) -> list[dict[str, Any]]:
    legs = [_coded(code, "!=", "none") for code in _LEG_SIDES]
    if show_when == "leg_symptoms":
        return legs
    return [
        *({"question": code, "operator": "exists", "answerBoolean": True} for code in _TICKED),
        *legs,
        *({"question": code, "operator": "=", "answerBoolean": True} for code in _YES),
        *(_coded(code, "=", value) for code in _WALKS for value in sorted(HARD)),
    ]


def _question(field: Field) -> dict[str, Any]:
    item: dict[str, Any] = {
        "linkId": field.code,
        "text": answer_label(field),
        "type": ITEM_TYPES[field.kind],
        # Optional questions are not required; a conditional one is, while its enableWhen
        # holds (the API asks it then, and refuses an answer otherwise). Nor are free text and
        # tick-all-that-apply lists: "nothing ticked" is a valid answer that FHIR writes as no
        # answer item, and a `required` item must have one in a completed response (a review
        # found most responses invalid against this Questionnaire).
        "required": (field.show_when is not None or not field.nullable)
        and field.kind not in ("text", "multi"),
    }
    if field.show_when is not None:
        item["enableWhen"] = _enable_when(field.show_when)
        item["enableBehavior"] = "any"
    if field.kind == "multi":
        item["repeats"] = True
    if field.choices:
        item["answerOption"] = [{"valueCoding": _coding(field, c)} for c in field.choices]
    if field.max_length is not None:
        item["maxLength"] = field.max_length
    if field.computed:
        item["readOnly"] = True
    extensions = []
    if field.min_value is not None:
        extensions.append({"url": MIN_VALUE, "valueInteger": field.min_value})
    if field.max_value is not None:
        extensions.append({"url": MAX_VALUE, "valueInteger": field.max_value})
    if extensions:
        item["extension"] = extensions
    if field.help_text:
        item["item"] = [
            {"linkId": f"{field.code}.help", "text": field.help_text, "type": "display"}
        ]
    return item


def _sections() -> list[tuple[str, str, str]]:
    return [(s.code, s.title, s.intro) for s in SECTIONS] + [(*MODULE_SECTION, "")]


def questionnaire() -> dict[str, Any]:
    """The intake questionnaire as a FHIR ``Questionnaire``, generated from questionnaire.FIELDS."""
    groups = []
    for code, title, intro in _sections():
        items = [_question(f) for f in FIELDS if f.section == code]
        if intro:
            items.insert(0, {"linkId": f"{code}.intro", "text": intro, "type": "display"})
        groups.append({"linkId": code, "text": title, "type": "group", "item": items})
    return {
        "resourceType": "Questionnaire",
        "id": "intake",
        "meta": {"tag": [VERSION_TAG]},
        "url": QUESTIONNAIRE_URL,
        "version": QUESTIONNAIRE_VERSION,
        "name": "ClinicIntake",
        "title": "Foot and back pain intake",
        "status": "active",
        "subjectType": ["Patient"],
        "item": groups,
    }


# --- one case ----------------------------------------------------------------------------------


class PatientLike(Protocol):
    public_id: uuid.UUID
    given_name: str
    family_name: str
    date_of_birth: dt.date
    phone: str
    email: str
    preferred_contact: str
    anonymised_at: dt.datetime | None


class IntakeLike(Protocol):
    public_id: uuid.UUID
    reference: str
    submitted_at: dt.datetime
    questionnaire_version: str
    answers: Any
    triage_result: Any
    red_flag_cleared_at: dt.datetime | None


class ReferralLike(Protocol):
    pk: Any
    public_id: uuid.UUID
    rerouted_from_id: int | None
    referred_again_from_id: int | None
    rerouted_into_id: int | None
    queue: str
    status: str
    urgency: str
    note: str
    created_at: dt.datetime

    def get_queue_display(self) -> str: ...


def _ref(resource_id: uuid.UUID | str) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource_id}"}


# HL7's security label for information removed from a resource.
REDACTED: Final = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "REDACTED",
    "display": "redacted",
}


def _patient(patient: PatientLike) -> dict[str, Any]:
    if patient.anonymised_at is not None:
        # Erased (intake.privacy.patient_erase): no name or contact is left, and only the
        # year of birth, which FHIR's date writes as a year alone (a review found the 1
        # January the database keeps exported as an exact birth date, and "Erased" as a name).
        return {
            "resourceType": "Patient",
            "id": str(patient.public_id),
            "meta": {"security": [REDACTED]},
            "birthDate": f"{patient.date_of_birth.year:04d}",
        }
    telecom: list[dict[str, Any]] = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    for point in telecom:
        if point["system"] == patient.preferred_contact:
            point["rank"] = 1
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.public_id),
        "name": [{"family": patient.family_name, "given": [patient.given_name]}],
        "birthDate": patient.date_of_birth.isoformat(),
    }
    if telecom:
        resource["telecom"] = telecom
    return resource


def _answers_for(field: Field, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if field.kind == "bool":
        return [{"valueBoolean": bool(value)}]
    if field.kind == "int":
        return [{"valueInteger": int(value)}]
    by_code = {c.code: c for c in field.choices}
    if field.kind == "single":
        return [{"valueCoding": _coding(field, by_code[value])}]
    if field.kind == "multi":
        return [{"valueCoding": _coding(field, by_code[v])} for v in value]
    return [{"valueString": str(value)}] if value else []


def _response(intake: IntakeLike, patient_id: str, response_id: uuid.UUID) -> dict[str, Any]:
    answers: Mapping[str, Any] = intake.answers
    groups = []
    for code, title, _intro in _sections():
        items = []
        for field in FIELDS:
            if field.section != code:
                continue
            # Unanswered (null), empty text and no-option-ticked lists carry no answer item.
            given = _answers_for(field, answers.get(field.code))
            if given:
                items.append({"linkId": field.code, "text": answer_label(field), "answer": given})
        if items:
            groups.append({"linkId": code, "text": title, "item": items})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": str(response_id),
        "identifier": {"system": INTAKE_SYSTEM, "value": intake.reference},
        "questionnaire": f"{QUESTIONNAIRE_URL}|{intake.questionnaire_version}",
        "status": "completed",
        "subject": _ref(patient_id),
        "authored": intake.submitted_at.isoformat(),
        "item": groups,
    }


def _flag(
    flag: Mapping[str, Any], intake: IntakeLike, patient_id: str, flag_id: uuid.UUID
) -> dict[str, Any]:
    cleared = flag["code"].startswith("RED_FLAG_") and intake.red_flag_cleared_at is not None
    period = {"start": intake.submitted_at.isoformat()}
    if cleared and intake.red_flag_cleared_at is not None:
        period["end"] = intake.red_flag_cleared_at.isoformat()
    return {
        "resourceType": "Flag",
        "id": str(flag_id),
        "status": "inactive" if cleared else "active",
        "code": {
            "coding": [{"system": FLAG_SYSTEM, "code": flag["code"]}],
            "text": flag["explanation"],
        },
        "subject": _ref(patient_id),
        "period": period,
    }


def _service_request(
    referral: ReferralLike,
    patient_id: str,
    response_id: uuid.UUID,
    flags: Sequence[tuple[Mapping[str, Any], uuid.UUID]],
    disclaimer: str,
    replaces: Sequence[uuid.UUID],
) -> dict[str, Any]:
    label = referral.get_queue_display()
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": str(referral.public_id),
        "identifier": [{"system": REFERRAL_SYSTEM, "value": str(referral.public_id)}],
        "status": REQUEST_STATUS[referral.status],
        "intent": "order",
        "category": [REFERRAL_CATEGORY],
        "priority": PRIORITY[referral.urgency],
        "subject": _ref(patient_id),
        "authoredOn": referral.created_at.isoformat(),
        "performerType": {
            "coding": [{"system": QUEUE_SYSTEM, "code": referral.queue, "display": label}],
            "text": label,
        },
        # The answers, then the case's Flags: R4's reasonReference may only point at a
        # Condition, Observation, DiagnosticReport or DocumentReference (a review found Flags
        # there), so the flags' codes are the reason and the Flag resources support it.
        "supportingInfo": [_ref(response_id), *(_ref(flag_id) for _flag, flag_id in flags)],
    }
    if flags:
        resource["reasonCode"] = [
            {
                "coding": [{"system": FLAG_SYSTEM, "code": flag["code"]}],
                "text": flag["explanation"],
            }
            for flag, _flag_id in flags
        ]
    if replaces:
        resource["replaces"] = [_ref(replaced) for replaced in replaces]
    # The referral's note for staff, then the §7 staff text that goes with any triage result.
    resource["note"] = [*([{"text": referral.note}] if referral.note else []), {"text": disclaimer}]
    return resource


def intake_bundle(
    *,
    intake: IntakeLike,
    patient: PatientLike,
    referrals: Iterable[ReferralLike],
    now: dt.datetime,
) -> dict[str, Any]:
    """One case as a FHIR ``Bundle`` (collection): Patient, QuestionnaireResponse, Flags, and a
    ServiceRequest per referral. Identifiers derive from the intake, so a bundle is stable."""
    patient_id = str(patient.public_id)
    response_id = uuid.uuid5(intake.public_id, "questionnaire-response")
    flags = list(intake.triage_result.get("flags", []))
    flag_ids = [uuid.uuid5(intake.public_id, f"flag:{flag['code']}") for flag in flags]
    disclaimer = staff_disclaimer(ruleset_version=intake.triage_result["ruleset_version"])
    paired = list(zip(flags, flag_ids, strict=True))
    referrals = list(referrals)
    # A reroute's new request replaces the one it closed, and a referral made again the one
    # closed by mistake (referral_refer_again), when both are in this bundle: both, for a
    # referral made again that a reroute then joined (it came from each). A referral rerouted
    # into the patient's open referral of a queue is named by its own rerouted_into: that
    # one's rerouted_from may name another that came in first.
    in_bundle = {referral.pk: referral.public_id for referral in referrals}
    came_from: dict[Any, list[Any]] = {
        r.pk: [r.rerouted_from_id, r.referred_again_from_id] for r in referrals
    }
    for r in referrals:
        if r.rerouted_into_id in came_from:
            came_from[r.rerouted_into_id].append(r.pk)
    resources = [
        _patient(patient),
        _response(intake, patient_id, response_id),
        *(_flag(flag, intake, patient_id, fid) for flag, fid in paired),
        *(
            _service_request(
                r,
                patient_id,
                response_id,
                paired,
                disclaimer,
                [in_bundle[pk] for pk in dict.fromkeys(came_from[r.pk]) if pk in in_bundle],
            )
            for r in referrals
        ),
    ]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(intake.public_id, "bundle")),
        "meta": {"tag": [VERSION_TAG], "lastUpdated": now.isoformat()},
        "identifier": {"system": INTAKE_SYSTEM, "value": intake.reference},
        "type": "collection",
        "timestamp": now.isoformat(),
        "entry": [
            {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
            for resource in resources
        ],
    }
