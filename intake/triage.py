"""Triage rules (spec §2 and §3): validated answers -> derived values and flags with evidence.

Pure Python: no Django, no I/O, no clock. The input is a set of answers that has already passed
``intake.validation``; ``age_years`` arrives computed. Every flag carries the clauses that matched
and the answer values its rule read, so staff can see why it fired (§0.5, §8.1).

Any change to a rule or a threshold bumps ``RULESET_VERSION`` (§7).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

RULESET_VERSION: Final = "1.0.0"

Answers = Mapping[str, Any]
Derived = dict[str, Any]
Flag = dict[str, Any]

FOOT_REGIONS: Final = frozenset({"ankle", "heel", "arch", "ball_of_foot", "top_of_foot", "toes"})
SPINAL_REGIONS: Final = frozenset({"lower_back", "buttock", "mid_upper_back"})
HARD: Final = frozenset({"hard_one_side", "hard_both_sides"})
RECENT_DURATIONS: Final = frozenset({"under_2_weeks", "weeks_2_to_6"})  # < 6 weeks ⚙
DERMATOMAL_AREAS: Final = frozenset({"shin_and_top_of_foot", "outer_foot_and_sole", "inner_shin"})
UNSUPPORTIVE_FOOTWEAR: Final = frozenset(
    {"flat_thin_soled", "sandals_flip_flops", "barefoot_slippers"}
)
FOOT_STRUCTURE_REGIONS: Final = FOOT_REGIONS | {"lower_back", "buttock", "knee", "hip"}
GAIT_STRAIN_REGIONS: Final = frozenset({"lower_back", "buttock", "hip", "knee"})

# ⚙ Local policy thresholds (§8.3): named so that clinical sign-off can find them.
OBESE_BMI: Final = 30.0
HIGH_HEEL_DAYS: Final = 3
FOOTWEAR_SCORE_THRESHOLD: Final = 2
DESK_HOURS: Final = 4
LOW_EXERCISE_DAYS: Final = 1
LIFESTYLE_THRESHOLD: Final = 2
MINOR_RED_FLAG_THRESHOLD: Final = 2
MINOR_RED_FLAG_AGE: Final = 50
INFLAMMATORY_MAX_AGE: Final = 45
STARTBACK_HIGH_DISTRESS: Final = 4
STARTBACK_MEDIUM_TOTAL: Final = 4

# The answer fields behind each derived value (§2), in the order the formula mentions them. A
# flag's evidence lists these for every derived value its rule reads.
DERIVED_READS: Final[Mapping[str, tuple[str, ...]]] = {
    "bmi": ("height_cm", "weight_kg"),
    "recent": ("symptom_duration",),
    "leg_recent": ("leg_symptoms_duration",),
    "pain_below_knee": ("pain_below_knee_side",),
    "no_symptoms": (
        "pain_regions",
        "numbness_areas",
        "leg_symptoms_side",
        "pain_below_knee_side",
        "tingling",
        "leg_weak_or_heavy",
        "foot_drop",
        "weakness_worsening",
        "leg_neuro_side",
        "heel_walk",
        "toe_walk",
    ),
    "foot_pain": ("pain_regions",),
    "spinal_pain": ("pain_regions",),
    "spinal_or_radiating": ("pain_regions", "pain_below_knee_side"),
    "axial_or_hip": ("pain_regions", "pain_below_knee_side"),
    "dermatomal_numbness": ("numbness_areas",),
    "unsupportive_footwear": ("footwear_types",),
    "footwear_score": (
        "shoes_worn_or_ill_fitting",
        "high_heel_days_per_week",
        "footwear_types",
        "pain_varies_with_shoes",
    ),
    "desk_risk": ("desk_hours_per_day", "leans_forward_sitting", "workstation_setup"),
    "lifestyle_count": (
        "height_cm",
        "weight_kg",
        "smoking_status",
        "exercise_days_per_week",
        "desk_hours_per_day",
        "leans_forward_sitting",
        "workstation_setup",
    ),
    "minor_rf_count": (
        "night_pain_constant",
        "pain_regions",
        "immune_risk",
        "bone_fragility",
        "age_years",
        "symptom_duration",
    ),
    "startback_risk": ("sbst_total", "sbst_distress"),
}
DERIVED_KEYS: Final[tuple[str, ...]] = tuple(DERIVED_READS)
# The multi-choice answers (§1 kind "multi"), which arrive as lists.
LIST_ANSWERS: Final = frozenset({"pain_regions", "numbness_areas", "footwear_types"})
# The answers behind "leg symptoms are reported", which decides whether field 26 applies (§1 D2).
LEG_SYMPTOM_READS: Final = ("leg_symptoms_side", "pain_below_knee_side", "leg_neuro_side")


def _absent(value: object) -> bool:
    return value is None or value == "none"


def no_symptoms(answers: Answers) -> bool:
    """§2 ``no_symptoms``. Answers not given yet count as no symptom (for the form's display)."""
    get = answers.get
    return (
        not get("pain_regions")
        and not get("numbness_areas")
        and _absent(get("leg_symptoms_side"))
        and _absent(get("pain_below_knee_side"))
        and not get("tingling")
        and not get("leg_weak_or_heavy")
        and not get("foot_drop")
        and not get("weakness_worsening")
        and _absent(get("leg_neuro_side"))
        and get("heel_walk") not in HARD
        and get("toe_walk") not in HARD
    )


def leg_symptoms_reported(answers: Answers) -> bool:
    """Whether field 26 (``leg_symptoms_duration``) applies (§1 D2)."""
    get = answers.get
    return not (
        _absent(get("leg_symptoms_side"))
        and _absent(get("pain_below_knee_side"))
        and _absent(get("leg_neuro_side"))
    )


def spinal_pain(answers: Answers) -> bool:
    """§2 ``spinal_pain``; the STarT Back module is accepted only when it is true."""
    return not SPINAL_REGIONS.isdisjoint(answers.get("pain_regions") or ())


def startback_risk(total: int | None, distress: int | None) -> str | None:
    if total is None or distress is None:
        return None
    if distress >= STARTBACK_HIGH_DISTRESS:
        return "high"
    if total >= STARTBACK_MEDIUM_TOTAL:
        return "medium"
    return "low"


def derive(answers: Answers) -> Derived:
    """The 16 derived values of §2, under exactly the spec's names and in its order."""
    a = answers
    regions = a["pain_regions"]
    footwear = a["footwear_types"]
    bmi = a["weight_kg"] / (a["height_cm"] / 100) ** 2
    recent = a["symptom_duration"] in RECENT_DURATIONS
    pain_below_knee = a["pain_below_knee_side"] != "none"
    spinal = not SPINAL_REGIONS.isdisjoint(regions)
    spinal_or_radiating = spinal or pain_below_knee
    unsupportive = "cushioned_supportive" not in footwear and not UNSUPPORTIVE_FOOTWEAR.isdisjoint(
        footwear
    )
    desk_risk = a["desk_hours_per_day"] >= DESK_HOURS and (
        a["leans_forward_sitting"] or a["workstation_setup"] == "not_adjusted"
    )
    return {
        "bmi": bmi,
        "recent": recent,
        "leg_recent": a["leg_symptoms_duration"] in RECENT_DURATIONS,
        "pain_below_knee": pain_below_knee,
        "no_symptoms": no_symptoms(a),
        "foot_pain": not FOOT_REGIONS.isdisjoint(regions),
        "spinal_pain": spinal,
        "spinal_or_radiating": spinal_or_radiating,
        "axial_or_hip": spinal_or_radiating or "hip" in regions,
        "dermatomal_numbness": not DERMATOMAL_AREAS.isdisjoint(a["numbness_areas"]),
        "unsupportive_footwear": unsupportive,
        "footwear_score": (
            (a["shoes_worn_or_ill_fitting"] is True)
            + (a["high_heel_days_per_week"] >= HIGH_HEEL_DAYS)
            + unsupportive
            + (a["pain_varies_with_shoes"] is True)
        ),
        "desk_risk": desk_risk,
        "lifestyle_count": (
            (bmi >= OBESE_BMI)
            + (a["smoking_status"] == "current")
            + (a["exercise_days_per_week"] <= LOW_EXERCISE_DAYS)
            + desk_risk
        ),
        "minor_rf_count": (
            (a["night_pain_constant"] is True)
            + ("mid_upper_back" in regions)
            + (a["immune_risk"] is True)
            + (a["bone_fragility"] is True)
            + (a["age_years"] >= MINOR_RED_FLAG_AGE and recent)
        ),
        "startback_risk": startback_risk(a.get("sbst_total"), a.get("sbst_distress")),
    }


# --- Rules -------------------------------------------------------------------------------------

Predicate = Callable[[Answers, Derived], bool]


@dataclass(frozen=True, slots=True)
class Clause:
    letter: str  # "" for a rule without lettered clauses
    test: Predicate


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    explanation: str
    # The answer fields and derived values the rule mentions, in the order it mentions them.
    uses: tuple[str, ...]
    clauses: tuple[Clause, ...]
    urgency: str | None = None  # red flags only: "emergency" or "urgent" (§3.3)
    reads: tuple[str, ...] = field(init=False)
    clause_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        reads: dict[str, None] = {}
        for name in self.uses:
            for answer in DERIVED_READS.get(name, (name,)):
                reads[answer] = None
        object.__setattr__(self, "reads", tuple(reads))
        object.__setattr__(
            self,
            "clause_names",
            tuple(f"{self.code}.{c.letter}" if c.letter else self.code for c in self.clauses),
        )

    @property
    def is_red_flag(self) -> bool:
        return self.urgency is not None


def _single(test: Predicate) -> tuple[Clause, ...]:
    return (Clause("", test),)


def _lettered(*tests: Predicate) -> tuple[Clause, ...]:
    return tuple(Clause(chr(ord("a") + i), test) for i, test in enumerate(tests))


# 3.1 Context flags


def _back_pain(a: Answers, d: Derived) -> bool:
    return bool(d["spinal_pain"])


def _foot_pain(a: Answers, d: Derived) -> bool:
    return bool(d["foot_pain"])


# 3.2 Pattern flags


def _sciatic(a: Answers, d: Derived) -> bool:
    return bool(
        d["pain_below_knee"]
        and (a["leg_pain_worse_than_back"] or a["tingling"] or d["dermatomal_numbness"])
    )


def _l5_motor(a: Answers) -> bool:
    return bool(a["foot_drop"] or a["heel_walk"] in HARD)


def _l5_sensory(a: Answers) -> bool:
    return "shin_and_top_of_foot" in a["numbness_areas"]


def _l5_a(a: Answers, d: Derived) -> bool:
    return _l5_motor(a) and (_l5_sensory(a) or bool(d["pain_below_knee"]))


def _l5_b(a: Answers, d: Derived) -> bool:
    return _l5_sensory(a) and bool(d["pain_below_knee"])


def _s1_sensory(a: Answers) -> bool:
    return "outer_foot_and_sole" in a["numbness_areas"]


def _s1_a(a: Answers, d: Derived) -> bool:
    return a["toe_walk"] in HARD and (_s1_sensory(a) or bool(d["pain_below_knee"]))


def _s1_b(a: Answers, d: Derived) -> bool:
    return _s1_sensory(a) and bool(d["pain_below_knee"])


def _neurogenic_claudication(a: Answers, d: Derived) -> bool:
    return bool(a["walking_leg_symptoms_relieved_sitting"] and a["leg_symptoms_side"] != "none")


def _footwear_related(a: Answers, d: Derived) -> bool:
    return d["footwear_score"] >= FOOTWEAR_SCORE_THRESHOLD and len(a["pain_regions"]) > 0


def _foot_structure(a: Answers, d: Derived) -> bool:
    return a["arch_type"] in {"flat", "high"} and not FOOT_STRUCTURE_REGIONS.isdisjoint(
        a["pain_regions"]
    )


def _plantar_heel_pain(a: Answers, d: Derived) -> bool:
    regions = a["pain_regions"]
    return bool(a["first_steps_heel_pain"] and ("heel" in regions or "arch" in regions))


def _metatarsalgia(a: Answers, d: Derived) -> bool:
    return "ball_of_foot" in a["pain_regions"] and bool(
        a["high_heel_days_per_week"] >= HIGH_HEEL_DAYS
        or a["shoes_worn_or_ill_fitting"]
        or a["arch_type"] == "high"
    )


def _gait_compensation(a: Answers, d: Derived) -> bool:
    return bool(
        a["walks_differently"]
        and (a["foot_ankle_injury"] != "none" or d["foot_pain"])
        and (
            a["back_pain_after_foot_problem"]
            or not GAIT_STRAIN_REGIONS.isdisjoint(a["pain_regions"])
        )
    )


def _lifestyle_risk(a: Answers, d: Derived) -> bool:
    return bool(d["lifestyle_count"] >= LIFESTYLE_THRESHOLD)


def _diabetic_foot_risk(a: Answers, d: Derived) -> bool:
    return bool(
        a["has_diabetes"]
        and (
            "both_feet_sock_area" in a["numbness_areas"]
            or d["foot_pain"]
            or a["arch_type"] in {"flat", "high"}
            or a["foot_wound"]
            or a["foot_red_hot_swollen"]
            or a["foot_cold_or_discoloured"]
        )
    )


def _peripheral_neuropathy(a: Answers, d: Derived) -> bool:
    return "both_feet_sock_area" in a["numbness_areas"] and not a["has_diabetes"]


def _foot_wound_non_diabetic(a: Answers, d: Derived) -> bool:
    return bool(a["foot_wound"] and not a["has_diabetes"])


def _inflammatory_back_pain(a: Answers, d: Derived) -> bool:
    return bool(
        a["morning_stiffness_eases_with_movement"]
        and d["spinal_pain"]
        and a["age_years"] < INFLAMMATORY_MAX_AGE
        and a["symptom_duration"] == "over_12_weeks"
    )


# 3.3 Red flags


def _new_or_worsening_legs(a: Answers, d: Derived) -> bool:
    return bool(d["leg_recent"] or a["weakness_worsening"])


def _ces_a(a: Answers, d: Derived) -> bool:
    return bool(a["bladder_bowel_change"])


def _ces_b(a: Answers, d: Derived) -> bool:
    return bool(a["saddle_numbness"])


def _ces_c(a: Answers, d: Derived) -> bool:
    return a["pain_below_knee_side"] == "both" and _new_or_worsening_legs(a, d)


def _ces_d(a: Answers, d: Derived) -> bool:
    return (
        (a["heel_walk"] == "hard_both_sides" or a["toe_walk"] == "hard_both_sides")
        and bool(d["spinal_or_radiating"])
        and _new_or_worsening_legs(a, d)
    )


def _ces_e(a: Answers, d: Derived) -> bool:
    return a["leg_neuro_side"] == "both" and _new_or_worsening_legs(a, d)


def _infection_a(a: Answers, d: Derived) -> bool:
    return bool(
        a["fever_or_chills"]
        and (d["spinal_or_radiating"] or a["foot_wound"] or a["foot_red_hot_swollen"])
    )


def _infection_b(a: Answers, d: Derived) -> bool:
    regions = a["pain_regions"]
    return bool(a["fever_or_chills"] and d["recent"] and ("hip" in regions or "knee" in regions))


def _limb_ischaemia(a: Answers, d: Derived) -> bool:
    return bool(a["foot_cold_or_discoloured"])


def _diabetic_foot(a: Answers, d: Derived) -> bool:
    return bool(a["has_diabetes"] and (a["foot_wound"] or a["foot_red_hot_swollen"]))


def _progressive_neuro_a(a: Answers, d: Derived) -> bool:
    return bool(a["weakness_worsening"])


def _progressive_neuro_b(a: Answers, d: Derived) -> bool:
    return bool(
        (a["foot_drop"] or a["heel_walk"] in HARD or a["toe_walk"] in HARD) and d["leg_recent"]
    )


# SERIOUS_PATHOLOGY: each clause carries its own gate (axial_or_hip for a, b, d, e;
# spinal_or_radiating for c, h), so a clause is recorded only when the whole expression holds
# because of it.
def _serious_a(a: Answers, d: Derived) -> bool:
    return bool(d["axial_or_hip"] and a["cancer_history"])


def _serious_b(a: Answers, d: Derived) -> bool:
    return bool(d["axial_or_hip"] and a["weight_loss_unexplained"])


def _serious_c(a: Answers, d: Derived) -> bool:
    return bool(d["spinal_or_radiating"] and a["onset_type"] == "major_injury")


def _serious_d(a: Answers, d: Derived) -> bool:
    return bool(
        d["axial_or_hip"]
        and a["bone_fragility"]
        and a["onset_type"] in {"minor_injury", "sudden_no_injury"}
    )


def _serious_e(a: Answers, d: Derived) -> bool:
    return bool(d["axial_or_hip"] and d["minor_rf_count"] >= MINOR_RED_FLAG_THRESHOLD)


def _serious_f(a: Answers, d: Derived) -> bool:
    return bool(a["cannot_bear_weight"])


def _serious_g(a: Answers, d: Derived) -> bool:
    return bool(a["foot_red_hot_swollen"] and not a["has_diabetes"])


def _serious_h(a: Answers, d: Derived) -> bool:
    return bool(d["spinal_or_radiating"] and a["immune_risk"] and d["recent"])


def _serious_i(a: Answers, d: Derived) -> bool:
    return bool(a["onset_type"] == "major_injury" and d["recent"])


# 3.4 Administrative and module flags


def _inconsistent_a(a: Answers, d: Derived) -> bool:
    return bool(d["pain_below_knee"] and a["leg_symptoms_side"] == "none")


def _inconsistent_b(a: Answers, d: Derived) -> bool:
    return bool(a["leg_pain_worse_than_back"] and a["leg_symptoms_side"] == "none")


def _inconsistent_c(a: Answers, d: Derived) -> bool:
    return bool(a["pain_now_nrs"] > a["pain_worst_7d_nrs"])


def _inconsistent_d(a: Answers, d: Derived) -> bool:
    return len(a["pain_regions"]) == 0 and a["pain_worst_7d_nrs"] >= 1


def _inconsistent_e(a: Answers, d: Derived) -> bool:
    return bool(
        a["weakness_worsening"] and not a["leg_weak_or_heavy"] and a["leg_neuro_side"] == "none"
    )


def _startback_high(a: Answers, d: Derived) -> bool:
    return bool(d["startback_risk"] == "high")


RULES: Final[tuple[Rule, ...]] = (
    Rule(
        "BACK_PAIN",
        "The patient reported pain in the back or buttock.",
        ("spinal_pain",),
        _single(_back_pain),
    ),
    Rule(
        "FOOT_PAIN",
        "The patient reported pain in the foot or ankle.",
        ("foot_pain",),
        _single(_foot_pain),
    ),
    Rule(
        "SCIATIC_PATTERN",
        "The patient's answers describe leg pain or nerve-type symptoms spreading down from the "
        "back, which can come from an irritated nerve root in the lower back.",
        ("pain_below_knee", "leg_pain_worse_than_back", "tingling", "dermatomal_numbness"),
        _single(_sciatic),
    ),
    Rule(
        "L5_RADICULOPATHY_SIGNS",
        "Difficulty lifting the front of the foot, or reduced feeling over the shin and the top "
        "of the foot, can be linked to one particular lower-back nerve root.",
        ("foot_drop", "heel_walk", "numbness_areas", "pain_below_knee"),
        _lettered(_l5_a, _l5_b),
    ),
    Rule(
        "S1_RADICULOPATHY_SIGNS",
        "Difficulty rising onto the toes, or reduced feeling on the outer foot or sole, can be "
        "linked to one particular lower-back nerve root.",
        ("toe_walk", "numbness_areas", "pain_below_knee"),
        _lettered(_s1_a, _s1_b),
    ),
    Rule(
        "NEUROGENIC_CLAUDICATION",
        "Leg symptoms that come on with walking or standing and ease with sitting or bending "
        "forward can be linked to narrowing around the nerves in the lower back.",
        ("walking_leg_symptoms_relieved_sitting", "leg_symptoms_side"),
        _single(_neurogenic_claudication),
    ),
    Rule(
        "FOOTWEAR_RELATED",
        "The patient's answers suggest that their shoes may be contributing to the symptoms.",
        ("footwear_score", "pain_regions"),
        _single(_footwear_related),
    ),
    Rule(
        "FOOT_STRUCTURE",
        "The patient described flat or high arches, which can change how load passes through "
        "the feet and legs.",
        ("arch_type", "pain_regions"),
        _single(_foot_structure),
    ),
    Rule(
        "PLANTAR_HEEL_PAIN",
        "Heel or arch pain that is worst with the first steps after rest is a common pattern "
        "from the tissue under the foot.",
        ("first_steps_heel_pain", "pain_regions"),
        _single(_plantar_heel_pain),
    ),
    Rule(
        "METATARSALGIA_PATTERN",
        "Pain under the ball of the foot, together with high heels, worn or tight shoes or high "
        "arches, suggests the front of the foot is overloaded.",
        ("pain_regions", "high_heel_days_per_week", "shoes_worn_or_ill_fitting", "arch_type"),
        _single(_metatarsalgia),
    ),
    Rule(
        "GAIT_COMPENSATION",
        "Walking differently because of a foot or ankle problem can put extra strain on the "
        "back, hips or knees.",
        (
            "walks_differently",
            "foot_ankle_injury",
            "foot_pain",
            "back_pain_after_foot_problem",
            "pain_regions",
        ),
        _single(_gait_compensation),
    ),
    Rule(
        "LIFESTYLE_RISK",
        "Several everyday factors the patient mentioned (such as weight, smoking, activity or "
        "desk set-up) are linked with back pain and may be worth working on.",
        ("lifestyle_count",),
        _single(_lifestyle_risk),
    ),
    Rule(
        "DIABETIC_FOOT_RISK",
        "People with diabetes who have foot symptoms should have their feet checked by a foot "
        "specialist before any insoles or footwear are fitted.",
        (
            "has_diabetes",
            "numbness_areas",
            "foot_pain",
            "arch_type",
            "foot_wound",
            "foot_red_hot_swollen",
            "foot_cold_or_discoloured",
        ),
        _single(_diabetic_foot_risk),
    ),
    Rule(
        "PERIPHERAL_NEUROPATHY_PATTERN",
        "Numbness in both feet in a sock-shaped area is usually not caused by the back and "
        "should be checked by a clinician.",
        ("numbness_areas", "has_diabetes"),
        _single(_peripheral_neuropathy),
    ),
    Rule(
        "FOOT_WOUND_NON_DIABETIC",
        "A foot wound that has not healed should be looked at by a foot specialist.",
        ("foot_wound", "has_diabetes"),
        _single(_foot_wound_non_diabetic),
    ),
    Rule(
        "INFLAMMATORY_BACK_PAIN_PATTERN",
        "Long-standing back pain with morning stiffness that eases with movement, starting "
        "before 45, can have an inflammatory cause that a clinician should consider.",
        ("morning_stiffness_eases_with_movement", "spinal_pain", "age_years", "symptom_duration"),
        _single(_inflammatory_back_pain),
    ),
    Rule(
        "RED_FLAG_CAUDA_EQUINA",
        "Some of the patient's answers about bladder, bowel, saddle-area or both-leg symptoms "
        "need to be checked by a doctor straight away.",
        (
            "bladder_bowel_change",
            "saddle_numbness",
            "pain_below_knee_side",
            "leg_recent",
            "weakness_worsening",
            "heel_walk",
            "toe_walk",
            "spinal_or_radiating",
            "leg_neuro_side",
        ),
        _lettered(_ces_a, _ces_b, _ces_c, _ces_d, _ces_e),
        urgency="emergency",
    ),
    Rule(
        "RED_FLAG_INFECTION",
        "Fever or shaking chills, together with back pain or pain spreading from the back, a "
        "foot wound or swelling, or recent hip or knee pain, needs to be checked by a doctor "
        "straight away.",
        (
            "fever_or_chills",
            "spinal_or_radiating",
            "foot_wound",
            "foot_red_hot_swollen",
            "recent",
            "pain_regions",
        ),
        _lettered(_infection_a, _infection_b),
        urgency="emergency",
    ),
    Rule(
        "RED_FLAG_LIMB_ISCHAEMIA",
        "Toes or a foot that have changed colour or become cold can mean a blood-flow problem "
        "that needs checking straight away.",
        ("foot_cold_or_discoloured",),
        _single(_limb_ischaemia),
        urgency="emergency",
    ),
    Rule(
        "RED_FLAG_DIABETIC_FOOT",
        "A wound, or a red, hot and swollen foot, in someone with diabetes needs to be seen by a "
        "clinician within one working day.",
        ("has_diabetes", "foot_wound", "foot_red_hot_swollen"),
        _single(_diabetic_foot),
        urgency="urgent",
    ),
    Rule(
        "RED_FLAG_PROGRESSIVE_NEURO",
        "Weakness that is new or getting worse should be checked by a clinician soon.",
        ("weakness_worsening", "foot_drop", "heel_walk", "toe_walk", "leg_recent"),
        _lettered(_progressive_neuro_a, _progressive_neuro_b),
        urgency="urgent",
    ),
    Rule(
        "RED_FLAG_SERIOUS_PATHOLOGY",
        "Some of the patient's answers mean a clinician should check the symptoms before any "
        "other treatment.",
        (
            "axial_or_hip",
            "cancer_history",
            "weight_loss_unexplained",
            "bone_fragility",
            "onset_type",
            "minor_rf_count",
            "spinal_or_radiating",
            "immune_risk",
            "recent",
            "cannot_bear_weight",
            "foot_red_hot_swollen",
            "has_diabetes",
        ),
        _lettered(
            _serious_a,
            _serious_b,
            _serious_c,
            _serious_d,
            _serious_e,
            _serious_f,
            _serious_g,
            _serious_h,
            _serious_i,
        ),
        urgency="urgent",
    ),
    Rule(
        "INCONSISTENT_ANSWERS",
        "Some of the patient's answers did not fit together, so a team member should check them "
        "with the patient.",
        (
            "pain_below_knee",
            "leg_symptoms_side",
            "leg_pain_worse_than_back",
            "pain_now_nrs",
            "pain_worst_7d_nrs",
            "pain_regions",
            "weakness_worsening",
            "leg_weak_or_heavy",
            "leg_neuro_side",
        ),
        _lettered(
            _inconsistent_a, _inconsistent_b, _inconsistent_c, _inconsistent_d, _inconsistent_e
        ),
    ),
    Rule(
        "STARTBACK_HIGH_RISK",
        "The patient's STarT Back scores suggest back pain is having a big impact on them, so "
        "extra support may help.",
        ("startback_risk",),
        _single(_startback_high),
    ),
)

RULE_BY_CODE: Final[Mapping[str, Rule]] = {rule.code: rule for rule in RULES}
FLAG_CODES: Final = frozenset(RULE_BY_CODE)
RED_FLAG_URGENCY: Final[Mapping[str, str]] = {
    rule.code: rule.urgency for rule in RULES if rule.urgency is not None
}
# Evaluating in code order yields flags already sorted as §8.1 requires. Flattened once because
# bulk triage runs every rule for every answer set: per rule its code, explanation, the answers its
# evidence reads (and which of them are lists), then either its one unlettered test or, for a rule
# with lettered clauses, their names and tests.
_PLAN: Final = tuple(
    (
        rule.code,
        rule.explanation,
        rule.reads,
        tuple(name for name in rule.reads if name in LIST_ANSWERS),
        rule.clauses[0].test if rule.clause_names == (rule.code,) else None,
        tuple(zip(rule.clause_names, (c.test for c in rule.clauses), strict=True)),
    )
    for rule in sorted(RULES, key=lambda rule: rule.code)
)


def evaluate(answers: Answers) -> tuple[Derived, list[Flag]]:
    """Derived values and every flag that fires, sorted by code, each with its evidence."""
    derived = derive(answers)
    get = answers.get
    flags: list[Flag] = []
    for code, explanation, reads, list_reads, single, clauses in _PLAN:
        if single is not None:
            if not single(answers, derived):
                continue
            matched = [code]
        else:
            matched = [name for name, test in clauses if test(answers, derived)]
            if not matched:
                continue
        evidence = {name: get(name) for name in reads}
        # Copy lists so a stored result never shares state with the caller's answers.
        for name in list_reads:
            value = evidence[name]
            if type(value) is list:
                evidence[name] = value.copy()
        flags.append(
            {"code": code, "explanation": explanation, "clauses": matched, "answers": evidence}
        )
    return derived, flags
