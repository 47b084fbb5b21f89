"""Table tests for every flag clause of spec §3, at and just around every threshold, and for
every derived value of §2."""

from __future__ import annotations

import json
from typing import Any

import pytest

from intake.questionnaire import CORE_FIELDS, MODULE_FIELDS
from intake.triage import (
    DERIVED_KEYS,
    LIST_ANSWERS,
    RED_FLAG_URGENCY,
    RULES,
    RULESET_VERSION,
    derive,
    evaluate,
    startback_risk,
)
from tests.answers import clauses, make_answers

BACK = ["lower_back"]
LEFT_SCIATICA: dict[str, Any] = {
    "pain_regions": ["lower_back", "lower_leg"],
    "leg_symptoms_side": "left",
    "pain_below_knee_side": "left",
}
RECENT_LEGS: dict[str, Any] = {"leg_symptoms_duration": "weeks_2_to_6"}


def case(code: str, expected: list[str], case_id: str, **overrides: Any) -> Any:
    return pytest.param(code, overrides, expected, id=case_id)


CLAUSE_CASES = [
    # 3.1 Context flags
    case("BACK_PAIN", ["BACK_PAIN"], "lower back counts as back pain", pain_regions=BACK),
    case("BACK_PAIN", ["BACK_PAIN"], "buttock counts as back pain", pain_regions=["buttock"]),
    case("BACK_PAIN", ["BACK_PAIN"], "mid back counts", pain_regions=["mid_upper_back"]),
    case("BACK_PAIN", [], "hip alone is not back pain", pain_regions=["hip"]),
    case("BACK_PAIN", [], "neck alone is not back pain", pain_regions=["neck_shoulder"]),
    *[
        case("FOOT_PAIN", ["FOOT_PAIN"], f"{region} counts as foot pain", pain_regions=[region])
        for region in ("ankle", "heel", "arch", "ball_of_foot", "top_of_foot", "toes")
    ],
    case("FOOT_PAIN", [], "calf or shin is not foot pain", pain_regions=["lower_leg"]),
    # 3.2 Pattern flags
    case(
        "SCIATIC_PATTERN",
        ["SCIATIC_PATTERN"],
        "radiating pain worse in the leg",
        **LEFT_SCIATICA,
        leg_pain_worse_than_back=True,
    ),
    case(
        "SCIATIC_PATTERN",
        ["SCIATIC_PATTERN"],
        "radiating pain with tingling",
        **LEFT_SCIATICA,
        tingling=True,
    ),
    case(
        "SCIATIC_PATTERN",
        ["SCIATIC_PATTERN"],
        "radiating pain with dermatomal numbness",
        **LEFT_SCIATICA,
        numbness_areas=["inner_shin"],
        leg_neuro_side="left",
    ),
    case(
        "SCIATIC_PATTERN",
        [],
        "numbness somewhere else is not dermatomal",
        **LEFT_SCIATICA,
        numbness_areas=["other_area"],
        leg_neuro_side="left",
    ),
    case("SCIATIC_PATTERN", [], "radiating pain alone is not enough", **LEFT_SCIATICA),
    case(
        "SCIATIC_PATTERN",
        [],
        "tingling without radiating pain",
        pain_regions=BACK,
        tingling=True,
        leg_symptoms_side="left",
        leg_neuro_side="left",
    ),
    case(
        "L5_RADICULOPATHY_SIGNS",
        ["L5_RADICULOPATHY_SIGNS.a"],
        "foot drop with shin numbness",
        foot_drop=True,
        numbness_areas=["shin_and_top_of_foot"],
        leg_neuro_side="left",
    ),
    case(
        "L5_RADICULOPATHY_SIGNS",
        ["L5_RADICULOPATHY_SIGNS.a"],
        "foot drop with radiating pain",
        **LEFT_SCIATICA,
        foot_drop=True,
    ),
    case(
        "L5_RADICULOPATHY_SIGNS",
        ["L5_RADICULOPATHY_SIGNS.a"],
        "one heel that will not stay up, with radiating pain",
        **LEFT_SCIATICA,
        heel_walk="hard_one_side",
    ),
    case(
        "L5_RADICULOPATHY_SIGNS",
        ["L5_RADICULOPATHY_SIGNS.a"],
        "both heels down, with radiating pain",
        **LEFT_SCIATICA,
        heel_walk="hard_both_sides",
    ),
    case(
        "L5_RADICULOPATHY_SIGNS",
        ["L5_RADICULOPATHY_SIGNS.b"],
        "shin numbness with radiating pain",
        **LEFT_SCIATICA,
        numbness_areas=["shin_and_top_of_foot"],
        leg_neuro_side="left",
    ),
    case(
        "L5_RADICULOPATHY_SIGNS",
        ["L5_RADICULOPATHY_SIGNS.a", "L5_RADICULOPATHY_SIGNS.b"],
        "motor, sensory and radiating together match both clauses",
        **LEFT_SCIATICA,
        foot_drop=True,
        numbness_areas=["shin_and_top_of_foot"],
        leg_neuro_side="left",
    ),
    case("L5_RADICULOPATHY_SIGNS", [], "foot drop alone", foot_drop=True, leg_neuro_side="left"),
    case(
        "L5_RADICULOPATHY_SIGNS",
        [],
        "shin numbness alone",
        numbness_areas=["shin_and_top_of_foot"],
        leg_neuro_side="left",
    ),
    case(
        "L5_RADICULOPATHY_SIGNS",
        [],
        "a heel walk not tried is not a deficit",
        **LEFT_SCIATICA,
        heel_walk="not_tried",
    ),
    case(
        "S1_RADICULOPATHY_SIGNS",
        ["S1_RADICULOPATHY_SIGNS.a"],
        "failed toe walk with sole numbness",
        toe_walk="hard_one_side",
        numbness_areas=["outer_foot_and_sole"],
        leg_neuro_side="right",
    ),
    case(
        "S1_RADICULOPATHY_SIGNS",
        ["S1_RADICULOPATHY_SIGNS.a"],
        "failed toe walk with radiating pain",
        **LEFT_SCIATICA,
        toe_walk="hard_both_sides",
    ),
    case(
        "S1_RADICULOPATHY_SIGNS",
        ["S1_RADICULOPATHY_SIGNS.b"],
        "sole numbness with radiating pain",
        **LEFT_SCIATICA,
        numbness_areas=["outer_foot_and_sole"],
        leg_neuro_side="left",
    ),
    case(
        "S1_RADICULOPATHY_SIGNS",
        ["S1_RADICULOPATHY_SIGNS.a", "S1_RADICULOPATHY_SIGNS.b"],
        "all three S1 features",
        **LEFT_SCIATICA,
        toe_walk="hard_one_side",
        numbness_areas=["outer_foot_and_sole"],
        leg_neuro_side="left",
    ),
    case("S1_RADICULOPATHY_SIGNS", [], "failed toe walk alone", toe_walk="hard_one_side"),
    case(
        "S1_RADICULOPATHY_SIGNS",
        [],
        "a toe walk not tried is not a deficit",
        **LEFT_SCIATICA,
        toe_walk="not_tried",
    ),
    case(
        "S1_RADICULOPATHY_SIGNS",
        [],
        "sole numbness alone",
        numbness_areas=["outer_foot_and_sole"],
        leg_neuro_side="left",
    ),
    case(
        "NEUROGENIC_CLAUDICATION",
        ["NEUROGENIC_CLAUDICATION"],
        "walking leg symptoms eased by sitting",
        pain_regions=BACK,
        leg_symptoms_side="both",
        walking_leg_symptoms_relieved_sitting=True,
    ),
    case(
        "NEUROGENIC_CLAUDICATION",
        [],
        "no leg ticked",
        pain_regions=BACK,
        walking_leg_symptoms_relieved_sitting=True,
    ),
    case(
        "FOOTWEAR_RELATED",
        ["FOOTWEAR_RELATED"],
        "worn shoes and 3 high-heel days make a score of 2",
        pain_regions=["knee"],
        shoes_worn_or_ill_fitting=True,
        high_heel_days_per_week=3,
    ),
    case(
        "FOOTWEAR_RELATED",
        [],
        "2 high-heel days do not count, so the score is 1",
        pain_regions=["knee"],
        shoes_worn_or_ill_fitting=True,
        high_heel_days_per_week=2,
    ),
    case(
        "FOOTWEAR_RELATED",
        ["FOOTWEAR_RELATED"],
        "unsupportive footwear and pain varying with shoes",
        pain_regions=["heel"],
        footwear_types=["flat_thin_soled"],
        pain_varies_with_shoes=True,
    ),
    case(
        "FOOTWEAR_RELATED",
        [],
        "cushioned shoes alongside flats are not unsupportive",
        pain_regions=["heel"],
        footwear_types=["flat_thin_soled", "cushioned_supportive"],
        pain_varies_with_shoes=True,
    ),
    case(
        "FOOTWEAR_RELATED",
        [],
        "a score of 2 without any pain",
        shoes_worn_or_ill_fitting=True,
        pain_varies_with_shoes=True,
    ),
    case(
        "FOOT_STRUCTURE",
        ["FOOT_STRUCTURE"],
        "flat feet with back pain",
        arch_type="flat",
        pain_regions=BACK,
    ),
    *[
        case(
            "FOOT_STRUCTURE",
            ["FOOT_STRUCTURE"],
            f"high arches with {region} pain",
            arch_type="high",
            pain_regions=[region],
        )
        for region in ("buttock", "knee", "hip", "heel", "toes")
    ],
    case(
        "FOOT_STRUCTURE",
        [],
        "flat feet with neck pain only",
        arch_type="flat",
        pain_regions=["neck_shoulder"],
    ),
    case("FOOT_STRUCTURE", [], "normal arches", arch_type="normal", pain_regions=BACK),
    *[
        case(
            "FOOT_STRUCTURE",
            [],
            f"flat feet with {region} pain only",
            arch_type="flat",
            pain_regions=[region],
        )
        for region in ("mid_upper_back", "back_of_thigh", "lower_leg")
    ],
    case("FOOT_STRUCTURE", [], "unsure arches", arch_type="unsure", pain_regions=BACK),
    case(
        "PLANTAR_HEEL_PAIN",
        ["PLANTAR_HEEL_PAIN"],
        "first-step heel pain",
        first_steps_heel_pain=True,
        pain_regions=["heel"],
    ),
    case(
        "PLANTAR_HEEL_PAIN",
        ["PLANTAR_HEEL_PAIN"],
        "first-step arch pain",
        first_steps_heel_pain=True,
        pain_regions=["arch"],
    ),
    case(
        "PLANTAR_HEEL_PAIN",
        [],
        "first-step pain but only toes ticked",
        first_steps_heel_pain=True,
        pain_regions=["toes"],
    ),
    case("PLANTAR_HEEL_PAIN", [], "heel pain without first-step pattern", pain_regions=["heel"]),
    case(
        "METATARSALGIA_PATTERN",
        ["METATARSALGIA_PATTERN"],
        "ball of foot with 3 high-heel days",
        pain_regions=["ball_of_foot"],
        high_heel_days_per_week=3,
    ),
    case(
        "METATARSALGIA_PATTERN",
        [],
        "ball of foot with 2 high-heel days",
        pain_regions=["ball_of_foot"],
        high_heel_days_per_week=2,
    ),
    case(
        "METATARSALGIA_PATTERN",
        ["METATARSALGIA_PATTERN"],
        "ball of foot with worn shoes",
        pain_regions=["ball_of_foot"],
        shoes_worn_or_ill_fitting=True,
    ),
    case(
        "METATARSALGIA_PATTERN",
        ["METATARSALGIA_PATTERN"],
        "ball of foot with high arches",
        pain_regions=["ball_of_foot"],
        arch_type="high",
    ),
    case(
        "METATARSALGIA_PATTERN",
        [],
        "ball of foot with flat arches",
        pain_regions=["ball_of_foot"],
        arch_type="flat",
    ),
    case(
        "METATARSALGIA_PATTERN",
        [],
        "high heels with toe pain, not the ball of the foot",
        pain_regions=["toes"],
        high_heel_days_per_week=7,
    ),
    case(
        "GAIT_COMPENSATION",
        ["GAIT_COMPENSATION"],
        "limping after an ankle injury, back pain came after",
        walks_differently=True,
        foot_ankle_injury="within_6_weeks",
        back_pain_after_foot_problem=True,
        pain_regions=["ankle"],
    ),
    case(
        "GAIT_COMPENSATION",
        ["GAIT_COMPENSATION"],
        "limping with foot pain and knee pain",
        walks_differently=True,
        pain_regions=["heel", "knee"],
    ),
    case(
        "GAIT_COMPENSATION",
        [],
        "limping with knee pain but no foot problem",
        walks_differently=True,
        pain_regions=["knee"],
    ),
    case(
        "GAIT_COMPENSATION",
        [],
        "limping after an injury with foot pain only",
        walks_differently=True,
        foot_ankle_injury="over_1_year",
        pain_regions=["ankle"],
    ),
    case(
        "GAIT_COMPENSATION",
        [],
        "not walking differently",
        foot_ankle_injury="within_6_weeks",
        back_pain_after_foot_problem=True,
        pain_regions=["ankle", "lower_back"],
    ),
    case(
        "LIFESTYLE_RISK",
        ["LIFESTYLE_RISK"],
        "bmi of exactly 30.0 and smoking",
        weight_kg=120,
        height_cm=200,
        smoking_status="current",
    ),
    case(
        "LIFESTYLE_RISK",
        [],
        "bmi of 29.75 and smoking",
        weight_kg=119,
        height_cm=200,
        smoking_status="current",
    ),
    case(
        "LIFESTYLE_RISK",
        ["LIFESTYLE_RISK"],
        "active on 1 day a week and smoking",
        exercise_days_per_week=1,
        smoking_status="current",
    ),
    case(
        "LIFESTYLE_RISK",
        [],
        "active on 2 days a week and smoking",
        exercise_days_per_week=2,
        smoking_status="current",
    ),
    case(
        "LIFESTYLE_RISK",
        [],
        "a former smoker does not count",
        exercise_days_per_week=0,
        smoking_status="former",
    ),
    case(
        "LIFESTYLE_RISK",
        ["LIFESTYLE_RISK"],
        "4 desk hours hunched forward and inactive",
        desk_hours_per_day=4,
        leans_forward_sitting=True,
        exercise_days_per_week=0,
    ),
    case(
        "LIFESTYLE_RISK",
        [],
        "3 desk hours hunched forward and inactive",
        desk_hours_per_day=3,
        leans_forward_sitting=True,
        exercise_days_per_week=0,
    ),
    case(
        "LIFESTYLE_RISK",
        ["LIFESTYLE_RISK"],
        "4 desk hours at an unadjusted desk and inactive",
        desk_hours_per_day=4,
        workstation_setup="not_adjusted",
        exercise_days_per_week=0,
    ),
    case(
        "LIFESTYLE_RISK",
        [],
        "4 desk hours at a desk the patient is unsure about",
        desk_hours_per_day=4,
        workstation_setup="unsure",
        exercise_days_per_week=0,
    ),
    *[
        case(
            "DIABETIC_FOOT_RISK",
            ["DIABETIC_FOOT_RISK"],
            f"diabetes with {label}",
            has_diabetes=True,
            **overrides,
        )
        for label, overrides in (
            (
                "sock numbness",
                {"numbness_areas": ["both_feet_sock_area"], "leg_neuro_side": "both"},
            ),
            ("foot pain", {"pain_regions": ["toes"]}),
            ("flat feet", {"arch_type": "flat"}),
            ("high arches", {"arch_type": "high"}),
            ("a foot wound", {"foot_wound": True}),
            ("a red hot swollen foot", {"foot_red_hot_swollen": True}),
            ("a cold foot", {"foot_cold_or_discoloured": True}),
        )
    ],
    case("DIABETIC_FOOT_RISK", [], "diabetes with no foot features", has_diabetes=True),
    case(
        "DIABETIC_FOOT_RISK",
        [],
        "diabetes with knee pain and numbness in the shin, not the sock area",
        has_diabetes=True,
        pain_regions=["knee"],
        numbness_areas=["shin_and_top_of_foot", "other_area"],
        leg_neuro_side="left",
    ),
    case("DIABETIC_FOOT_RISK", [], "foot wound without diabetes", foot_wound=True),
    case(
        "PERIPHERAL_NEUROPATHY_PATTERN",
        ["PERIPHERAL_NEUROPATHY_PATTERN"],
        "sock numbness without diabetes",
        numbness_areas=["both_feet_sock_area"],
        leg_neuro_side="both",
    ),
    case(
        "PERIPHERAL_NEUROPATHY_PATTERN",
        [],
        "sock numbness with diabetes",
        numbness_areas=["both_feet_sock_area"],
        leg_neuro_side="both",
        has_diabetes=True,
    ),
    case(
        "FOOT_WOUND_NON_DIABETIC",
        ["FOOT_WOUND_NON_DIABETIC"],
        "foot wound without diabetes",
        foot_wound=True,
    ),
    case(
        "FOOT_WOUND_NON_DIABETIC",
        [],
        "foot wound with diabetes",
        foot_wound=True,
        has_diabetes=True,
    ),
    case(
        "INFLAMMATORY_BACK_PAIN_PATTERN",
        ["INFLAMMATORY_BACK_PAIN_PATTERN"],
        "age 44 with over 12 weeks of morning-stiff back pain",
        morning_stiffness_eases_with_movement=True,
        pain_regions=BACK,
        age_years=44,
        symptom_duration="over_12_weeks",
    ),
    case(
        "INFLAMMATORY_BACK_PAIN_PATTERN",
        [],
        "age 45 is not flagged",
        morning_stiffness_eases_with_movement=True,
        pain_regions=BACK,
        age_years=45,
        symptom_duration="over_12_weeks",
    ),
    case(
        "INFLAMMATORY_BACK_PAIN_PATTERN",
        [],
        "6 to 12 weeks is not long-standing",
        morning_stiffness_eases_with_movement=True,
        pain_regions=BACK,
        age_years=30,
        symptom_duration="weeks_6_to_12",
    ),
    case(
        "INFLAMMATORY_BACK_PAIN_PATTERN",
        [],
        "hip pain is not spinal pain",
        morning_stiffness_eases_with_movement=True,
        pain_regions=["hip"],
        age_years=30,
    ),
    # 3.3 Red flags
    case(
        "RED_FLAG_CAUDA_EQUINA",
        ["RED_FLAG_CAUDA_EQUINA.a"],
        "bladder change",
        bladder_bowel_change=True,
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        ["RED_FLAG_CAUDA_EQUINA.b"],
        "saddle numbness",
        saddle_numbness=True,
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        ["RED_FLAG_CAUDA_EQUINA.c"],
        "new bilateral radiating pain",
        pain_regions=["lower_back", "lower_leg"],
        leg_symptoms_side="both",
        pain_below_knee_side="both",
        leg_symptoms_duration="weeks_2_to_6",
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        ["RED_FLAG_CAUDA_EQUINA.c"],
        "bilateral radiating pain under 2 weeks",
        pain_regions=["lower_back", "lower_leg"],
        leg_symptoms_side="both",
        pain_below_knee_side="both",
        leg_symptoms_duration="under_2_weeks",
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        [],
        "bilateral radiating pain of 6 to 12 weeks is not recent",
        pain_regions=["lower_back", "lower_leg"],
        leg_symptoms_side="both",
        pain_below_knee_side="both",
        leg_symptoms_duration="weeks_6_to_12",
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        [],
        "long-standing bilateral pain with recent heel pain elsewhere",
        pain_regions=["lower_back", "lower_leg", "heel"],
        leg_symptoms_side="both",
        pain_below_knee_side="both",
        symptom_duration="weeks_2_to_6",
        leg_symptoms_duration="over_12_weeks",
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        ["RED_FLAG_CAUDA_EQUINA.c"],
        "long-standing bilateral pain with worsening weakness",
        pain_regions=["lower_back", "lower_leg"],
        leg_symptoms_side="both",
        pain_below_knee_side="both",
        leg_weak_or_heavy=True,
        leg_neuro_side="left",
        weakness_worsening=True,
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        [],
        "new one-sided radiating pain with an old problem in the other leg",
        pain_regions=["lower_back", "lower_leg", "knee"],
        leg_symptoms_side="both",
        pain_below_knee_side="left",
        leg_symptoms_duration="weeks_2_to_6",
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        ["RED_FLAG_CAUDA_EQUINA.d"],
        "both heels down with back pain and new leg symptoms",
        pain_regions=BACK,
        leg_symptoms_side="both",
        heel_walk="hard_both_sides",
        **RECENT_LEGS,
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        ["RED_FLAG_CAUDA_EQUINA.d"],
        "both feet fail the toe walk with radiating pain and worsening weakness",
        **LEFT_SCIATICA,
        toe_walk="hard_both_sides",
        weakness_worsening=True,
        leg_weak_or_heavy=True,
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        [],
        "both feet fail the toe walk with forefoot pain only",
        pain_regions=["ball_of_foot"],
        leg_symptoms_side="both",
        toe_walk="hard_both_sides",
        **RECENT_LEGS,
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        [],
        "one heel down with back pain and new leg symptoms",
        pain_regions=BACK,
        leg_symptoms_side="both",
        heel_walk="hard_one_side",
        **RECENT_LEGS,
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        [],
        "both heels down with back pain, leg symptoms of 6 to 12 weeks, not worsening",
        pain_regions=BACK,
        leg_symptoms_side="both",
        heel_walk="hard_both_sides",
        leg_symptoms_duration="weeks_6_to_12",
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        ["RED_FLAG_CAUDA_EQUINA.e"],
        "new numbness in both legs without back pain",
        tingling=True,
        leg_neuro_side="both",
        **RECENT_LEGS,
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        [],
        "numbness in both legs for 6 to 12 weeks, not worsening",
        tingling=True,
        leg_neuro_side="both",
        leg_symptoms_duration="weeks_6_to_12",
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        ["RED_FLAG_CAUDA_EQUINA.e"],
        "long-standing symptoms in both legs with worsening weakness",
        leg_weak_or_heavy=True,
        weakness_worsening=True,
        leg_neuro_side="both",
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        [],
        "long-standing stable sock numbness in both legs",
        numbness_areas=["both_feet_sock_area"],
        leg_neuro_side="both",
        leg_symptoms_duration="over_12_weeks",
    ),
    case(
        "RED_FLAG_CAUDA_EQUINA",
        ["RED_FLAG_CAUDA_EQUINA.a", "RED_FLAG_CAUDA_EQUINA.b", "RED_FLAG_CAUDA_EQUINA.e"],
        "every matching clause is recorded in letter order",
        saddle_numbness=True,
        bladder_bowel_change=True,
        leg_neuro_side="both",
        tingling=True,
        **RECENT_LEGS,
    ),
    case(
        "RED_FLAG_INFECTION",
        ["RED_FLAG_INFECTION.a"],
        "fever with back pain",
        fever_or_chills=True,
        pain_regions=BACK,
    ),
    case(
        "RED_FLAG_INFECTION",
        ["RED_FLAG_INFECTION.a"],
        "fever with radiating pain and no back region",
        fever_or_chills=True,
        pain_regions=["lower_leg"],
        leg_symptoms_side="left",
        pain_below_knee_side="left",
    ),
    case(
        "RED_FLAG_INFECTION",
        ["RED_FLAG_INFECTION.a"],
        "fever with a foot wound",
        fever_or_chills=True,
        foot_wound=True,
    ),
    case(
        "RED_FLAG_INFECTION",
        ["RED_FLAG_INFECTION.a"],
        "fever with a red hot swollen foot",
        fever_or_chills=True,
        foot_red_hot_swollen=True,
    ),
    case("RED_FLAG_INFECTION", [], "fever alone", fever_or_chills=True),
    case(
        "RED_FLAG_INFECTION",
        [],
        "fever with long-standing hip pain: hip is not spinal or radiating pain",
        fever_or_chills=True,
        pain_regions=["hip"],
    ),
    case(
        "RED_FLAG_INFECTION",
        ["RED_FLAG_INFECTION.b"],
        "fever with knee pain under 2 weeks",
        fever_or_chills=True,
        pain_regions=["knee"],
        symptom_duration="under_2_weeks",
    ),
    case(
        "RED_FLAG_INFECTION",
        ["RED_FLAG_INFECTION.b"],
        "fever with hip pain of 2 to 6 weeks",
        fever_or_chills=True,
        pain_regions=["hip"],
        symptom_duration="weeks_2_to_6",
    ),
    case(
        "RED_FLAG_INFECTION",
        [],
        "fever with knee pain of 6 to 12 weeks",
        fever_or_chills=True,
        pain_regions=["knee"],
        symptom_duration="weeks_6_to_12",
    ),
    case(
        "RED_FLAG_INFECTION",
        ["RED_FLAG_INFECTION.a", "RED_FLAG_INFECTION.b"],
        "fever with back pain and recent knee pain",
        fever_or_chills=True,
        pain_regions=["lower_back", "knee"],
        symptom_duration="weeks_2_to_6",
    ),
    case(
        "RED_FLAG_INFECTION",
        [],
        "feeling unwell without fever",
        feels_unwell=True,
        pain_regions=BACK,
    ),
    case(
        "RED_FLAG_LIMB_ISCHAEMIA",
        ["RED_FLAG_LIMB_ISCHAEMIA"],
        "cold discoloured foot",
        foot_cold_or_discoloured=True,
    ),
    case(
        "RED_FLAG_LIMB_ISCHAEMIA",
        [],
        "a red hot swollen foot is not ischaemia",
        foot_red_hot_swollen=True,
    ),
    case(
        "RED_FLAG_DIABETIC_FOOT",
        ["RED_FLAG_DIABETIC_FOOT"],
        "diabetes with a foot wound",
        has_diabetes=True,
        foot_wound=True,
    ),
    case(
        "RED_FLAG_DIABETIC_FOOT",
        ["RED_FLAG_DIABETIC_FOOT"],
        "diabetes with a red hot swollen foot",
        has_diabetes=True,
        foot_red_hot_swollen=True,
    ),
    case(
        "RED_FLAG_DIABETIC_FOOT",
        [],
        "diabetes with a cold foot goes to limb ischaemia instead",
        has_diabetes=True,
        foot_cold_or_discoloured=True,
    ),
    case(
        "RED_FLAG_PROGRESSIVE_NEURO",
        ["RED_FLAG_PROGRESSIVE_NEURO.a"],
        "weakness getting worse",
        weakness_worsening=True,
        leg_weak_or_heavy=True,
        leg_neuro_side="left",
    ),
    case(
        "RED_FLAG_PROGRESSIVE_NEURO",
        ["RED_FLAG_PROGRESSIVE_NEURO.b"],
        "foot drop with leg symptoms under 6 weeks",
        foot_drop=True,
        leg_neuro_side="left",
        **RECENT_LEGS,
    ),
    case(
        "RED_FLAG_PROGRESSIVE_NEURO",
        ["RED_FLAG_PROGRESSIVE_NEURO.b"],
        "failed heel walk with new leg symptoms",
        heel_walk="hard_one_side",
        leg_neuro_side="left",
        **RECENT_LEGS,
    ),
    case(
        "RED_FLAG_PROGRESSIVE_NEURO",
        ["RED_FLAG_PROGRESSIVE_NEURO.b"],
        "failed toe walk with new leg symptoms",
        toe_walk="hard_one_side",
        leg_neuro_side="left",
        **RECENT_LEGS,
    ),
    case(
        "RED_FLAG_PROGRESSIVE_NEURO",
        [],
        "walk tests not tried with new leg symptoms are not a deficit",
        heel_walk="not_tried",
        toe_walk="not_tried",
        leg_neuro_side="left",
        **RECENT_LEGS,
    ),
    case(
        "RED_FLAG_PROGRESSIVE_NEURO",
        [],
        "foot drop with leg symptoms of 6 to 12 weeks is stable",
        foot_drop=True,
        leg_neuro_side="left",
        leg_symptoms_duration="weeks_6_to_12",
    ),
    case(
        "RED_FLAG_PROGRESSIVE_NEURO",
        [],
        "a failed heel walk with no leg symptoms reported has no recent leg duration",
        heel_walk="hard_one_side",
        pain_regions=["heel"],
        symptom_duration="under_2_weeks",
    ),
    case(
        "RED_FLAG_PROGRESSIVE_NEURO",
        ["RED_FLAG_PROGRESSIVE_NEURO.a", "RED_FLAG_PROGRESSIVE_NEURO.b"],
        "worsening weakness and a new foot drop",
        weakness_worsening=True,
        foot_drop=True,
        leg_weak_or_heavy=True,
        leg_neuro_side="left",
        **RECENT_LEGS,
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.a"],
        "cancer history with back pain",
        cancer_history=True,
        pain_regions=BACK,
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.a"],
        "cancer history with hip pain",
        cancer_history=True,
        pain_regions=["hip"],
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.a"],
        "cancer history with radiating pain and no back region",
        cancer_history=True,
        pain_regions=["lower_leg"],
        leg_symptoms_side="left",
        pain_below_knee_side="left",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "cancer history with knee pain only",
        cancer_history=True,
        pain_regions=["knee"],
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.b"],
        "unexplained weight loss with back pain",
        weight_loss_unexplained=True,
        pain_regions=BACK,
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.c"],
        "an old major injury with back pain",
        onset_type="major_injury",
        pain_regions=BACK,
        symptom_duration="over_12_weeks",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.c", "RED_FLAG_SERIOUS_PATHOLOGY.i"],
        "a recent major injury with back pain matches c and i",
        onset_type="major_injury",
        pain_regions=BACK,
        symptom_duration="weeks_2_to_6",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "an old major injury with hip pain: c reads spinal or radiating pain, not hip",
        onset_type="major_injury",
        pain_regions=["hip"],
        symptom_duration="weeks_6_to_12",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.i"],
        "a recent major injury with heel pain",
        onset_type="major_injury",
        pain_regions=["heel"],
        symptom_duration="under_2_weeks",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "an old major injury with heel pain",
        onset_type="major_injury",
        pain_regions=["heel"],
        symptom_duration="weeks_6_to_12",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.d"],
        "fragile bones and a minor injury with back pain",
        bone_fragility=True,
        onset_type="minor_injury",
        pain_regions=BACK,
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.d"],
        "fragile bones and a sudden onset with hip pain",
        bone_fragility=True,
        onset_type="sudden_no_injury",
        pain_regions=["hip"],
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "fragile bones and a gradual onset",
        bone_fragility=True,
        onset_type="gradual",
        pain_regions=BACK,
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "fragile bones and a minor injury with knee pain",
        bone_fragility=True,
        onset_type="minor_injury",
        pain_regions=["knee"],
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.e"],
        "two minor red flags with back pain",
        night_pain_constant=True,
        immune_risk=True,
        pain_regions=BACK,
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.e"],
        "mid back pain counts as a minor red flag",
        night_pain_constant=True,
        pain_regions=["mid_upper_back"],
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "one minor red flag is not enough",
        night_pain_constant=True,
        pain_regions=BACK,
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.e"],
        "age 50 with a recent episode is a minor red flag",
        age_years=50,
        night_pain_constant=True,
        pain_regions=BACK,
        symptom_duration="weeks_2_to_6",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "age 49 with a recent episode is not",
        age_years=49,
        night_pain_constant=True,
        pain_regions=BACK,
        symptom_duration="weeks_2_to_6",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "age 50 with a 6 to 12 week episode is not",
        age_years=50,
        night_pain_constant=True,
        pain_regions=BACK,
        symptom_duration="weeks_6_to_12",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "two minor red flags with knee pain only",
        night_pain_constant=True,
        bone_fragility=True,
        pain_regions=["knee"],
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.f"],
        "cannot bear weight, wherever the pain is",
        cannot_bear_weight=True,
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.g"],
        "red hot swollen foot without diabetes",
        foot_red_hot_swollen=True,
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "red hot swollen foot with diabetes goes to the diabetic foot flag",
        foot_red_hot_swollen=True,
        has_diabetes=True,
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        ["RED_FLAG_SERIOUS_PATHOLOGY.h"],
        "immune risk with recent back pain",
        immune_risk=True,
        pain_regions=BACK,
        symptom_duration="under_2_weeks",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "immune risk with recent hip pain only",
        immune_risk=True,
        pain_regions=["hip"],
        symptom_duration="under_2_weeks",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "immune risk with back pain of 6 to 12 weeks",
        immune_risk=True,
        pain_regions=BACK,
        symptom_duration="weeks_6_to_12",
    ),
    case(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        [],
        "immune risk with long-standing back pain",
        immune_risk=True,
        pain_regions=BACK,
        symptom_duration="over_12_weeks",
    ),
    # 3.4 Administrative and module flags
    case(
        "INCONSISTENT_ANSWERS",
        ["INCONSISTENT_ANSWERS.a"],
        "radiating pain with no leg ticked",
        pain_regions=BACK,
        pain_below_knee_side="right",
    ),
    case(
        "INCONSISTENT_ANSWERS",
        ["INCONSISTENT_ANSWERS.b"],
        "leg pain worse than back with no leg ticked",
        pain_regions=BACK,
        leg_pain_worse_than_back=True,
    ),
    case(
        "INCONSISTENT_ANSWERS",
        ["INCONSISTENT_ANSWERS.c"],
        "pain now above the 7-day worst",
        pain_regions=BACK,
        pain_now_nrs=5,
        pain_worst_7d_nrs=4,
    ),
    case(
        "INCONSISTENT_ANSWERS",
        [],
        "pain now equal to the 7-day worst",
        pain_regions=BACK,
        pain_now_nrs=5,
        pain_worst_7d_nrs=5,
    ),
    case(
        "INCONSISTENT_ANSWERS",
        ["INCONSISTENT_ANSWERS.d"],
        "pain scored 1 with no region ticked",
        pain_worst_7d_nrs=1,
    ),
    case("INCONSISTENT_ANSWERS", [], "no pain and no region", pain_worst_7d_nrs=0),
    case(
        "INCONSISTENT_ANSWERS",
        ["INCONSISTENT_ANSWERS.e"],
        "worsening weakness with no weak leg",
        weakness_worsening=True,
    ),
    case(
        "INCONSISTENT_ANSWERS",
        [],
        "worsening weakness with a heavy leg",
        weakness_worsening=True,
        leg_weak_or_heavy=True,
    ),
    case(
        "INCONSISTENT_ANSWERS",
        [],
        "worsening weakness with a leg side given",
        weakness_worsening=True,
        leg_neuro_side="right",
    ),
    case(
        "INCONSISTENT_ANSWERS",
        ["INCONSISTENT_ANSWERS.a", "INCONSISTENT_ANSWERS.b", "INCONSISTENT_ANSWERS.c"],
        "every contradiction is recorded",
        pain_regions=BACK,
        pain_below_knee_side="left",
        leg_pain_worse_than_back=True,
        pain_now_nrs=6,
        pain_worst_7d_nrs=3,
    ),
    case(
        "STARTBACK_HIGH_RISK",
        ["STARTBACK_HIGH_RISK"],
        "distress subscale of 4",
        pain_regions=BACK,
        sbst_total=4,
        sbst_distress=4,
    ),
    case(
        "STARTBACK_HIGH_RISK",
        [],
        "distress subscale of 3 with a total of 7 is medium risk",
        pain_regions=BACK,
        sbst_total=7,
        sbst_distress=3,
    ),
    case("STARTBACK_HIGH_RISK", [], "module not completed", pain_regions=BACK),
]


