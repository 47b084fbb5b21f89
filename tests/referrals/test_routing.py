"""Routing rules R0-R6 of spec §4.1 and the combinations of §4.5."""

from __future__ import annotations

from typing import Any

import pytest

from intake.triage import FLAG_CODES, RED_FLAG_URGENCY
from referrals.routing import QUEUES, URGENCIES, Routing, route
from tests.answers import assess_answers

NO_ROUTING_FACTS: dict[str, Any] = {
    "has_diabetes": False,
    "smoking_status": "never",
    "foot_drop": False,
    "heel_walk": "easy",
    "toe_walk": "easy",
}


def facts(**overrides: Any) -> dict[str, Any]:
    return {**NO_ROUTING_FACTS, **overrides}


def queues(flags: set[str], **overrides: Any) -> set[str]:
    return set(route(flags, facts(**overrides)).queues)


# --- R0 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("red_flag", sorted(RED_FLAG_URGENCY))
def test_any_red_flag_routes_to_urgent_medical_review_alone(red_flag: str):
    routing = route({red_flag, "BACK_PAIN", "SCIATIC_PATTERN"}, facts())
    assert routing.queues == ("urgent_medical_review",)
    assert routing.urgency == RED_FLAG_URGENCY[red_flag]


def test_emergency_outranks_urgent_when_both_fire():
    routing = route({"RED_FLAG_DIABETIC_FOOT", "RED_FLAG_LIMB_ISCHAEMIA"}, facts())
    assert routing.urgency == "emergency"


def test_red_flag_case_suggests_the_queues_r1_to_r6_would_give():
    routing = route(
        {"RED_FLAG_SERIOUS_PATHOLOGY", "BACK_PAIN", "FOOT_PAIN", "FOOTWEAR_RELATED"}, facts()
    )
    assert routing.suggested_after_clearance == ("chiropractic", "orthotic_fitting")


def test_red_flag_alone_suggests_general_review_after_clearance():
    # R6 applies to the suggestion too: the reviewer is never left with nowhere to send the case.
    routing = route({"RED_FLAG_LIMB_ISCHAEMIA"}, facts())
    assert routing.suggested_after_clearance == ("general_review",)


def test_case_without_red_flag_has_no_suggestions_and_routine_urgency():
    routing = route({"BACK_PAIN"}, facts())
    assert routing == Routing(("chiropractic",), "routine", ())


# --- R1-R6 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag",
    [
        "BACK_PAIN",
        "SCIATIC_PATTERN",
        "L5_RADICULOPATHY_SIGNS",
        "S1_RADICULOPATHY_SIGNS",
        "NEUROGENIC_CLAUDICATION",
    ],
)
def test_r1_back_pain_or_a_neural_flag_goes_to_chiropractic(flag: str):
    assert "chiropractic" in queues({flag})


@pytest.mark.parametrize(
    "flag",
    [
        "PLANTAR_HEEL_PAIN",
        "METATARSALGIA_PATTERN",
        "GAIT_COMPENSATION",
        "DIABETIC_FOOT_RISK",
        "FOOT_WOUND_NON_DIABETIC",
    ],
)
def test_r2_foot_pattern_flags_go_to_podiatry(flag: str):
    assert "podiatry" in queues({flag})


def test_r3_unexplained_foot_pain_goes_to_podiatry():
    assert queues({"FOOT_PAIN"}) == {"podiatry"}


@pytest.mark.parametrize("explanation", ["SCIATIC_PATTERN", "NEUROGENIC_CLAUDICATION"])
def test_r3_foot_pain_explained_by_a_neural_flag_is_not_sent_to_podiatry(explanation: str):
    assert queues({"FOOT_PAIN", explanation}) == {"chiropractic"}


@pytest.mark.parametrize("explanation", ["FOOTWEAR_RELATED", "FOOT_STRUCTURE"])
def test_r4_foot_pain_with_footwear_or_structure_goes_to_orthotic_fitting(explanation: str):
    assert queues({"FOOT_PAIN", explanation}) == {"orthotic_fitting"}


def test_r4_never_fits_orthotics_for_back_pain_alone():
    assert queues({"BACK_PAIN", "FOOT_STRUCTURE", "FOOTWEAR_RELATED"}) == {"chiropractic"}


def test_r4_people_with_diabetes_see_podiatry_first():
    flags = {"FOOT_PAIN", "FOOTWEAR_RELATED", "DIABETIC_FOOT_RISK"}
    assert queues(flags, has_diabetes=True) == {"podiatry"}


@pytest.mark.parametrize(
    "flag",
    ["INCONSISTENT_ANSWERS", "PERIPHERAL_NEUROPATHY_PATTERN", "INFLAMMATORY_BACK_PAIN_PATTERN"],
)
def test_r5_flags_needing_oversight_add_general_review(flag: str):
    assert "general_review" in queues({flag, "BACK_PAIN"})


