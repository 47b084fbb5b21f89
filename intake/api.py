"""Intake API: submit, preview triage, read a case, export FHIR, clear a red flag, questionnaire.

Views are thin: check the input's types, call one service or selector, shape the output. The
answers are validated by the one validator (``intake.validation`` through ``intake_prepare``);
their OpenAPI schema is generated from ``questionnaire.FIELDS``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, Final

from django.conf import settings
from django.db import connections, router
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.compiled import CompiledValues, compiled_values, db_value
from clinic.prepared import preparing
from intake import fhir
from intake.assessment import assess
from intake.bodymap import body_map_svg
from intake.messages import patient_disclaimer, staff_disclaimer, under_16_refusal
from intake.models import ContactMethod, Intake, IntakeSource, Urgency
from intake.questionnaire import (
    FIELD_BY_CODE,
    FIELDS,
    QUESTIONNAIRE_VERSION,
    SECTIONS,
    SHOW_WHEN,
    Field,
)
from intake.services import (
    ANSWERS_REFUSED,
    MSG_ANSWERS_NOT_AN_OBJECT,
    NAME_MAX,
    PatientDetails,
    SubmissionInvalid,
    intake_errors,
    intake_submit,
    patient_messages_for,
)
from intake.triage import SPINAL_REGIONS
from intake.validation import (
    MSG_AGE,
    NON_FIELD_ERRORS,
    STARTBACK_PHYSICAL_ITEMS,
    ValidationResult,
    validate_answers,
)
from referrals import selectors, services
from referrals.access import queues_for
from referrals.api import (
    LIST_ITEM_COLUMNS,
    LinkSummaryOut,
    ReferralListItemSerializer,
    link_summary_of,
    referral_list_items,
)
from referrals.api_auth import (
    ApiView,
    StrictCharField,
    StrictSerializer,
    error_responses,
    errors_body,
    flatten_errors,
    scopes_of,
)
from referrals.audit import audit_record
from referrals.idempotency import MAX_KEY_LENGTH, KeyReused, idempotent_call
from referrals.models import Queue, Referral, Scope
from referrals.negotiation import ErrorsOnlyNegotiation
from referrals.tokens import token_of

PATIENT_FIELDS: Final = (
    "given_name",
    "family_name",
    "date_of_birth",
    "phone",
    "email",
    "preferred_contact",
)

# --- the answers schema, generated from the questionnaire ----------------------------------------


def field_schema(field: Field) -> dict[str, Any]:
    """OpenAPI 3.0 schema of one answer: type, codes, range, length, nullability."""
    schema: dict[str, Any]
    if field.kind == "bool":
        # The consents: false is refused (§1 J), and the schema says so (a review).
        schema = {"type": "boolean", "enum": [True]} if field.must_be_true else {"type": "boolean"}
    elif field.kind == "int":
        schema = {"type": "integer", "minimum": field.min_value, "maximum": field.max_value}
    elif field.kind == "single":
        codes: list[Any] = [c.code for c in field.choices]
        schema = {"type": "string", "enum": [*codes, None] if field.nullable else codes}
    elif field.kind == "multi":
        schema = {
            "type": "array",
            "items": {"type": "string", "enum": [c.code for c in field.choices]},
            "uniqueItems": True,
        }
    else:
        schema = {"type": "string", "maxLength": field.max_length}
    if field.nullable:
        schema["nullable"] = True
    schema["description"] = field.label
    return schema


def answers_schema(*, with_age: bool) -> dict[str, Any]:
    """Every question of the questionnaire as an object schema. ``age_years`` is computed from
    the date of birth on submission and given directly only to the triage preview."""
    fields = [f for f in FIELDS if with_age or not f.computed]
    return {
        "type": "object",
        "description": "Answers keyed by the spec's field codes. Unknown codes are refused. "
        "symptom_duration and onset_type are required (non-null) exactly when a symptom is "
        "reported, leg_symptoms_duration exactly when leg symptoms are reported (the "
        "questionnaire's show_when says when). The optional STarT Back scores (sbst_total, "
        "sbst_distress) come both or neither, sbst_distress at most sbst_total and sbst_total "
        f"at most {STARTBACK_PHYSICAL_ITEMS} more than sbst_distress, and only with back or "
        "buttock pain (pain_regions holding "
        + " or ".join(f"`{region}`" for region in sorted(SPINAL_REGIONS))
        + ").",
        "properties": {f.code: field_schema(f) for f in fields},
        "required": [f.code for f in fields if f.module is None],
        "additionalProperties": False,
    }


@extend_schema_field(answers_schema(with_age=False))
class SubmittedAnswersField(serializers.JSONField):
    pass


@extend_schema_field(answers_schema(with_age=True))
class PreviewAnswersField(serializers.JSONField):
    pass


# --- serializers ---------------------------------------------------------------------------------


REACH_HELP: Final = "Give a phone number or an email address, or both."
ONE_LINE: Final = (
    "One line: no line breaks, tabs or other control characters, nor the overrides that "
    "reorder how text is shown (U+202D, U+202E); the embeddings and isolates a pasted value "
    "may come wrapped in (U+202A-U+202C, U+2066-U+2069) are dropped."
)


_ISO_DATE_SHAPE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")


class BirthDateField(serializers.DateField):
    """An ISO date; one written as YYYY-MM-DD that names no day of the calendar (30 February,
    month 13) says so. DRF told it "Date has wrong format. Use one of these formats instead:
    YYYY-MM-DD.", the format it was sent in (an API QA round)."""

    default_error_messages = {
        "no_such_day": "There is no such date: check the day, the month and the year."
    }

    def to_internal_value(self, value: Any) -> Any:
        if isinstance(value, str) and _ISO_DATE_SHAPE.fullmatch(value.strip()):
            try:
                dt.date.fromisoformat(value.strip())
            except ValueError:
                self.fail("no_such_day")
        return super().to_internal_value(value)