@pytest.mark.parametrize(("code", "overrides", "expected"), CLAUSE_CASES)
def test_flag_clauses_match_the_spec(code: str, overrides: dict[str, Any], expected: list[str]):
    assert clauses(code, **overrides) == expected


def test_every_rule_has_a_firing_case_and_a_quiet_case():
    fired = {p.values[0] for p in CLAUSE_CASES if p.values[2]}
    quiet = {p.values[0] for p in CLAUSE_CASES if not p.values[2]}
    codes = {rule.code for rule in RULES}
    assert fired == codes
    assert quiet == codes


def test_every_lettered_clause_is_pinned_alone_or_in_combination():
    named = {name for rule in RULES for name in rule.clause_names}
    covered = {clause for p in CLAUSE_CASES for clause in p.values[2]}
    assert covered == named


# --- Derived values -----------------------------------------------------------------------------


def test_bmi_of_exactly_30_counts_as_obese():
    derived = derive(make_answers(weight_kg=120, height_cm=200))
    assert derived["bmi"] == 30.0
    assert derived["lifestyle_count"] == 1


def test_bmi_just_under_30_does_not_count():
    derived = derive(make_answers(weight_kg=119, height_cm=200))
    assert derived["bmi"] == 29.75
    assert derived["lifestyle_count"] == 0