@pytest.mark.parametrize(
    "motor",
    [
        {"foot_drop": True},
        {"heel_walk": "hard_one_side"},
        {"heel_walk": "hard_both_sides"},
        {"toe_walk": "hard_one_side"},
        {"toe_walk": "hard_both_sides"},
    ],
    ids=lambda motor: "-".join(f"{k}={v}" for k, v in motor.items()),
)
def test_r5_an_established_motor_deficit_adds_general_review(motor: dict[str, Any]):
    assert queues({"BACK_PAIN"}, **motor) == {"chiropractic", "general_review"}


def test_r5_walk_test_not_tried_is_not_a_deficit():
    assert queues({"BACK_PAIN"}, heel_walk="not_tried", toe_walk="not_tried") == {"chiropractic"}


@pytest.mark.parametrize("risk", [{"has_diabetes": True}, {"smoking_status": "current"}])
def test_r5_claudication_with_vascular_risk_adds_general_review(risk: dict[str, Any]):
    assert queues({"NEUROGENIC_CLAUDICATION", "BACK_PAIN"}, **risk) == {
        "chiropractic",
        "general_review",
    }


def test_r5_claudication_in_a_former_smoker_without_diabetes_needs_no_review():
    flags = {"NEUROGENIC_CLAUDICATION", "BACK_PAIN"}
    assert queues(flags, smoking_status="former") == {"chiropractic"}


def test_r5_vascular_risk_without_claudication_adds_nothing():
    assert queues({"BACK_PAIN"}, smoking_status="current", has_diabetes=True) == {"chiropractic"}


def test_r6_no_flags_goes_to_general_review():
    assert queues(set()) == {"general_review"}


@pytest.mark.parametrize("flag", ["LIFESTYLE_RISK", "STARTBACK_HIGH_RISK"])
def test_note_only_flags_never_change_queues(flag: str):
    assert queues({flag}) == {"general_review"}
    assert queues({flag, "BACK_PAIN"}) == {"chiropractic"}


def test_unknown_flag_code_is_refused():
    with pytest.raises(ValueError, match="BACKPAIN"):
        route({"BACKPAIN"}, facts())


def test_queues_and_suggestions_are_sorted_tuples():
    routing = route({"BACK_PAIN", "FOOT_PAIN", "PLANTAR_HEEL_PAIN", "FOOTWEAR_RELATED"}, facts())
    assert routing.queues == ("chiropractic", "orthotic_fitting", "podiatry")


def test_codes_are_the_spec_vocabulary():
    assert set(QUEUES) == {
        "chiropractic",
        "podiatry",
        "orthotic_fitting",
        "urgent_medical_review",
        "general_review",
    }
    assert URGENCIES == ("routine", "urgent", "emergency")
    assert set(RED_FLAG_URGENCY.values()) <= set(URGENCIES)
    assert set(RED_FLAG_URGENCY) <= FLAG_CODES


# --- §4.5 example combinations, from flags ----------------------------------------------------

TABLE_4_5 = [
    ("sciatica", {"SCIATIC_PATTERN", "BACK_PAIN"}, {}, {"chiropractic"}),
    (
        "plantar heel pain with footwear",
        {"PLANTAR_HEEL_PAIN", "FOOTWEAR_RELATED", "FOOT_PAIN"},
        {},
        {"podiatry", "orthotic_fitting"},
    ),
    ("plantar heel pain only", {"PLANTAR_HEEL_PAIN", "FOOT_PAIN"}, {}, {"podiatry"}),
    (
        "foot structure with back and foot pain",
        {"FOOT_STRUCTURE", "BACK_PAIN", "FOOT_PAIN"},
        {},
        {"chiropractic", "orthotic_fitting"},
    ),
    ("foot structure with back pain only", {"FOOT_STRUCTURE", "BACK_PAIN"}, {}, {"chiropractic"}),
    (
        "gait compensation with back pain",
        {"GAIT_COMPENSATION", "BACK_PAIN", "FOOT_PAIN"},
        {},
        {"chiropractic", "podiatry"},
    ),
    (
        "diabetic foot risk with structure and footwear",
        {"DIABETIC_FOOT_RISK", "FOOT_STRUCTURE", "FOOTWEAR_RELATED", "FOOT_PAIN"},
        {"has_diabetes": True},
        {"podiatry"},
    ),
    (
        "sciatica with metatarsalgia and footwear",
        {"SCIATIC_PATTERN", "METATARSALGIA_PATTERN", "FOOTWEAR_RELATED", "FOOT_PAIN", "BACK_PAIN"},
        {},
        {"chiropractic", "podiatry", "orthotic_fitting"},
    ),
    ("unexplained foot pain", {"FOOT_PAIN"}, {}, {"podiatry"}),
    ("foot pain with footwear", {"FOOT_PAIN", "FOOTWEAR_RELATED"}, {}, {"orthotic_fitting"}),
    (
        "claudication in a smoker",
        {"NEUROGENIC_CLAUDICATION", "BACK_PAIN"},
        {"smoking_status": "current"},
        {"chiropractic", "general_review"},
    ),
    (
        "stable foot drop with back pain",
        {"L5_RADICULOPATHY_SIGNS", "BACK_PAIN"},
        {"foot_drop": True},
        {"chiropractic", "general_review"},
    ),
    (
        "stable failed heel walk",
        {"L5_RADICULOPATHY_SIGNS", "BACK_PAIN", "SCIATIC_PATTERN"},
        {"heel_walk": "hard_one_side"},
        {"chiropractic", "general_review"},
    ),
    (
        "inflammatory back pain",
        {"INFLAMMATORY_BACK_PAIN_PATTERN", "BACK_PAIN"},
        {},
        {"chiropractic", "general_review"},
    ),
    (
        "forefoot pain with a failed toe walk on both sides",
        {"FOOT_PAIN"},
        {"toe_walk": "hard_both_sides"},
        {"podiatry", "general_review"},
    ),
    (
        "contradictory sciatica",
        {"INCONSISTENT_ANSWERS", "SCIATIC_PATTERN"},
        {},
        {"chiropractic", "general_review"},
    ),
    ("no flags", set(), {}, {"general_review"}),
]