class IntakeSubmitIn(StrictSerializer):
    given_name = StrictCharField(
        max_length=NAME_MAX,
        allow_blank=True,
        help_text=f"Not blank, with at least one letter (of any script). {ONE_LINE}",
    )
    family_name = StrictCharField(
        max_length=NAME_MAX,
        allow_blank=True,
        help_text=f"Not blank, with at least one letter. {ONE_LINE}",
    )
    date_of_birth = BirthDateField(
        help_text="ISO date; the age is computed from it (16 to 110 years)."
    )
    phone = StrictCharField(
        max_length=40,
        allow_blank=True,
        default="",
        help_text=f"{REACH_HELP} A phone number has 7 to 15 digits (spaces and the like are "
        f"ignored; +44 or 0044 reads as 0). {ONE_LINE}",
    )
    email = StrictCharField(max_length=254, allow_blank=True, default="", help_text=REACH_HELP)
    preferred_contact = serializers.ChoiceField(
        choices=ContactMethod.choices,
        help_text="How the patient would like to be contacted: the phone number or email "
        "address it names must be given.",
    )
    answers = SubmittedAnswersField()


class PatientMessageOut(serializers.Serializer[Any]):
    urgency_message = serializers.CharField()
    safety_net = serializers.CharField(allow_null=True)
    diabetic_safety_net = serializers.CharField(allow_null=True)


class FlagOut(serializers.Serializer[Any]):
    code = serializers.CharField()
    explanation = serializers.CharField(help_text="Staff-only wording (spec §3).")
    clauses = serializers.ListField(child=serializers.CharField())
    answers = serializers.DictField(child=serializers.JSONField())


class TriageResultOut(serializers.Serializer[Any]):
    """The spec §8.1 result contract."""

    ruleset_version = serializers.CharField()
    derived = serializers.DictField(child=serializers.JSONField(allow_null=True))
    flags = FlagOut(many=True)
    queues = serializers.ListField(child=serializers.ChoiceField(choices=Queue.choices))
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    suggested_after_clearance = serializers.ListField(
        child=serializers.ChoiceField(choices=Queue.choices)
    )


TRIAGE_KEYS: Final = tuple(TriageResultOut().fields)

