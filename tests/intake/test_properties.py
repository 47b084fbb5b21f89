"""Property-based tests over random valid answers and arbitrary input."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from typing import Any, cast

from hypothesis import given
from hypothesis import strategies as st

from intake.assessment import assess, assess_input
from intake.questionnaire import FIELD_BY_CODE
from intake.sampling import random_answers
from intake.triage import DERIVED_KEYS, DERIVED_READS, RED_FLAG_URGENCY, RULES, derive
from intake.validation import validate_answers

valid_answers = st.randoms(use_true_random=False).map(random_answers)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=20,
)
field_codes = st.sampled_from(sorted(FIELD_BY_CODE))


@given(valid_answers)
def test_generated_answers_are_always_valid(answers: dict[str, Any]):
    result = validate_answers(answers)
    assert result.valid, result.errors


@given(valid_answers)
def test_a_red_flag_always_routes_to_urgent_medical_review_alone(answers: dict[str, Any]):
    result = assess(answers)
    if any(flag["code"] in RED_FLAG_URGENCY for flag in result["flags"]):
        assert result["queues"] == ["urgent_medical_review"]
    else:
        assert "urgent_medical_review" not in result["queues"]


@given(valid_answers)
def test_urgency_follows_the_most_severe_red_flag(answers: dict[str, Any]):
    result = assess(answers)
    urgencies = {RED_FLAG_URGENCY.get(flag["code"]) for flag in result["flags"]}
    if "emergency" in urgencies:
        assert result["urgency"] == "emergency"
    elif "urgent" in urgencies:
        assert result["urgency"] == "urgent"
    else:
        assert result["urgency"] == "routine"


@given(valid_answers)
def test_the_queue_set_is_never_empty(answers: dict[str, Any]):
    result = assess(answers)
    assert result["queues"]
    assert result["queues"] == sorted(set(result["queues"]))


@given(valid_answers)
def test_suggestions_after_clearance_exist_exactly_when_a_red_flag_fired(answers: dict[str, Any]):
    result = assess(answers)
    red = any(flag["code"] in RED_FLAG_URGENCY for flag in result["flags"])
    assert bool(result["suggested_after_clearance"]) == red
    assert "urgent_medical_review" not in result["suggested_after_clearance"]


@given(valid_answers)
def test_same_answers_give_the_same_result(answers: dict[str, Any]):
    first = assess(answers)
    second = assess(copy.deepcopy(answers))
    assert json.dumps(first) == json.dumps(second)


@given(valid_answers)
def test_triage_does_not_change_the_answers(answers: dict[str, Any]):
    before = copy.deepcopy(answers)
    assess(answers)
    assert answers == before


@given(valid_answers)
def test_result_has_the_contract_shape(answers: dict[str, Any]):
    result = assess(answers)
    assert list(result) == [
        "ruleset_version",
        "derived",
        "flags",
        "queues",
        "urgency",
        "suggested_after_clearance",
    ]
    assert tuple(result["derived"]) == DERIVED_KEYS
    codes = [flag["code"] for flag in result["flags"]]
    assert codes == sorted(codes)
    for flag in result["flags"]:
        assert flag["clauses"] == sorted(flag["clauses"])
        assert flag["clauses"]
    json.dumps(result, allow_nan=False)


class Recorder(Mapping[str, Any]):
    """A read-only view of the answers that remembers which keys a rule looked at."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.seen: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.seen.add(key)
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


@given(valid_answers)
def test_a_flag_records_every_answer_its_rule_read(answers: dict[str, Any]):
    # The why-flagged record is only trustworthy if no rule reads an answer it does not list.
    derived = derive(answers)
    for rule in RULES:
        raw, via = Recorder(answers), Recorder(derived)
        for clause in rule.clauses:
            # Rules only index the derived values, so a recording Mapping stands in for the dict.
            clause.test(raw, cast(dict[str, Any], via))
        read = raw.seen | {field for name in via.seen for field in DERIVED_READS[name]}
        assert read <= set(rule.reads), rule.code


@given(json_values)
def test_arbitrary_input_gives_errors_never_an_exception(data: Any):
    result = validate_answers(data)
    assert not result.valid
    assert result.errors
    assert assess_input(data)["valid"] is False


@given(st.dictionaries(st.text(max_size=30) | field_codes, json_values, max_size=60))
def test_arbitrary_objects_give_errors_never_an_exception(data: dict[str, Any]):
    result = validate_answers(data)
    assert result.valid is not bool(result.errors)


@given(valid_answers, field_codes, json_values)
def test_one_corrupted_answer_never_raises_and_is_either_valid_or_reported(
    answers: dict[str, Any], code: str, value: Any
):
    answers[code] = value
    result = validate_answers(answers)
    if result.valid:
        assess(result.answers or {})
    else:
        assert result.errors


@given(valid_answers, field_codes)
def test_a_missing_answer_is_always_reported_under_its_own_name(answers: dict[str, Any], code: str):
    answers.pop(code, None)
    field = FIELD_BY_CODE[code]
    result = validate_answers(answers)
    if field.module is None:
        assert code in result.errors
