"""Validation of one set of answers (spec §1, "Validation summary"), driven by the questionnaire.

Pure Python. ``validate_answers`` accepts anything (parsed JSON, form data already mapped to
codes) and never raises. Logical contradictions are accepted: triage flags them instead, because
rejecting them could block a patient who has a red flag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from intake.messages import gettext_noop
from intake.questionnaire import CORE_FIELDS, FIELD_BY_CODE, MODULE_FIELDS, Field
from intake.triage import (
    DERIVED_READS,
    LEG_SYMPTOM_READS,
    leg_symptoms_reported,
    no_symptoms,
    spinal_pain,
)

NON_FIELD_ERRORS: Final = "non_field_errors"
MIN_AGE: Final = 16
STARTBACK_PHYSICAL_ITEMS: Final = 4


MSG_NOT_AN_OBJECT: Final = gettext_noop(
    "The answers must be sent as a set of named questions and answers."
)
MSG_UNKNOWN_FIELD: Final = gettext_noop("This question is not part of the form.")
MSG_REQUIRED: Final = gettext_noop("Please answer this question.")
MSG_BOOL: Final = gettext_noop("Please answer Yes or No.")
MSG_INT: Final = gettext_noop("Please enter a whole number.")
MSG_RANGE: Final = gettext_noop("Please enter a number from {low} to {high}.")
MSG_SINGLE: Final = gettext_noop("Please choose one of the options.")
MSG_MULTI: Final = gettext_noop("Please tick the options that apply, or none.")
MSG_MULTI_UNKNOWN: Final = gettext_noop("Please choose only from the options shown.")
MSG_MULTI_DUPLICATE: Final = gettext_noop("Please tick each option only once.")
MSG_TEXT: Final = gettext_noop("Please type your answer as text.")
MSG_TEXT_LENGTH: Final = gettext_noop("Please keep this to {max_length} characters or fewer.")
MSG_TEXT_CHARACTERS: Final = gettext_noop("Please remove unusual characters from your answer.")
MSG_MUST_AGREE: Final = gettext_noop("You need to agree to this before you can send the form.")
MSG_UNDER_16: Final = gettext_noop("This service is for people aged 16 and over.")
MSG_AGE: Final = gettext_noop("Please check your date of birth.")
MSG_NOT_APPLICABLE_NO_SYMPTOMS: Final = gettext_noop(
    "Leave this empty: it only applies when you report a symptom."
)
MSG_NOT_APPLICABLE_NO_LEG_SYMPTOMS: Final = gettext_noop(
    "Leave this empty: it only applies when you report leg symptoms."
)
MSG_STARTBACK_PAIR: Final = gettext_noop("Give both STarT Back scores, or neither.")
MSG_STARTBACK_DISTRESS: Final = gettext_noop(
    "The distress score cannot be more than the total score."
)
MSG_STARTBACK_DIFFERENCE: Final = gettext_noop(
    "The total score can be at most 4 more than the distress score."
)
MSG_STARTBACK_SPINAL: Final = gettext_noop(
    "STarT Back scores are accepted only when back or buttock pain is reported."
)


@dataclass(frozen=True, slots=True)
class ValidationResult:
    """``answers`` is the cleaned answers when valid, otherwise ``None``.

    ``errors`` maps a field code (or ``non_field_errors``) to plain-English messages.
    ``under_16`` tells the caller to show the refusal screen of spec §0.7 instead of the errors.
    """

    answers: dict[str, Any] | None
    errors: dict[str, list[str]] = field(default_factory=dict)
    under_16: bool = False

    @property
    def valid(self) -> bool:
        return self.answers is not None


Check = Callable[[object], str | None]


def _bool_check(must_be_true: bool) -> Check:
    def check(value: object) -> str | None:
        # A real boolean only: 0/1, "yes" or null must never stand in for an answer (§0.8).
        if type(value) is not bool:
            return MSG_BOOL
        if must_be_true and not value:
            return MSG_MUST_AGREE
        return None

    return check


def _int_check(low: int, high: int) -> Check:
    range_message = MSG_RANGE.format(low=low, high=high)

    def check(value: object) -> str | None:
        if type(value) is not int:
            return MSG_INT
        if not low <= value <= high:
            return range_message
        return None

    return check


def _age_check(value: object) -> str | None:
    if type(value) is not int:
        return MSG_AGE
    if value < MIN_AGE:
        return MSG_UNDER_16
    age_field = FIELD_BY_CODE["age_years"]
    assert age_field.max_value is not None  # noqa: S101 - fixed by the questionnaire
    if value > age_field.max_value:
        return MSG_AGE
    return None


def _single_check(codes: frozenset[str]) -> Check:
    def check(value: object) -> str | None:
        if type(value) is not str or value not in codes:
            return MSG_SINGLE
        return None

    return check


def _multi_check(codes: frozenset[str]) -> Check:
    def check(value: object) -> str | None:
        if type(value) is not list:
            return MSG_MULTI
        for item in value:
            if type(item) is not str or item not in codes:
                return MSG_MULTI_UNKNOWN
        if len(set(value)) != len(value):
            return MSG_MULTI_DUPLICATE
        return None

    return check


def _text_check(max_length: int) -> Check:
    length_message = MSG_TEXT_LENGTH.format(max_length=max_length)

    def check(value: object) -> str | None:
        if type(value) is not str:
            return MSG_TEXT
        if len(value) > max_length:
            return length_message
        # PostgreSQL text cannot hold NUL, and lone surrogates cannot be stored as UTF-8.
        if "\x00" in value or (not value.isascii() and not _encodable(value)):
            return MSG_TEXT_CHARACTERS
        return None

    return check


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _range(spec: Field) -> tuple[int, int]:
    assert spec.min_value is not None  # noqa: S101 - every int field declares its range
    assert spec.max_value is not None  # noqa: S101
    return spec.min_value, spec.max_value


def _check_for(spec: Field) -> Check:
    if spec.code == "age_years":
        return _age_check
    if spec.kind == "bool":
        return _bool_check(spec.must_be_true)
    if spec.kind == "int":
        return _int_check(*_range(spec))
    if spec.kind == "single":
        return _single_check(spec.choice_codes)
    if spec.kind == "multi":
        return _multi_check(spec.choice_codes)
    assert spec.max_length is not None  # noqa: S101 - every text field declares one
    return _text_check(spec.max_length)


_KNOWN_FIELDS: Final = frozenset(FIELD_BY_CODE)
_CHECKS: Final[Mapping[str, Check]] = {
    f.code: _check_for(f) for f in (*CORE_FIELDS, *MODULE_FIELDS)
}
_MODULE_CODES: Final = tuple(f.code for f in MODULE_FIELDS)
_CORE_CODES: Final = tuple(f.code for f in CORE_FIELDS)
_NULLABLE: Final = frozenset(f.code for f in CORE_FIELDS if f.nullable)
_LISTS: Final = tuple(f.code for f in CORE_FIELDS if f.kind == "multi")
# Fast-path tables by kind: validation runs for every intake and for bulk triage, so a valid
# answer costs one type test and a comparison or set lookup. Anything else takes the slow path
# (``_field_error``), which finds the message.
_BOOLS: Final = tuple(f.code for f in CORE_FIELDS if f.kind == "bool")
_MUST_BE_TRUE: Final = tuple(f.code for f in CORE_FIELDS if f.must_be_true)
_INTS: Final = tuple((f.code, *_range(f)) for f in CORE_FIELDS if f.kind == "int")
_SINGLES: Final = tuple((f.code, f.choice_codes) for f in CORE_FIELDS if f.kind == "single")
_OTHERS: Final = tuple(f.code for f in CORE_FIELDS if f.kind in {"multi", "text"})
_SYMPTOM_INPUTS: Final = frozenset(DERIVED_READS["no_symptoms"])
_LEG_INPUTS: Final = frozenset(LEG_SYMPTOM_READS)
_ANY_SYMPTOM_FIELDS: Final = tuple(f.code for f in CORE_FIELDS if f.show_when == "any_symptoms")
_LEG_SYMPTOM_FIELDS: Final = tuple(f.code for f in CORE_FIELDS if f.show_when == "leg_symptoms")


def _add(errors: dict[str, list[str]], key: str, message: str) -> None:
    errors.setdefault(key, []).append(message)


def _field_error(data: Mapping[Any, Any], code: str) -> str | None:
    if code not in data:
        return MSG_REQUIRED
    value = data[code]
    if value is None:
        # Nullable fields are required or forbidden depending on other answers (checked later).
        return None if code in _NULLABLE else MSG_REQUIRED
    return _CHECKS[code](value)


def validate_answers(data: object) -> ValidationResult:
    """Check one set of answers against spec §1. Never raises."""
    if not isinstance(data, Mapping):
        return ValidationResult(None, {NON_FIELD_ERRORS: [MSG_NOT_AN_OBJECT]})

    errors: dict[str, list[str]] = {}
    if not _KNOWN_FIELDS.issuperset(data):
        for key in data:
            if type(key) is not str:
                _add(errors, repr(key), MSG_UNKNOWN_FIELD)
            elif key not in _KNOWN_FIELDS:
                _add(errors, key, MSG_UNKNOWN_FIELD)

    suspects: list[str] = []
    get = data.get
    for code in _BOOLS:
        if type(get(code)) is not bool:
            suspects.append(code)
    for code in _MUST_BE_TRUE:
        if get(code) is False:
            suspects.append(code)
    for code, low, high in _INTS:
        value = get(code)
        if type(value) is not int or value < low or value > high:
            suspects.append(code)
    for code, codes in _SINGLES:
        value = get(code)
        if not (type(value) is str and value in codes):
            suspects.append(code)
    suspects.extend(_OTHERS)
    for code in suspects:
        message = _field_error(data, code)
        if message is not None:
            errors[code] = [message]

    under_16 = errors.get("age_years") == [MSG_UNDER_16]
    _check_conditional_fields(data, errors)
    _check_startback(data, errors)

    if errors:
        return ValidationResult(None, _in_form_order(errors), under_16)
    answers = {code: data[code] for code in _CORE_CODES}
    for code in _LISTS:
        answers[code] = list(answers[code])
    for code in _MODULE_CODES:
        if get(code) is not None:
            answers[code] = data[code]
    return ValidationResult(answers, errors, under_16)


def validate_fields(data: Mapping[str, Any], codes: Iterable[str]) -> dict[str, list[str]]:
    """Check only the fields ``codes`` of ``data`` with the rules of :func:`validate_answers`.

    For a form that asks the questions a few at a time: each step checks its own fields, with the
    same messages, and the whole set is checked again on submission. The conditional fields 24-26
    are judged from the answers in ``data`` (the earlier steps), which must already be valid.
    ``age_years`` under 16 is reported as ``MSG_UNDER_16``, the caller's cue for the refusal.
    Codes that are not questions are ignored. Never raises.
    """
    errors: dict[str, list[str]] = {}
    wanted = [code for code in codes if code in _CHECKS]
    for code in wanted:
        message = _field_error(data, code)
        if message is not None:
            errors[code] = [message]
    for code in wanted:
        if code in errors or code not in _NULLABLE:
            continue
        if code in _ANY_SYMPTOM_FIELDS:
            applies, message = not no_symptoms(data), MSG_NOT_APPLICABLE_NO_SYMPTOMS
        else:
            applies, message = leg_symptoms_reported(data), MSG_NOT_APPLICABLE_NO_LEG_SYMPTOMS
        _check_applicability(data, errors, code, applies, message)
    return _in_form_order(errors)


_ORDER: Final = {code: index for index, code in enumerate(FIELD_BY_CODE)}


def _in_form_order(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """Errors in questionnaire order, unknown fields and non-field errors last."""
    return dict(sorted(errors.items(), key=lambda item: _ORDER.get(item[0], len(_ORDER))))


def _check_conditional_fields(data: Mapping[Any, Any], errors: dict[str, list[str]]) -> None:
    """Fields 24-26: required when they apply, and must be null when hidden (§1 D2)."""
    # When an answer they depend on is itself invalid, whether they apply is unknown; the patient
    # fixes that answer first.
    if _SYMPTOM_INPUTS.isdisjoint(errors):
        applies = not no_symptoms(data)
        for code in _ANY_SYMPTOM_FIELDS:
            _check_applicability(data, errors, code, applies, MSG_NOT_APPLICABLE_NO_SYMPTOMS)
    if _LEG_INPUTS.isdisjoint(errors):
        applies = leg_symptoms_reported(data)
        for code in _LEG_SYMPTOM_FIELDS:
            _check_applicability(data, errors, code, applies, MSG_NOT_APPLICABLE_NO_LEG_SYMPTOMS)


def _check_applicability(
    data: Mapping[Any, Any],
    errors: dict[str, list[str]],
    code: str,
    applies: bool,
    not_applicable_message: str,
) -> None:
    if code in errors:
        return
    value = data[code]
    if applies and value is None:
        errors[code] = [MSG_REQUIRED]
    elif not applies and value is not None:
        errors[code] = [not_applicable_message]


def _check_startback(data: Mapping[Any, Any], errors: dict[str, list[str]]) -> None:
    """The optional STarT Back module (§1): both or neither, consistent, spinal pain only."""
    get = data.get
    for code in _MODULE_CODES:
        if get(code) is not None:
            break
    else:
        return  # not given, as in most sets: nothing more is built (bulk triage runs this)
    given = {code: get(code) for code in _MODULE_CODES}
    valid = True
    for code, value in given.items():
        message = MSG_STARTBACK_PAIR if value is None else _CHECKS[code](value)
        if message is not None:
            _add(errors, code, message)
            valid = False
    if valid:
        total, distress = cast(int, given["sbst_total"]), cast(int, given["sbst_distress"])
        if distress > total:
            _add(errors, "sbst_distress", MSG_STARTBACK_DISTRESS)
        # The total covers items 1-9 and the subscale items 5-9: the rest is at most 4 (§1).
        elif total - distress > STARTBACK_PHYSICAL_ITEMS:
            _add(errors, "sbst_total", MSG_STARTBACK_DIFFERENCE)
    # The tool is validated for back pain only (§5).
    if "pain_regions" not in errors and not spinal_pain(data):
        for code in given:
            _add(errors, code, MSG_STARTBACK_SPINAL)
