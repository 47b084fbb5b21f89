"""Validation of answers against spec §1 "Validation summary"."""

from __future__ import annotations

from typing import Any

import pytest

from intake.questionnaire import CORE_FIELDS, FIELD_BY_CODE
from intake.validation import (
    MSG_BOOL,
    MSG_MUST_AGREE,
    MSG_REQUIRED,
    MSG_UNDER_16,
    MSG_UNKNOWN_FIELD,
    NON_FIELD_ERRORS,
    ValidationResult,
    validate_answers,
    validate_fields,
)
from tests.answers import EXAMPLES, make_answers


def errors_for(**overrides: Any) -> dict[str, list[str]]:
    answers = make_answers()
    answers.update(overrides)
    result = validate_answers(answers)
    assert not result.valid
    return result.errors


def test_quiet_answers_are_valid_and_returned_in_form_order():
    result = validate_answers(make_answers())
    assert result.valid
    assert result.errors == {}
    assert list(result.answers or {}) == [field.code for field in CORE_FIELDS]


@pytest.mark.parametrize("case", EXAMPLES, ids=[case["id"] for case in EXAMPLES])
def test_every_worked_case_is_valid(case: dict[str, Any]):
    assert validate_answers(case["answers"]).valid


@pytest.mark.parametrize("code", [field.code for field in CORE_FIELDS])
def test_every_question_must_be_present(code: str):
    answers = make_answers()
    del answers[code]
    assert validate_answers(answers).errors == {code: [MSG_REQUIRED]}


@pytest.mark.parametrize("value", [None, 0, 1, "yes", "true", "false", [], 0.0])
def test_a_yes_no_answer_must_be_a_real_boolean(value: object):
    assert errors_for(has_diabetes=value) == {
        "has_diabetes": [MSG_REQUIRED if value is None else MSG_BOOL]
    }


def test_null_is_never_taken_as_no_for_a_red_flag_question():
    assert errors_for(saddle_numbness=None) == {"saddle_numbness": [MSG_REQUIRED]}


@pytest.mark.parametrize("value", [True, False, 170.0, "170", None, [170]])
def test_a_number_must_be_a_whole_number_not_a_boolean_float_or_string(value: object):
    assert set(errors_for(height_cm=value)) == {"height_cm"}


@pytest.mark.parametrize(
    ("code", "low", "high"),
    [(f.code, f.min_value, f.max_value) for f in CORE_FIELDS if f.kind == "int"],
)
def test_numbers_are_accepted_at_their_limits_and_refused_just_outside(
    code: str, low: int, high: int
):
    for value in (low, high):
        answers = make_answers()
        answers[code] = value
        assert validate_answers(answers).valid, (code, value)
    for value in (low - 1, high + 1):
        answers = make_answers()
        answers[code] = value
        assert code in validate_answers(answers).errors, (code, value)


def test_under_16_is_refused_with_the_refusal_flag():
    result = validate_answers({**make_answers(), "age_years": 15})
    assert not result.valid
    assert result.under_16
    assert result.errors == {"age_years": [MSG_UNDER_16]}


def test_age_16_is_accepted():
    result = validate_answers(make_answers(age_years=16))
    assert result.valid
    assert not result.under_16


def test_age_over_110_is_an_error_but_not_a_refusal():
    result = validate_answers({**make_answers(), "age_years": 111})
    assert "age_years" in result.errors
    assert not result.under_16


@pytest.mark.parametrize("value", ["sometimes", "", "NONE", 1, None, ["left"]])
def test_a_single_choice_must_be_one_of_its_codes(value: object):
    assert set(errors_for(leg_symptoms_side=value)) >= {"leg_symptoms_side"}


def test_display_labels_are_not_accepted_as_codes():
    assert set(errors_for(arch_type="Flat or low arches (most of the sole touches the floor)")) == {
        "arch_type"
    }


@pytest.mark.parametrize(
    "value", ["heel", ("heel",), ["Heel"], ["heel", 3], [["heel"]], None, {"heel": True}]
)
def test_a_multi_choice_must_be_a_list_of_codes(value: object):
    assert "pain_regions" in errors_for(pain_regions=value, symptom_duration=None)


def test_a_multi_choice_must_not_repeat_a_code():
    errors = errors_for(footwear_types=["high_heels", "high_heels"])
    assert errors == {"footwear_types": ["Please tick each option only once."]}


def test_an_empty_multi_choice_means_none_of_these():
    assert validate_answers(make_answers(footwear_types=[])).valid


def test_main_concern_may_be_empty_or_1000_characters():
    assert validate_answers(make_answers(main_concern="")).valid
    assert validate_answers(make_answers(main_concern="x" * 1000)).valid


def test_main_concern_over_1000_characters_is_refused():
    assert set(errors_for(main_concern="x" * 1001)) == {"main_concern"}