@pytest.mark.parametrize(
    ("flags", "overrides", "expected"),
    [pytest.param(f, o, e, id=name) for name, f, o, e in TABLE_4_5],
)
def test_section_4_5_combination_routes_as_the_table_says(
    flags: set[str], overrides: dict[str, Any], expected: set[str]
):
    routing = route(flags, facts(**overrides))
    assert set(routing.queues) == expected
    assert routing.urgency == "routine"


# --- §4.5 rows without a worked case, end to end from answers ---------------------------------

END_TO_END = [
    (
        "a runner in cushioned shoes with first-step heel pain",
        {
            "pain_regions": ["heel"],
            "first_steps_heel_pain": True,
            "footwear_types": ["cushioned_supportive"],
            "standing_hours_per_day": 3,
        },
        {"FOOT_PAIN", "PLANTAR_HEEL_PAIN"},
        {"podiatry"},
    ),
    (
        "top-of-foot pain in worn, otherwise cushioned trainers",
        {"pain_regions": ["top_of_foot"], "shoes_worn_or_ill_fitting": True},
        {"FOOT_PAIN"},
        {"podiatry"},
    ),
    (
        "the same top-of-foot pain, also changing with the shoes worn",
        {
            "pain_regions": ["top_of_foot"],
            "shoes_worn_or_ill_fitting": True,
            "pain_varies_with_shoes": True,
        },
        {"FOOT_PAIN", "FOOTWEAR_RELATED"},
        {"orthotic_fitting"},
    ),
    (
        "years of stable bilateral stenosis symptoms in a smoker",
        {
            "age_years": 68,
            "pain_regions": ["lower_back", "buttock", "back_of_thigh"],
            "leg_symptoms_side": "both",
            "walking_leg_symptoms_relieved_sitting": True,
            "smoking_status": "current",
            "exercise_days_per_week": 3,
        },
        {"BACK_PAIN", "NEUROGENIC_CLAUDICATION"},
        {"chiropractic", "general_review"},
    ),
    (
        "a long-standing stable foot drop with back pain",
        {
            "pain_regions": ["lower_back", "lower_leg"],
            "leg_symptoms_side": "left",
            "pain_below_knee_side": "left",
            "foot_drop": True,
            "leg_weak_or_heavy": True,
            "leg_neuro_side": "left",
        },
        {"BACK_PAIN", "L5_RADICULOPATHY_SIGNS"},
        {"chiropractic", "general_review"},
    ),
    (
        "six months of unchanged leg pain, one heel will not stay up",
        {
            "pain_regions": ["lower_back", "lower_leg"],
            "leg_symptoms_side": "right",
            "pain_below_knee_side": "right",
            "heel_walk": "hard_one_side",
        },
        {"BACK_PAIN", "L5_RADICULOPATHY_SIGNS"},
        {"chiropractic", "general_review"},
    ),
    (
        "a 32-year-old with two years of morning-stiff back pain",
        {
            "age_years": 32,
            "pain_regions": ["lower_back"],
            "morning_stiffness_eases_with_movement": True,
        },
        {"BACK_PAIN", "INFLAMMATORY_BACK_PAIN_PATTERN"},
        {"chiropractic", "general_review"},
    ),
    (
        "forefoot pain that stops the patient rising onto the toes",
        {"pain_regions": ["ball_of_foot"], "toe_walk": "hard_both_sides"},
        {"FOOT_PAIN"},
        {"podiatry", "general_review"},
    ),
]


@pytest.mark.parametrize(
    ("overrides", "flags", "expected"),
    [pytest.param(o, f, e, id=name) for name, o, f, e in END_TO_END],
)
def test_section_4_5_case_from_answers_gets_the_expected_flags_and_queues(
    overrides: dict[str, Any], flags: set[str], expected: set[str]
):
    result = assess_answers(**overrides)
    assert {flag["code"] for flag in result["flags"]} == flags
    assert set(result["queues"]) == expected
    assert result["urgency"] == "routine"
