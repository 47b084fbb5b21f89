"""The worked cases of spec examples.json, and the full V09 result of §8.1."""

from __future__ import annotations

import json
from typing import Any

import pytest

from intake.assessment import assess, assess_input
from tests.answers import EXAMPLE_BY_ID, EXAMPLES


@pytest.mark.parametrize("case", EXAMPLES, ids=[case["id"] for case in EXAMPLES])
def test_worked_case_gives_the_expected_flags_queues_and_urgency(case: dict[str, Any]):
    result = assess_input(case["answers"])
    assert result["valid"], result.get("errors")
    codes = {flag["code"] for flag in result["flags"]}
    expected = case["expected"]
    assert set(expected["flags"]) <= codes
    assert codes.isdisjoint(expected["flags_absent"])
    assert set(result["queues"]) == set(expected["queues"])
    assert result["urgency"] == expected["urgency"]


@pytest.mark.parametrize("case", EXAMPLES, ids=[case["id"] for case in EXAMPLES])
def test_worked_case_flags_are_the_complete_set(case: dict[str, Any]):
    # The spec says expected.flags is the complete set it produces, so nothing extra may fire.
    codes = {flag["code"] for flag in assess(case["answers"])["flags"]}
    assert codes == set(case["expected"]["flags"])


# Spec §8.1, verbatim.
V09_RESULT = """
  {"ruleset_version": "1.0.0",
   "derived": {"bmi": 24.221453287197235, "recent": true, "leg_recent": true, "pain_below_knee": true,
               "no_symptoms": false, "foot_pain": false, "spinal_pain": true, "spinal_or_radiating": true,
               "axial_or_hip": true, "dermatomal_numbness": false, "unsupportive_footwear": false,
               "footwear_score": 0, "desk_risk": false, "lifestyle_count": 0, "minor_rf_count": 0,
               "startback_risk": null},
   "flags": [
     {"code": "BACK_PAIN", "explanation": "The patient reported pain in the back or buttock.",
      "clauses": ["BACK_PAIN"],
      "answers": {"pain_regions": ["lower_back", "buttock", "back_of_thigh", "lower_leg"]}},
     {"code": "RED_FLAG_CAUDA_EQUINA",
      "explanation": "Some of the patient's answers about bladder, bowel, saddle-area or both-leg symptoms need to be checked by a doctor straight away.",
      "clauses": ["RED_FLAG_CAUDA_EQUINA.a", "RED_FLAG_CAUDA_EQUINA.b"],
      "answers": {"bladder_bowel_change": true, "saddle_numbness": true, "pain_below_knee_side": "left",
                  "leg_symptoms_duration": "weeks_2_to_6", "weakness_worsening": false, "heel_walk": "easy",
                  "toe_walk": "easy", "pain_regions": ["lower_back", "buttock", "back_of_thigh", "lower_leg"],
                  "leg_neuro_side": "left"}},
     {"code": "SCIATIC_PATTERN",
      "explanation": "The patient's answers describe leg pain or nerve-type symptoms spreading down from the back, which can come from an irritated nerve root in the lower back.",
      "clauses": ["SCIATIC_PATTERN"],
      "answers": {"pain_below_knee_side": "left", "leg_pain_worse_than_back": true, "tingling": true,
                  "numbness_areas": []}}],
   "queues": ["urgent_medical_review"],
   "urgency": "emergency",
   "suggested_after_clearance": ["chiropractic"]}
"""  # noqa: E501


def test_v09_result_matches_the_spec_contract_exactly():
    expected = json.loads(V09_RESULT)
    result = assess(EXAMPLE_BY_ID["V09_cauda_equina_saddle_and_bladder"]["answers"])
    assert result == expected
    # Same keys in the same order at every level, so the serialised record is byte-identical.
    assert json.dumps(result) == json.dumps(expected)


def test_v09_evidence_key_sets_match_the_spec():
    expected = json.loads(V09_RESULT)
    result = assess(EXAMPLE_BY_ID["V09_cauda_equina_saddle_and_bladder"]["answers"])
    for got, want in zip(result["flags"], expected["flags"], strict=True):
        assert list(got["answers"]) == list(want["answers"])