def test_bmi_is_kept_unrounded():
    assert derive(make_answers(weight_kg=70, height_cm=170))["bmi"] == 24.221453287197235


@pytest.mark.parametrize(
    ("duration", "recent"),
    [
        ("under_2_weeks", True),
        ("weeks_2_to_6", True),
        ("weeks_6_to_12", False),
        ("over_12_weeks", False),
    ],
)
def test_recent_means_under_6_weeks(duration: str, recent: bool):
    answers = make_answers(
        pain_regions=BACK,
        leg_symptoms_side="left",
        symptom_duration=duration,
        leg_symptoms_duration=duration,
    )
    derived = derive(answers)
    assert derived["recent"] is recent
    assert derived["leg_recent"] is recent


def test_null_durations_are_neither_recent_nor_leg_recent():
    derived = derive(make_answers())
    assert derived["recent"] is False
    assert derived["leg_recent"] is False


def test_recent_and_leg_recent_are_independent():
    derived = derive(
        make_answers(
            pain_regions=["heel", "lower_leg"],
            leg_symptoms_side="both",
            symptom_duration="weeks_2_to_6",
            leg_symptoms_duration="over_12_weeks",
        )
    )
    assert derived["recent"] is True
    assert derived["leg_recent"] is False


NO_SYMPTOM_BREAKERS = [
    {"pain_regions": ["neck_shoulder"]},
    {"numbness_areas": ["other_area"]},
    {"leg_symptoms_side": "left"},
    {"pain_below_knee_side": "left"},
    {"tingling": True},
    {"leg_weak_or_heavy": True},
    {"foot_drop": True},
    {"weakness_worsening": True},
    {"leg_neuro_side": "right"},
    {"heel_walk": "hard_one_side"},
    {"toe_walk": "hard_both_sides"},
]