PATIENT_DISCLAIMER_HELP: Final = (
    "Spec §7: show it to the patient below patient_message, as the form's result page does."
)
STAFF_DISCLAIMER_HELP: Final = (
    "Spec §7, naming the ruleset version that made the triage: show it with the triage "
    "wherever staff see it."
)


def disclaimers(ruleset_version: str | None = None) -> dict[str, str]:
    """The §7 texts an answer carries: the patient's, and the staff's beside a triage result."""
    out = {
        "patient_disclaimer": patient_disclaimer(emergency_number=settings.CLINIC_EMERGENCY_NUMBER)
    }
    if ruleset_version is not None:
        out["staff_disclaimer"] = staff_disclaimer(ruleset_version=ruleset_version)
    return out


def triage_out(result: dict[str, Any]) -> dict[str, Any]:
    """What ``TriageResultOut(result).data`` gives for a result of ``assess`` (a test checks it
    for every worked case), without the serializer's per-field cost on the submission path."""
    return {key: result[key] for key in TRIAGE_KEYS}


class IntakeCreatedOut(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    reference = serializers.CharField()
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    patient_message = PatientMessageOut()
    patient_disclaimer = serializers.CharField(help_text=PATIENT_DISCLAIMER_HELP)
    triage = TriageResultOut(
        required=False, help_text="Only for a token that also has the intake:read scope."
    )
    staff_disclaimer = serializers.CharField(
        required=False, help_text=f"With the triage only. {STAFF_DISCLAIMER_HELP}"
    )
    referrals = ReferralListItemSerializer(
        many=True, required=False, help_text="Only for a token that also has intake:read."
    )


ERASED_HELP: Final = "Null once the patient was erased (erased_at)."


class PatientOut(serializers.Serializer[Any]):
    id = serializers.UUIDField(source="public_id")
    given_name = serializers.CharField(allow_null=True, help_text=ERASED_HELP)
    family_name = serializers.CharField(allow_null=True, help_text=ERASED_HELP)
    date_of_birth = serializers.DateField(allow_null=True, help_text=ERASED_HELP)
    year_of_birth = serializers.IntegerField(source="date_of_birth.year")
    phone = serializers.CharField()
    email = serializers.CharField()
    preferred_contact = serializers.ChoiceField(
        choices=ContactMethod.choices, allow_null=True, help_text=ERASED_HELP
    )
    erased_at = serializers.DateTimeField(
        source="anonymised_at",
        allow_null=True,
        help_text="When the patient was erased (docs/SECURITY.md): names, contact details and "
        "the day and month of birth are gone, the year of birth and the clinical record kept.",
    )

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = dict(super().to_representation(instance))
        if instance.anonymised_at is not None:
            # Erasure keeps "Erased" as both names and 1 January of the year of birth: sent
            # as they are, a record system filed a patient "Erased Erased" born on 1 January
            # (the FHIR export already leaves them out).
            for name in ("given_name", "family_name", "date_of_birth", "preferred_contact"):
                data[name] = None
        return data


class IntakeOut(serializers.Serializer[Any]):
    id = serializers.UUIDField(source="public_id")
    reference = serializers.CharField()
    source = serializers.ChoiceField(choices=IntakeSource.choices)  # type: ignore[assignment]
    submitted_at = serializers.DateTimeField()
    age_years = serializers.IntegerField()
    questionnaire_version = serializers.CharField()
    ruleset_version = serializers.CharField()
    patient = PatientOut()
    answers = serializers.DictField(child=serializers.JSONField(allow_null=True))
    urgency = serializers.ChoiceField(choices=Urgency.choices)
    triage = TriageResultOut(source="triage_result")
    staff_disclaimer = serializers.SerializerMethodField(help_text=STAFF_DISCLAIMER_HELP)
    patient_message = PatientMessageOut(source="patient_messages")
    red_flag_cleared_at = serializers.DateTimeField(allow_null=True)
    link_summary = serializers.SerializerMethodField()
    referrals = serializers.SerializerMethodField()

    def get_staff_disclaimer(self, intake: Intake) -> str:
        return staff_disclaimer(ruleset_version=intake.ruleset_version)

    @extend_schema_field(LinkSummaryOut)
    def get_link_summary(self, intake: Intake) -> dict[str, Any]:
        return link_summary_of(intake)

    @extend_schema_field(ReferralListItemSerializer(many=True))
    def get_referrals(self, intake: Intake) -> Any:
        return ReferralListItemSerializer(self.context["referrals"], many=True).data


class TriagePreviewIn(StrictSerializer):
    answers = PreviewAnswersField()


class TriagePreviewOut(TriageResultOut):
    patient_message = PatientMessageOut()
    patient_disclaimer = serializers.CharField(help_text=PATIENT_DISCLAIMER_HELP)
    staff_disclaimer = serializers.CharField(help_text=STAFF_DISCLAIMER_HELP)


class ClearRedFlagIn(StrictSerializer):
    reason = StrictCharField(max_length=2000)
    review = serializers.UUIDField(
        required=False,
        help_text=(
            "The urgent medical review you read (its referral `id`): the clearance is refused "
            "(`409`, nothing saved) if it would act on another review of the case, as once "
            "that one was closed otherwise (cancelled, declined, entered in error) it acts on "
            "an earlier completed review. Omit it to act on the case's review as it is now."
        ),
    )
    release_queues = serializers.ListField(
        child=serializers.ChoiceField(
            choices=[c for c in Queue.choices if c[0] != Queue.URGENT_MEDICAL_REVIEW]
        ),
        required=False,
        allow_empty=True,
        # DRF's words were 'Expected a list of items but got type "str".' (an API QA round).
        error_messages={"not_a_list": 'Send a list of queues, e.g. ["podiatry"].'},
        help_text="Queues to release the case to; omit for the ones triage suggested.",
    )
    with_intakes = serializers.ListField(
        child=StrictCharField(max_length=20),
        required=False,
        allow_empty=True,
        max_length=1000,
        error_messages={"not_a_list": 'Send a list of case references, e.g. ["R4FENG7B"].'},
        help_text="References of the patient's other cases with red flags that feed the same "
        "urgent medical review, read and cleared with this one (a 409 names any left out).",
    )


class ChoiceOut(serializers.Serializer[Any]):
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]


