"""Answer sets for tests: a quiet baseline plus the overrides a test is about."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from intake.assessment import assess
from intake.triage import evaluate, leg_symptoms_reported, no_symptoms
from intake.validation import validate_answers

EXAMPLES_PATH = Path(__file__).parent / "data" / "examples.json"
EXAMPLES: list[dict[str, Any]] = json.loads(EXAMPLES_PATH.read_text(encoding="utf-8"))
EXAMPLE_BY_ID = {case["id"]: case for case in EXAMPLES}

# V24 ("nothing significant"): no symptoms, no risk factors, no flags.
QUIET: dict[str, Any] = EXAMPLE_BY_ID["V24_nothing_significant"]["answers"]


def make_answers(**overrides: Any) -> dict[str, Any]:
    """A valid answer set: the quiet baseline with ``overrides`` applied.

    Fields 24-26 follow the other answers unless a test sets them: null when they do not apply,
    otherwise a long-standing (not recent) gradual onset, so that a time window only matters
    when the test says so.
    """
    answers = copy.deepcopy(QUIET)
    answers["main_concern"] = ""
    answers.update(overrides)
    symptoms = not no_symptoms(answers)
    defaults = {
        "symptom_duration": "over_12_weeks" if symptoms else None,
        "onset_type": "gradual" if symptoms else None,
        "leg_symptoms_duration": "over_12_weeks" if leg_symptoms_reported(answers) else None,
    }
    for code, value in defaults.items():
        if code not in overrides:
            answers[code] = value
    result = validate_answers(answers)
    assert result.valid, f"test answers must be valid: {result.errors}"
    return answers


def flag_codes(**overrides: Any) -> set[str]:
    return {flag["code"] for flag in evaluate(make_answers(**overrides))[1]}


def clauses(code: str, **overrides: Any) -> list[str]:
    """The clauses of ``code`` that matched, or [] when the flag did not fire."""
    for flag in evaluate(make_answers(**overrides))[1]:
        if flag["code"] == code:
            return list(flag["clauses"])
    return []


def assess_answers(**overrides: Any) -> dict[str, Any]:
    return assess(make_answers(**overrides))


# What makes each conditional question apply, as the schema tells an integrator: one answer
# each, on a case with no symptom at all.
SYMPTOMS_REPORTED = [
    ("pain_regions", ["heel"]),
    ("numbness_areas", ["other_area"]),
    ("leg_symptoms_side", "left"),
    ("pain_below_knee_side", "right"),
    ("leg_neuro_side", "both"),
    ("tingling", True),
    ("leg_weak_or_heavy", True),
    ("foot_drop", True),
    ("weakness_worsening", True),
    ("heel_walk", "hard_one_side"),
    ("toe_walk", "hard_both_sides"),
]
LEG_SYMPTOMS = ("leg_symptoms_side", "pain_below_knee_side", "leg_neuro_side")
