"""Routing (spec §4.1): flags -> queues, urgency and the queues suggested after clearance.

Pure Python. Routing reads only the flag codes plus the raw answers ``has_diabetes``,
``smoking_status``, ``foot_drop``, ``heel_walk`` and ``toe_walk`` (§0.2).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from intake.triage import FLAG_CODES, HARD, RED_FLAG_URGENCY

CHIROPRACTIC: Final = "chiropractic"
PODIATRY: Final = "podiatry"
ORTHOTIC_FITTING: Final = "orthotic_fitting"
URGENT_MEDICAL_REVIEW: Final = "urgent_medical_review"
GENERAL_REVIEW: Final = "general_review"
QUEUES: Final[tuple[str, ...]] = (
    CHIROPRACTIC,
    PODIATRY,
    ORTHOTIC_FITTING,
    URGENT_MEDICAL_REVIEW,
    GENERAL_REVIEW,
)

ROUTINE: Final = "routine"
URGENT: Final = "urgent"
EMERGENCY: Final = "emergency"
# Least to most severe: emergency > urgent > routine.
URGENCIES: Final[tuple[str, ...]] = (ROUTINE, URGENT, EMERGENCY)
URGENCY_RANK: Final[Mapping[str, int]] = {code: rank for rank, code in enumerate(URGENCIES)}

# The answers routing may read (§0.2); anything else in ``answers`` is ignored.
ROUTING_ANSWERS: Final = ("has_diabetes", "smoking_status", "foot_drop", "heel_walk", "toe_walk")

NEURAL: Final = frozenset(
    {
        "SCIATIC_PATTERN",
        "L5_RADICULOPATHY_SIGNS",
        "S1_RADICULOPATHY_SIGNS",
        "NEUROGENIC_CLAUDICATION",
    }
)
PODIATRY_FLAGS: Final = frozenset(
    {
        "PLANTAR_HEEL_PAIN",
        "METATARSALGIA_PATTERN",
        "GAIT_COMPENSATION",
        "DIABETIC_FOOT_RISK",
        "FOOT_WOUND_NON_DIABETIC",
    }
)
FOOT_EXPLAINING_FLAGS: Final = NEURAL | {"FOOTWEAR_RELATED", "FOOT_STRUCTURE"}
FITTING_FLAGS: Final = frozenset({"FOOTWEAR_RELATED", "FOOT_STRUCTURE"})
GENERAL_REVIEW_FLAGS: Final = frozenset(
    {"INCONSISTENT_ANSWERS", "PERIPHERAL_NEUROPATHY_PATTERN", "INFLAMMATORY_BACK_PAIN_PATTERN"}
)


@dataclass(frozen=True, slots=True)
class Routing:
    queues: tuple[str, ...]
    urgency: str
    suggested_after_clearance: tuple[str, ...]


def _specialty_queues(flags: frozenset[str], answers: Mapping[str, Any]) -> tuple[str, ...]:
    """Rules R1-R6: the queues for a case without red flags, sorted."""
    queues: set[str] = set()
    neural = not NEURAL.isdisjoint(flags)
    foot_pain = "FOOT_PAIN" in flags
    if neural or "BACK_PAIN" in flags:  # R1
        queues.add(CHIROPRACTIC)
    if not PODIATRY_FLAGS.isdisjoint(flags):  # R2
        queues.add(PODIATRY)
    if foot_pain and FOOT_EXPLAINING_FLAGS.isdisjoint(flags):  # R3: unexplained foot pain
        queues.add(PODIATRY)
    # R4: NG59 advises against orthotics for back pain, and people with diabetes see podiatry
    # first, so fitting needs foot pain and no diabetes.
    if foot_pain and not FITTING_FLAGS.isdisjoint(flags) and not answers["has_diabetes"]:
        queues.add(ORTHOTIC_FITTING)
    if (  # R5
        not GENERAL_REVIEW_FLAGS.isdisjoint(flags)
        # An established motor deficit needs medical oversight even when it is stable.
        or answers["foot_drop"]
        or answers["heel_walk"] in HARD
        or answers["toe_walk"] in HARD
        # Vascular claudication can mimic neurogenic claudication: a clinician checks pulses.
        or (
            "NEUROGENIC_CLAUDICATION" in flags
            and (answers["has_diabetes"] or answers["smoking_status"] == "current")
        )
    ):
        queues.add(GENERAL_REVIEW)
    if not queues:  # R6
        queues.add(GENERAL_REVIEW)
    return tuple(sorted(queues))


def route(flag_codes: Collection[str], answers: Mapping[str, Any]) -> Routing:
    """Apply §4.1 R0-R6 to the flags of one case.

    Raises ``ValueError`` for a flag code this ruleset does not define: routing an unknown code
    silently could send a patient to the wrong queue.
    """
    flags = frozenset(flag_codes)
    unknown = flags - FLAG_CODES
    if unknown:
        raise ValueError(f"Unknown flag codes: {', '.join(sorted(unknown))}")
    specialty = _specialty_queues(flags, answers)
    red = [RED_FLAG_URGENCY[code] for code in flags if code in RED_FLAG_URGENCY]
    if red:  # R0: red flags override routing; the reviewer sees where the case would go next.
        return Routing(
            queues=(URGENT_MEDICAL_REVIEW,),
            urgency=max(red, key=URGENCY_RANK.__getitem__),
            suggested_after_clearance=specialty,
        )
    return Routing(queues=specialty, urgency=ROUTINE, suggested_after_clearance=())