class QuestionOut(serializers.Serializer[Any]):
    code = serializers.CharField()
    kind = serializers.ChoiceField(choices=["bool", "int", "single", "multi", "text"])
    label = serializers.CharField()  # type: ignore[assignment]
    help_text = serializers.CharField()  # type: ignore[assignment]
    choices = ChoiceOut(many=True)
    min_value = serializers.IntegerField(allow_null=True)
    max_value = serializers.IntegerField(allow_null=True)
    max_length = serializers.IntegerField(allow_null=True)
    nullable = serializers.BooleanField()
    module = serializers.CharField(allow_null=True)
    show_when = serializers.CharField(
        allow_null=True,
        help_text="Null for a question always asked. Otherwise the question is answered exactly "
        "when its condition holds, and null when it does not. "
        + " ".join(f"`{name}`: {meaning}." for name, meaning in SHOW_WHEN.items()),
    )
    computed = serializers.BooleanField()
    must_be_true = serializers.BooleanField()


class SectionOut(serializers.Serializer[Any]):
    code = serializers.CharField()
    title = serializers.CharField()
    intro = serializers.CharField()
    questions = QuestionOut(many=True)


class QuestionnaireOut(serializers.Serializer[Any]):
    version = serializers.CharField()
    sections = SectionOut(many=True)