def test_no_symptoms_is_true_for_the_quiet_baseline():
    assert derive(make_answers())["no_symptoms"] is True


def test_walk_tests_not_tried_still_count_as_no_symptoms():
    answers = make_answers(heel_walk="not_tried", toe_walk="not_tried")
    assert derive(answers)["no_symptoms"] is True


@pytest.mark.parametrize("overrides", NO_SYMPTOM_BREAKERS, ids=lambda o: next(iter(o)))
def test_any_single_symptom_makes_no_symptoms_false(overrides: dict[str, Any]):
    assert derive(make_answers(**overrides))["no_symptoms"] is False


@pytest.mark.parametrize(
    ("regions", "side", "expected"),
    [
        (["lower_back"], "none", (True, True, True)),
        ([], "left", (False, True, True)),
        (["hip"], "none", (False, False, True)),
        (["knee"], "none", (False, False, False)),
    ],
)
def test_spinal_radiating_and_axial_values(
    regions: list[str], side: str, expected: tuple[bool, bool, bool]
):
    derived = derive(
        make_answers(
            pain_regions=regions,
            pain_below_knee_side=side,
            leg_symptoms_side="none" if side == "none" else side,
        )
    )
    assert (
        derived["spinal_pain"],
        derived["spinal_or_radiating"],
        derived["axial_or_hip"],
    ) == expected
    assert derived["pain_below_knee"] is (side != "none")