@pytest.mark.parametrize("value", [None, 5, ["text"]])
def test_main_concern_must_be_text(value: object):
    assert set(errors_for(main_concern=value)) == {"main_concern"}


@pytest.mark.parametrize("value", ["back\x00pain", "back \ud800 pain"])
def test_main_concern_refuses_characters_that_cannot_be_stored(value: str):
    assert set(errors_for(main_concern=value)) == {"main_concern"}


def test_main_concern_accepts_ordinary_unicode():
    assert validate_answers(make_answers(main_concern="Douleur au pied, 38°C 🦶 ça va")).valid


@pytest.mark.parametrize("code", ["consent_data_processing", "acknowledged_not_emergency"])
def test_consent_must_be_given(code: str):
    assert errors_for(**{code: False}) == {code: [MSG_MUST_AGREE]}


def test_unknown_fields_are_refused_under_their_own_name():
    errors = errors_for(date_of_birth="1990-01-01", pain_score=3)
    assert errors == {"date_of_birth": [MSG_UNKNOWN_FIELD], "pain_score": [MSG_UNKNOWN_FIELD]}


def test_a_non_string_key_is_reported_as_unknown():
    answers: dict[Any, Any] = {**make_answers(), 7: True}
    assert validate_answers(answers).errors == {"7": [MSG_UNKNOWN_FIELD]}


@pytest.mark.parametrize("data", [None, [], "answers", 42, 3.5, True, [make_answers()]])
def test_input_that_is_not_an_object_is_a_non_field_error(data: object):
    result = validate_answers(data)
    assert not result.valid
    assert list(result.errors) == [NON_FIELD_ERRORS]


def test_errors_are_reported_in_form_order_with_unknown_fields_last():
    answers = make_answers()
    answers.update(zzz=1, acknowledged_not_emergency=False, height_cm=0)
    assert list(validate_answers(answers).errors) == [
        "height_cm",
        "acknowledged_not_emergency",
        "zzz",
    ]


# --- Conditional fields 24-26 -----------------------------------------------------------------


def test_timing_questions_must_be_null_when_no_symptoms():
    errors = errors_for(symptom_duration="under_2_weeks", onset_type="gradual")
    assert set(errors) == {"symptom_duration", "onset_type"}


def test_timing_questions_are_required_when_any_symptom_is_reported():
    answers = make_answers(pain_regions=["knee"])
    answers.update(symptom_duration=None, onset_type=None)
    assert validate_answers(answers).errors == {
        "symptom_duration": [MSG_REQUIRED],
        "onset_type": [MSG_REQUIRED],
    }


def test_a_failed_walk_test_alone_is_a_symptom_that_needs_timing():
    answers = make_answers(toe_walk="hard_one_side")
    answers.update(symptom_duration=None, onset_type=None)
    assert set(validate_answers(answers).errors) == {"symptom_duration", "onset_type"}


def test_timing_questions_must_still_be_sent_when_they_do_not_apply():
    answers = make_answers()
    del answers["onset_type"]
    assert validate_answers(answers).errors == {"onset_type": [MSG_REQUIRED]}


@pytest.mark.parametrize(
    "legs",
    [
        {"leg_symptoms_side": "left"},
        {"pain_below_knee_side": "both", "pain_regions": ["lower_back"]},
        {"leg_neuro_side": "right", "tingling": True},
    ],
    ids=["leg ticked", "radiating pain", "numb leg"],
)
def test_leg_duration_is_required_when_leg_symptoms_are_reported(legs: dict[str, Any]):
    answers = make_answers(**legs)
    answers["leg_symptoms_duration"] = None
    assert validate_answers(answers).errors == {"leg_symptoms_duration": [MSG_REQUIRED]}


def test_leg_duration_must_be_null_without_leg_symptoms():
    errors = errors_for(
        pain_regions=["heel"],
        symptom_duration="weeks_2_to_6",
        onset_type="gradual",
        leg_symptoms_duration="weeks_2_to_6",
    )
    assert set(errors) == {"leg_symptoms_duration"}


def test_conditional_checks_wait_until_the_answers_they_depend_on_are_valid():
    # With pain_regions unreadable nobody can tell whether timing applies: one error, not three.
    errors = errors_for(pain_regions="back", symptom_duration="weeks_2_to_6")
    assert set(errors) == {"pain_regions"}


def test_contradictions_are_accepted_not_refused():
    answers = make_answers(
        pain_regions=["lower_back"],
        pain_below_knee_side="left",
        leg_pain_worse_than_back=True,
        pain_now_nrs=9,
        pain_worst_7d_nrs=2,
        weakness_worsening=True,
    )
    assert validate_answers(answers).valid


# --- STarT Back module --------------------------------------------------------------------------


def with_back_pain(**overrides: Any) -> dict[str, Any]:
    answers = make_answers(pain_regions=["lower_back"])
    answers.update(overrides)
    return answers