def questionnaire_definition() -> dict[str, Any]:
    sections = [(s.code, s.title, s.intro) for s in SECTIONS] + [(*fhir.MODULE_SECTION, "")]
    return {
        "version": QUESTIONNAIRE_VERSION,
        "sections": [
            {
                "code": code,
                "title": title,
                "intro": intro,
                "questions": [
                    {
                        "code": f.code,
                        "kind": f.kind,
                        "label": f.label,
                        "help_text": f.help_text,
                        # Staff-only labels (nerve-root patterns) stay out: integrators show
                        # these questions to patients.
                        "choices": [{"code": c.code, "label": c.label} for c in f.choices],
                        "min_value": f.min_value,
                        "max_value": f.max_value,
                        "max_length": f.max_length,
                        "nullable": f.nullable,
                        "module": f.module,
                        "show_when": f.show_when,
                        "computed": f.computed,
                        "must_be_true": f.must_be_true,
                    }
                    for f in FIELDS
                    if f.section == code
                ],
            }
            for code, title, intro in sections
        ],
    }


# --- helpers -------------------------------------------------------------------------------------


def _submission_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """The service's errors under the API's names: answer codes live under ``answers.``."""
    out: dict[str, list[str]] = {}
    for key, messages in errors.items():
        name = key if key in (*PATIENT_FIELDS, "answers", NON_FIELD_ERRORS) else f"answers.{key}"
        out.setdefault(name, []).extend(messages)
    return out


def _merged(
    refused: dict[str, list[str]], errors: Mapping[str, list[str]], *, under_16: bool
) -> dict[str, Any]:
    """One error body: ``refused`` (the outer fields' own errors) and ``errors`` beside them."""
    for key, messages in errors.items():
        refused.setdefault(key, []).extend(messages)
    extra = {}
    if under_16:
        extra["refusal"] = under_16_refusal(emergency_number=settings.CLINIC_EMERGENCY_NUMBER)
    return errors_body(refused, **extra)


def _invalid_body(exc: SubmissionInvalid) -> dict[str, Any]:
    return _merged({}, _submission_errors(exc.errors), under_16=exc.under_16)


def _refused_submission(data: IntakeSubmitIn) -> dict[str, Any]:
    """Every error a refused body shows in one answer: the outer fields' own (types, formats,
    unknown names) and beside them the service's checks of the fields that passed theirs
    (intake_errors), answers included, so an integrator learns everything in one round trip."""
    refused = flatten_errors(data.errors)
    accepted = data.accepted()
    if accepted is None:
        return errors_body(refused)
    answers = accepted.pop("answers", ANSWERS_REFUSED)
    exc = intake_errors(patient=accepted, answers=answers)
    if exc is None:
        return errors_body(refused)
    return _merged(refused, _submission_errors(exc.errors), under_16=exc.under_16)


PREVIEW_AGE: Final = (
    f"Give the age in whole years, from {FIELD_BY_CODE['age_years'].min_value} to "
    f"{FIELD_BY_CODE['age_years'].max_value}."
)