@pytest.mark.parametrize(
    ("areas", "expected"),
    [
        (["shin_and_top_of_foot"], True),
        (["outer_foot_and_sole"], True),
        (["inner_shin"], True),
        (["both_feet_sock_area"], False),
        (["other_area"], False),
    ],
)
def test_dermatomal_numbness(areas: list[str], expected: bool):
    answers = make_answers(numbness_areas=areas, leg_neuro_side="left")
    assert derive(answers)["dermatomal_numbness"] is expected


@pytest.mark.parametrize(
    ("footwear", "expected"),
    [
        (["flat_thin_soled"], True),
        (["sandals_flip_flops"], True),
        (["barefoot_slippers", "high_heels"], True),
        (["high_heels"], False),
        (["safety_boots"], False),
        (["cushioned_supportive", "sandals_flip_flops"], False),
        ([], False),
    ],
)
def test_unsupportive_footwear(footwear: list[str], expected: bool):
    assert derive(make_answers(footwear_types=footwear))["unsupportive_footwear"] is expected


def test_footwear_score_adds_all_four_items():
    answers = make_answers(
        shoes_worn_or_ill_fitting=True,
        high_heel_days_per_week=3,
        footwear_types=["flat_thin_soled"],
        pain_varies_with_shoes=True,
    )
    assert derive(answers)["footwear_score"] == 4