def test_startback_scores_with_back_pain_are_accepted():
    result = validate_answers(with_back_pain(sbst_total=6, sbst_distress=4))
    assert result.valid
    assert result.answers is not None
    assert (result.answers["sbst_total"], result.answers["sbst_distress"]) == (6, 4)


def test_startback_given_as_two_nulls_is_the_same_as_absent():
    result = validate_answers(with_back_pain(sbst_total=None, sbst_distress=None))
    assert result.valid
    assert "sbst_total" not in (result.answers or {})


@pytest.mark.parametrize(
    "scores", [{"sbst_total": 5}, {"sbst_distress": 2}, {"sbst_total": 5, "sbst_distress": None}]
)
def test_startback_needs_both_scores_or_neither(scores: dict[str, Any]):
    result = validate_answers(with_back_pain(**scores))
    assert not result.valid
    missing = {"sbst_total", "sbst_distress"} - {k for k, v in scores.items() if v is not None}
    assert set(result.errors) == missing


def test_startback_distress_cannot_exceed_total():
    assert validate_answers(with_back_pain(sbst_total=4, sbst_distress=4)).valid
    result = validate_answers(with_back_pain(sbst_total=3, sbst_distress=4))
    assert set(result.errors) == {"sbst_distress"}


def test_startback_total_can_be_at_most_4_above_distress():
    assert validate_answers(with_back_pain(sbst_total=5, sbst_distress=1)).valid
    result = validate_answers(with_back_pain(sbst_total=6, sbst_distress=1))
    assert set(result.errors) == {"sbst_total"}


@pytest.mark.parametrize(
    ("total", "distress"), [(10, 5), (-1, 0), (4, 6), (4, -1), (True, 1), (4.0, 1), ("4", 1)]
)
def test_startback_scores_must_be_whole_numbers_in_range(total: object, distress: object):
    assert not validate_answers(with_back_pain(sbst_total=total, sbst_distress=distress)).valid


def test_startback_is_refused_without_spinal_pain():
    answers = make_answers(pain_regions=["heel"])
    answers.update(sbst_total=4, sbst_distress=4)
    assert set(validate_answers(answers).errors) == {"sbst_total", "sbst_distress"}


# --- Result object ------------------------------------------------------------------------------


def test_valid_answers_are_copied_not_shared():
    answers = make_answers(pain_regions=["heel"])
    result = validate_answers(answers)
    answers["pain_regions"].append("toes")
    assert (result.answers or {})["pain_regions"] == ["heel"]


def test_result_is_frozen():
    result = validate_answers(make_answers())
    with pytest.raises(AttributeError):
        result.under_16 = True  # type: ignore[misc]
    assert isinstance(result, ValidationResult)


def test_messages_are_plain_english_sentences():
    answers = dict.fromkeys(FIELD_BY_CODE, "?")
    for messages in validate_answers(answers).errors.values():
        for message in messages:
            assert message[0].isupper()
            assert message.endswith(".")
            assert "_" not in message


# --- validate_fields: one step of the form at a time ------------------------------------------


def test_validate_fields_checks_only_the_codes_asked_for():
    assert validate_fields({"pain_now_nrs": 11, "has_diabetes": None}, ["pain_now_nrs"]) == {
        "pain_now_nrs": ["Please enter a number from 0 to 10."]
    }
    assert validate_fields({}, ["has_diabetes", "tingling"]) == {
        "has_diabetes": [MSG_REQUIRED],
        "tingling": [MSG_REQUIRED],
    }


def test_validate_fields_gives_the_same_messages_as_the_whole_validation():
    answers = make_answers()
    answers.update(pain_now_nrs=-1, main_concern="a\x00b", pain_regions=["heel", "heel"])
    whole = validate_answers(answers).errors
    codes = ["pain_now_nrs", "main_concern", "pain_regions"]
    assert validate_fields(answers, codes) == {code: whole[code] for code in codes}


def test_validate_fields_reports_under_16_for_the_refusal():
    assert validate_fields({"age_years": 15}, ["age_years"]) == {"age_years": [MSG_UNDER_16]}
    assert validate_fields({"age_years": 16}, ["age_years"]) == {}


def test_validate_fields_judges_the_timing_questions_from_the_earlier_answers():
    quiet = make_answers()
    assert validate_fields({**quiet, "symptom_duration": None}, ["symptom_duration"]) == {}
    assert "symptom_duration" in validate_fields(
        {**quiet, "symptom_duration": "under_2_weeks"}, ["symptom_duration"]
    )
    heel = {**quiet, "pain_regions": ["heel"], "symptom_duration": None}
    assert validate_fields(heel, ["symptom_duration"]) == {"symptom_duration": [MSG_REQUIRED]}


def test_validate_fields_ignores_codes_that_are_not_questions():
    assert validate_fields({"website": "x"}, ["website", "given_name"]) == {}