def _preview_body(
    checked: ValidationResult, refused: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    # Answers that are not an object are the field's own error, in the submission's words: under
    # "answers.non_field_errors", a key docs/API.md does not name, the preview said it otherwise.
    errors = {f"answers.{k}": v for k, v in checked.errors.items() if k != NON_FIELD_ERRORS}
    if NON_FIELD_ERRORS in checked.errors:
        errors["answers"] = [MSG_ANSWERS_NOT_AN_OBJECT]
    age = errors.get("answers.age_years")
    if age:
        # The form's words ("Please check your date of birth.") speak of a date the preview
        # never takes: it is given the age itself (an API QA round).
        errors["answers.age_years"] = [PREVIEW_AGE if m == MSG_AGE else m for m in age]
    return _merged(refused or {}, errors, under_16=checked.under_16)


def _refused_preview(data: TriagePreviewIn) -> dict[str, Any]:
    """As ``_refused_submission`` for the triage preview: the answers' errors beside the
    body's own (an unknown field), in one answer."""
    refused = flatten_errors(data.errors)
    accepted = data.accepted()
    if accepted is None or "answers" not in accepted:
        return errors_body(refused)
    return _preview_body(validate_answers(accepted["answers"]), refused)


def _visible_referrals(referrals: Iterable[Referral], user: Any) -> list[dict[str, Any]]:
    """The case's referrals (new or joined) in the queues ``user`` works, in queue order, as
    ``ReferralListItemSerializer`` writes them: with ``red_flag_elsewhere``, a column of the
    same statement (a case without a red flag opens its specialty referrals while another case
    of the patient has one not cleared, and the integrator reading this answer was not told).

    Read once more after the commit, as the referral list reads its rows (``values()`` of the
    columns a row shows: no model instances, no intake answers decoded): on SQLite the write
    lock is held for the whole transaction, so this join stays out of it (a select_related in
    the locking read cut SQLite's throughput under two workers by a third). The statement is
    compiled once per number of referrals and queue set, and PostgreSQL prepares it
    (clinic.prepared): building it cost about 0.5 ms of a submission's CPU, and PostgreSQL
    took longer to plan it (its joins, each table's indexes) than to run it.
    """
    ids = [r.pk for r in referrals]
    queues = tuple(sorted(queues_for(user)))
    if not ids or not queues:
        return []
    alias = router.db_for_read(Referral)
    statement = _visible_statement(alias, len(ids), queues)
    database = connections[alias]
    values = {f"id{i}": db_value(Referral._meta.pk, pk, database) for i, pk in enumerate(ids)}
    with preparing(alias):
        return referral_list_items(statement.rows(database, **values))


def _visible_of(alias: str, ids: list[int], queues: tuple[str, ...]) -> QuerySet[Referral]:
    visible = Referral.objects.using(alias).filter(pk__in=ids, queue__in_constants=queues)
    return (
        selectors.with_red_flag_elsewhere(visible)
        .order_by("-priority", "due_at", "id")
        .values(*LIST_ITEM_COLUMNS)
    )


@cache
def _visible_statement(alias: str, count: int, queues: tuple[str, ...]) -> CompiledValues:
    """``_visible_of``'s statement for ``count`` referrals, compiled with ids no referral has
    (at most five counts, one for each number of queues, per queue set)."""

    def stand_ins(first: int) -> dict[str, int]:
        return {f"id{i}": first - i for i in range(count)}

    first, second = stand_ins(-1), stand_ins(-1_001)
    return compiled_values(
        _visible_of(alias, list(first.values()), queues),
        first,
        (_visible_of(alias, list(second.values()), queues), second),
    )


def _case_referrals(intake: Intake, user: Any) -> QuerySet[Referral]:
    """Every referral this case fed (including those a later submission was linked to)."""
    return (
        selectors.referral_list(user=user)
        .filter(intakes=intake)
        .select_related("rerouted_from")
        .distinct()
    )


def _intake_out(intake: Intake, user: Any) -> Any:
    """``IntakeOut`` of the case, its referrals with their ``red_flag_elsewhere`` (a column of
    the statement that reads them, not a statement more)."""
    referrals = list(selectors.with_red_flag_elsewhere(_case_referrals(intake, user)))
    return IntakeOut(intake, context={"referrals": referrals}).data


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    description="Any unique string up to 255 characters. A retry with the same key and body "
    "returns the first response and stores nothing; the same key with another body is a 409.",
)

# --- views ---------------------------------------------------------------------------------------