@pytest.mark.parametrize(("days", "score"), [(2, 0), (3, 1), (7, 1)])
def test_high_heel_days_count_from_3(days: int, score: int):
    assert derive(make_answers(high_heel_days_per_week=days))["footwear_score"] == score


@pytest.mark.parametrize(
    ("hours", "leans", "setup", "expected"),
    [
        (4, True, "adjusted", True),
        (3, True, "not_adjusted", False),
        (4, False, "not_adjusted", True),
        (4, False, "adjusted", False),
        (16, False, "no_desk", False),
    ],
)
def test_desk_risk(hours: int, leans: bool, setup: str, expected: bool):
    answers = make_answers(
        desk_hours_per_day=hours, leans_forward_sitting=leans, workstation_setup=setup
    )
    assert derive(answers)["desk_risk"] is expected


def test_lifestyle_count_adds_all_four_items():
    answers = make_answers(
        weight_kg=120,
        height_cm=200,
        smoking_status="current",
        exercise_days_per_week=0,
        desk_hours_per_day=8,
        leans_forward_sitting=True,
    )
    assert derive(answers)["lifestyle_count"] == 4


def test_minor_red_flag_count_adds_all_five_items():
    answers = make_answers(
        night_pain_constant=True,
        pain_regions=["mid_upper_back"],
        immune_risk=True,
        bone_fragility=True,
        age_years=50,
        symptom_duration="under_2_weeks",
    )
    assert derive(answers)["minor_rf_count"] == 5


@pytest.mark.parametrize(
    ("total", "distress", "risk"),
    [
        (None, None, None),
        (0, 0, "low"),
        (3, 3, "low"),
        (4, 0, "medium"),
        (4, 3, "medium"),
        (9, 3, "medium"),
        (4, 4, "high"),
        (5, 5, "high"),
    ],
)
def test_startback_risk_groups(total: int | None, distress: int | None, risk: str | None):
    assert startback_risk(total, distress) == risk


def test_startback_risk_is_null_without_the_module():
    assert derive(make_answers(pain_regions=BACK))["startback_risk"] is None


def test_derived_has_exactly_the_sixteen_spec_keys_in_order():
    assert tuple(derive(make_answers())) == DERIVED_KEYS
    assert DERIVED_KEYS == (
        "bmi",
        "recent",
        "leg_recent",
        "pain_below_knee",
        "no_symptoms",
        "foot_pain",
        "spinal_pain",
        "spinal_or_radiating",
        "axial_or_hip",
        "dermatomal_numbness",
        "unsupportive_footwear",
        "footwear_score",
        "desk_risk",
        "lifestyle_count",
        "minor_rf_count",
        "startback_risk",
    )


# --- Flag records ------------------------------------------------------------------------------


def test_flags_are_sorted_by_code():
    answers = make_answers(
        pain_regions=["lower_back", "heel"],
        foot_cold_or_discoloured=True,
        cannot_bear_weight=True,
        first_steps_heel_pain=True,
        smoking_status="current",
        exercise_days_per_week=0,
    )
    codes = [flag["code"] for flag in evaluate(answers)[1]]
    assert codes == sorted(codes)
    assert len(codes) >= 5