class IntakeSubmitView(ApiView):
    required_scope = Scope.INTAKE_SUBMIT

    @extend_schema(
        operation_id="intake_submit",
        summary="Submit an intake",
        request=IntakeSubmitIn,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            (201, "application/json"): IntakeCreatedOut,
            **error_responses(400, 401, 403, 409, 413, 415, 429),
        },
    )
    def post(self, request: Request) -> Response:
        token = token_of(request.user)
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
            return Response(
                errors_body({"Idempotency-Key": ["Use 1 to 255 characters."]}), status=400
            )
        if key is None or token is None:
            code, body = self._submit(request)
            return Response(body, status=code)
        try:
            outcome = idempotent_call(
                token=token, key=key, data=request.data, run=lambda: self._submit(request)
            )
        except KeyReused:
            return Response(
                errors_body(
                    {NON_FIELD_ERRORS: ["This Idempotency-Key was used with a different body."]}
                ),
                status=409,
            )
        headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
        return Response(outcome.body, status=outcome.status, headers=headers)

    def _submit(self, request: Request) -> tuple[int, dict[str, Any]]:
        data = IntakeSubmitIn(data=request.data)
        if not data.is_valid():
            return 400, _refused_submission(data)
        values = dict(data.validated_data)
        answers = values.pop("answers")
        try:
            submission = intake_submit(
                patient=PatientDetails(**values),
                answers=answers,
                source=IntakeSource.API,
                actor=request.user,
            )
        except SubmissionInvalid as exc:
            return 400, _invalid_body(exc)
        intake = submission.intake
        body: dict[str, Any] = {
            "id": str(intake.public_id),
            "reference": intake.reference,
            "urgency": intake.urgency,
            "patient_message": dataclasses.asdict(submission.messages),
            **disclaimers(),
        }
        if Scope.INTAKE_READ in scopes_of(request):
            visible = _visible_referrals(submission.referrals, request.user)
            # A token that cannot see any queue of the case learns nothing about its triage.
            if visible:
                body["triage"] = triage_out(submission.result)
                body["staff_disclaimer"] = staff_disclaimer(
                    ruleset_version=submission.result["ruleset_version"]
                )
                body["referrals"] = visible
        return 201, body


class TriagePreviewView(ApiView):
    required_scope = Scope.TRIAGE_PREVIEW

    @extend_schema(
        operation_id="triage_preview",
        summary="Preview triage for a set of answers; nothing is stored",
        request=TriagePreviewIn,
        responses={
            (200, "application/json"): TriagePreviewOut,
            **error_responses(400, 401, 403, 413, 415, 429),
        },
    )
    def post(self, request: Request) -> Response:
        data = TriagePreviewIn(data=request.data)
        if not data.is_valid():
            return Response(_refused_preview(data), status=400)
        checked = validate_answers(data.validated_data["answers"])
        if checked.answers is None:
            return Response(_preview_body(checked), status=400)
        result = assess(checked.answers)
        messages = patient_messages_for(result, checked.answers)
        return Response(
            {
                **triage_out(result),
                "patient_message": dataclasses.asdict(messages),
                **disclaimers(result["ruleset_version"]),
            }
        )


class IntakeDetailView(ApiView):
    required_scope = Scope.INTAKE_READ

    @extend_schema(
        operation_id="intake_get",
        summary="One case: patient, answers, triage result and referrals",
        responses={(200, "application/json"): IntakeOut, **error_responses(401, 403, 404, 429)},
    )
    def get(self, request: Request, public_id: str) -> Response:
        intake = selectors.intake_get(user=request.user, public_id=public_id)
        audit_record(actor=request.user, action="api_view", obj=intake, request=request)
        return Response(_intake_out(intake, request.user))


class IntakeBodyMapView(ApiView):
    required_scope = Scope.INTAKE_READ
    # Errors are JSON whatever was asked for; the map itself is a plain SVG response.
    renderer_classes = [JSONRenderer]
    content_negotiation_class = ErrorsOnlyNegotiation

    @extend_schema(
        operation_id="intake_body_map",
        summary="The staff body map of one case as SVG (pain, numbness, nerve-root zones)",
        responses={
            (200, "image/svg+xml"): OpenApiResponse(
                OpenApiTypes.STR, "A self-contained SVG with a text alternative in <desc>."
            ),
            **error_responses(401, 403, 404, 429),
        },
    )
    def get(self, request: Request, public_id: str) -> HttpResponse:
        intake = selectors.intake_get(user=request.user, public_id=public_id)
        audit_record(
            actor=request.user,
            action="api_view",
            obj=intake,
            request=request,
            detail={"what": "body_map"},
        )
        return HttpResponse(body_map_svg(intake, staff=True), content_type="image/svg+xml")


class FhirRenderer(JSONRenderer):
    media_type = fhir.MEDIA_TYPE
    format = "fhir"


# A FHIR operation's answer: FHIR JSON, or the same as plain JSON where the client prefers it
# (Accept's weights: referrals.negotiation).
FHIR_MEDIA_TYPES: Final = (fhir.MEDIA_TYPE, "application/json")