def test_each_flag_record_has_exactly_the_contract_keys():
    answers = make_answers(pain_regions=BACK, saddle_numbness=True)
    for flag in evaluate(answers)[1]:
        assert list(flag) == ["code", "explanation", "clauses", "answers"]


def test_the_list_answers_are_the_questionnaires_multi_choice_fields():
    multi = {f.code for f in (*CORE_FIELDS, *MODULE_FIELDS) if f.kind == "multi"}
    assert multi == LIST_ANSWERS


def test_every_list_answer_in_any_flags_evidence_is_a_copy():
    answers = make_answers(
        pain_regions=["lower_back", "heel"],
        numbness_areas=["shin_and_top_of_foot"],
        footwear_types=["flat_thin_soled"],
        shoes_worn_or_ill_fitting=True,
        has_diabetes=True,  # DIABETIC_FOOT_RISK reads the numbness areas
    )
    seen = set()
    for flag in evaluate(answers)[1]:
        for name, value in flag["answers"].items():
            if isinstance(value, list):
                assert value == answers[name]
                assert value is not answers[name], (flag["code"], name)
                seen.add(name)
    assert seen == LIST_ANSWERS


def test_evidence_reads_startback_scores_when_the_module_fires():
    answers = make_answers(pain_regions=BACK, sbst_total=6, sbst_distress=5)
    flag = next(f for f in evaluate(answers)[1] if f["code"] == "STARTBACK_HIGH_RISK")
    assert flag["answers"] == {"sbst_total": 6, "sbst_distress": 5}


def test_serious_pathology_evidence_includes_the_minor_red_flag_inputs():
    answers = make_answers(cannot_bear_weight=True)
    flag = next(f for f in evaluate(answers)[1] if f["code"] == "RED_FLAG_SERIOUS_PATHOLOGY")
    assert set(flag["answers"]) == {
        "pain_regions",
        "pain_below_knee_side",
        "cancer_history",
        "weight_loss_unexplained",
        "bone_fragility",
        "onset_type",
        "night_pain_constant",
        "immune_risk",
        "age_years",
        "symptom_duration",
        "cannot_bear_weight",
        "foot_red_hot_swollen",
        "has_diabetes",
    }


def test_lifestyle_evidence_reads_height_and_weight_through_bmi():
    answers = make_answers(smoking_status="current", exercise_days_per_week=0)
    flag = next(f for f in evaluate(answers)[1] if f["code"] == "LIFESTYLE_RISK")
    assert list(flag["answers"]) == [
        "height_cm",
        "weight_kg",
        "smoking_status",
        "exercise_days_per_week",
        "desk_hours_per_day",
        "leans_forward_sitting",
        "workstation_setup",
    ]


def test_evidence_lists_are_copies_of_the_answers():
    answers = make_answers(pain_regions=BACK)
    flag = evaluate(answers)[1][0]
    answers["pain_regions"].append("heel")
    assert flag["answers"]["pain_regions"] == ["lower_back"]


def test_red_flag_urgencies_are_fixed_by_the_spec():
    assert RED_FLAG_URGENCY == {
        "RED_FLAG_CAUDA_EQUINA": "emergency",
        "RED_FLAG_INFECTION": "emergency",
        "RED_FLAG_LIMB_ISCHAEMIA": "emergency",
        "RED_FLAG_DIABETIC_FOOT": "urgent",
        "RED_FLAG_PROGRESSIVE_NEURO": "urgent",
        "RED_FLAG_SERIOUS_PATHOLOGY": "urgent",
    }


def test_only_red_flag_codes_declare_an_urgency():
    for rule in RULES:
        assert (rule.urgency is not None) == rule.code.startswith("RED_FLAG_")


def test_ruleset_version_is_1_0_0():
    assert RULESET_VERSION == "1.0.0"


def test_triage_result_is_json_serialisable():
    answers = make_answers(pain_regions=BACK, saddle_numbness=True)
    derived, flags = evaluate(answers)
    json.dumps({"derived": derived, "flags": flags}, allow_nan=False)