class IntakeFhirView(ApiView):
    required_scope = Scope.INTAKE_READ
    renderer_classes = [FhirRenderer, JSONRenderer]

    @extend_schema(
        operation_id="intake_fhir",
        summary="One case as a FHIR R4 Bundle",
        responses={
            **{
                (200, media_type): OpenApiResponse(
                    OpenApiTypes.OBJECT,
                    "A FHIR 4.0.1 Bundle (collection): Patient, QuestionnaireResponse, a Flag "
                    "per flag and a ServiceRequest per referral.",
                )
                for media_type in FHIR_MEDIA_TYPES
            },
            **error_responses(401, 403, 404, 429),
        },
    )
    def get(self, request: Request, public_id: str) -> Response:
        intake = selectors.intake_get(user=request.user, public_id=public_id)
        audit_record(actor=request.user, action="api_fhir_export", obj=intake, request=request)
        bundle = fhir.intake_bundle(
            intake=intake,
            patient=intake.patient,
            referrals=list(_case_referrals(intake, request.user)),
            now=timezone.now(),
        )
        # In the type negotiated (FhirRenderer's, or JSON where the client prefers it).
        return Response(bundle)


class IntakeClearRedFlagView(ApiView):
    required_scope = Scope.REFERRALS_WRITE
    # The reviewer clears what they have read (the case's answers and flags), and the answer
    # is the whole case, patient included: what intake:read guards.
    also_required_scopes = (Scope.INTAKE_READ,)

    @extend_schema(
        operation_id="intake_clear_red_flag",
        summary="Clear the red flag (urgent medical review) and release the case",
        request=ClearRedFlagIn,
        responses={
            (200, "application/json"): IntakeOut,
            **error_responses(400, 401, 403, 404, 409, 413, 415, 429),
        },
    )
    def post(self, request: Request, public_id: str) -> Response:
        intake = selectors.intake_get(user=request.user, public_id=public_id)
        data = ClearRedFlagIn(data=request.data)
        data.is_valid(raise_exception=True)
        released = services.intake_clear_red_flag(
            intake=intake,
            actor=request.user,
            reason=data.validated_data["reason"],
            release_queues=data.validated_data.get("release_queues"),
            seen=[intake.reference, *data.validated_data.get("with_intakes", [])],
            shown_review=(
                str(data.validated_data["review"]) if "review" in data.validated_data else None
            ),
        )
        audit_record(
            actor=request.user,
            action="clear_red_flag",
            obj=intake,
            request=request,
            detail={"released": [r.queue for r in released]},
        )
        intake.refresh_from_db()
        return Response(_intake_out(intake, request.user))


class QuestionnaireView(ApiView):
    # DRF reads ?format=fhir and picks the FHIR renderer.
    renderer_classes = [JSONRenderer, FhirRenderer]

    @extend_schema(
        operation_id="questionnaire_get",
        summary="The questionnaire definition (JSON); ?format=fhir gives the FHIR Questionnaire",
        responses={
            (200, "application/json"): QuestionnaireOut,
            (200, fhir.MEDIA_TYPE): OpenApiResponse(OpenApiTypes.OBJECT, "FHIR Questionnaire"),
            **error_responses(401, 403, 429),
        },
    )
    def get(self, request: Request) -> Response:
        if request.accepted_renderer.format == "fhir":
            return Response(fhir.questionnaire())
        return Response(questionnaire_definition())


class QuestionnaireFhirView(ApiView):
    renderer_classes = [FhirRenderer, JSONRenderer]

    @extend_schema(
        operation_id="questionnaire_fhir",
        summary="The questionnaire as a FHIR R4 Questionnaire",
        responses={
            **{
                (200, media_type): OpenApiResponse(OpenApiTypes.OBJECT, "FHIR Questionnaire")
                for media_type in FHIR_MEDIA_TYPES
            },
            **error_responses(401, 403, 429),
        },
    )
    def get(self, request: Request) -> Response:
        return Response(fhir.questionnaire())  # in the type negotiated, as the case's
