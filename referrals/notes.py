"""The referral note for the receiving clinician (spec §4.1 notes, §4.4 and §5 "Matched care").

Pure Python: no Django, no I/O. The note is built from one triage result: the flag codes, the
derived values, the proposed queues, the queues suggested after red-flag clearance, and the five
raw answers that routing may read (§0.2). Flags and queues are plain string codes.

What goes in which note:

- ``urgent_medical_review``: the red flags to clear first, the queues suggested after clearance,
  and the medical-oversight points (the R5 reasons) that would apply afterwards. The treatment
  advice is left to the specialty notes written once the case is released.
- ``general_review``: why the case is there (each R5 reason, or "no specific pattern" for R6),
  then the advice lines below.
- ``chiropractic``: manual therapy only as part of a package with exercise (NICE NG59), then the
  advice lines below.
- every queue except ``urgent_medical_review``: STarT Back matched care, lifestyle advice,
  diabetic foot protection, and footwear advice when no orthotic fitting is proposed.

Each point is one short sentence; the note is the lines joined by newlines, and may be empty
when there is nothing to add.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

QUEUE_LABELS = {
    "chiropractic": "chiropractic",
    "podiatry": "podiatry",
    "orthotic_fitting": "orthotic fitting",
    "general_review": "general review",
    "urgent_medical_review": "urgent medical review",
}
QUEUES = tuple(QUEUE_LABELS)
URGENT_MEDICAL_REVIEW = "urgent_medical_review"
RED_FLAG_PREFIX = "RED_FLAG_"
STARTBACK_RISKS = (None, "low", "medium", "high")
ROUTING_ANSWERS = ("has_diabetes", "smoking_status", "foot_drop", "heel_walk", "toe_walk")
HARD = frozenset({"hard_one_side", "hard_both_sides"})

RED_FLAGS_FIRST = "Red flags raised: {codes}; clear or manage them before any other treatment."
SUGGESTED_AFTER_CLEARANCE = "Suggested after clearance: {queues}."
NOTHING_SUGGESTED = "No specialty queue is suggested after clearance."

INCONSISTENT = "Some answers did not fit together: check them with the patient."
SOCK_PATTERN = (
    "Sock-pattern numbness in both feet without diabetes: assess for a peripheral neuropathy, "
    "which is usually not from the back."
)
INFLAMMATORY = (
    "Possible inflammatory back pain: consider axial spondyloarthritis and refer to "
    "rheumatology if NICE NG65 criteria are met."
)
MOTOR_DEFICIT = (
    "Foot drop or a failed heel or toe walk: medical oversight of the motor deficit, considering "
    "peroneal neuropathy and the timing of a surgical opinion."
)
VASCULAR_CHECK = (
    "Claudication with diabetes or smoking: check foot pulses, as vascular claudication can "
    "mimic neurogenic claudication."
)
NO_PATTERN = "No specific pattern matched: read the main concern and review the answers."

MANUAL_THERAPY = "Offer manual therapy only as part of a treatment package that includes exercise."
STARTBACK_ADVICE = {
    "high": (
        "STarT Back high risk: a more intensive package of exercise, manual therapy and a "
        "psychological approach (psychologically informed physical therapy)."
    ),
    "medium": "STarT Back medium risk: physiotherapy or manual-therapy-led exercise.",
    "low": "STarT Back low risk: advice, reassurance and self-management.",
}
LIFESTYLE = "Lifestyle advice: weight, smoking, physical activity and workstation ergonomics."
DIABETIC_FOOT_PROTECTION = (
    "Diabetes with foot symptoms: foot-protection assessment before any insoles or footwear are "
    "fitted."
)
FOOTWEAR = "Footwear advice: low-heeled, cushioned, well-fitting shoes."
NO_ORTHOTICS_FOR_BACK = (
    "Do not offer foot orthotics or rocker soles for low back pain or sciatica (NICE NG59)."
)


# A note checks three lists of queue codes: against one set made once, not a set of each per
# check (every referral's note, live and generated, runs these).
_KNOWN_QUEUES = frozenset(QUEUES)


def _check_queue_codes(name: str, codes: Collection[str]) -> None:
    if not _KNOWN_QUEUES.issuperset(codes):
        unknown = sorted(set(codes) - _KNOWN_QUEUES)
        raise ValueError(f"{name}: unknown queue codes {unknown}")


def _ordered_labels(queues: Collection[str]) -> str:
    return ", ".join(QUEUE_LABELS[code] for code in QUEUES if code in queues)


def _routing_answers(answers: Mapping[str, object]) -> Mapping[str, object]:
    # No silent defaults (§0.8): a missing answer is a caller bug, not a "No".
    missing = [code for code in ROUTING_ANSWERS if code not in answers]
    if missing:
        raise ValueError(f"answers is missing {', '.join(missing)}")
    return answers


def medical_oversight_reasons(flags: frozenset[str], answers: Mapping[str, object]) -> list[str]:
    """Why rule R5 adds general_review, one sentence per reason (§4.1, §4.4)."""
    reasons = []
    if "INCONSISTENT_ANSWERS" in flags:
        reasons.append(INCONSISTENT)
    if "PERIPHERAL_NEUROPATHY_PATTERN" in flags:
        reasons.append(SOCK_PATTERN)
    if "INFLAMMATORY_BACK_PAIN_PATTERN" in flags:
        reasons.append(INFLAMMATORY)
    if answers["foot_drop"] is True or answers["heel_walk"] in HARD or answers["toe_walk"] in HARD:
        reasons.append(MOTOR_DEFICIT)
    if "NEUROGENIC_CLAUDICATION" in flags and (
        answers["has_diabetes"] is True or answers["smoking_status"] == "current"
    ):
        reasons.append(VASCULAR_CHECK)
    return reasons


def _startback_risk(flags: frozenset[str], derived: Mapping[str, object]) -> object:
    if "startback_risk" not in derived:
        raise ValueError("derived is missing startback_risk")
    risk = derived["startback_risk"]
    if risk not in STARTBACK_RISKS:
        raise ValueError(f"derived startback_risk {risk!r} is not one of low, medium, high, None")
    if ("STARTBACK_HIGH_RISK" in flags) != (risk == "high"):
        raise ValueError(f"STARTBACK_HIGH_RISK does not agree with startback_risk {risk!r}")
    return risk


def _advice(flags: frozenset[str], risk: object, proposed: frozenset[str]) -> list[str]:
    lines = []
    if isinstance(risk, str):
        lines.append(STARTBACK_ADVICE[risk])
    if "LIFESTYLE_RISK" in flags:
        lines.append(LIFESTYLE)
    if "DIABETIC_FOOT_RISK" in flags:
        lines.append(DIABETIC_FOOT_PROTECTION)
    # §4.1 "R4 needs foot pain": shoe and arch findings without an orthotic referral are
    # handled by advice; orthotics are not offered for back pain (NG59, §8.2).
    if flags & {"FOOTWEAR_RELATED", "FOOT_STRUCTURE"} and "orthotic_fitting" not in proposed:
        lines.append(FOOTWEAR)
        if "chiropractic" in proposed:
            lines.append(NO_ORTHOTICS_FOR_BACK)
    return lines


def referral_note(
    *,
    queue: str,
    queues: Collection[str],
    flag_codes: Collection[str],
    derived: Mapping[str, object],
    answers: Mapping[str, object],
    suggested_after_clearance: Collection[str],
) -> str:
    """The note for the referral to ``queue``, one of the case's proposed ``queues``."""
    _check_queue_codes("queue", [queue])
    _check_queue_codes("queues", queues)
    _check_queue_codes("suggested_after_clearance", suggested_after_clearance)
    if queue not in queues:
        raise ValueError(f"queue {queue!r} is not one of the case's queues {sorted(queues)}")
    flags = frozenset(flag_codes)
    red_flags = sorted(code for code in flags if code.startswith(RED_FLAG_PREFIX))
    # §0.3: a red flag makes urgent_medical_review the only queue, and nothing else leads there.
    if bool(red_flags) != (URGENT_MEDICAL_REVIEW in queues) or (
        red_flags and set(queues) != {URGENT_MEDICAL_REVIEW}
    ):
        raise ValueError("a red flag and urgent_medical_review as the only queue go together")
    if URGENT_MEDICAL_REVIEW in suggested_after_clearance or (
        suggested_after_clearance and not red_flags
    ):
        raise ValueError("suggested_after_clearance holds specialty queues for red-flag cases only")
    answers = _routing_answers(answers)
    risk = _startback_risk(flags, derived)
    proposed = frozenset(queues) | frozenset(suggested_after_clearance)

    lines: list[str] = []
    if queue == URGENT_MEDICAL_REVIEW:
        lines.append(RED_FLAGS_FIRST.format(codes=", ".join(red_flags)))
        if suggested_after_clearance:
            queue_list = _ordered_labels(suggested_after_clearance)
            lines.append(SUGGESTED_AFTER_CLEARANCE.format(queues=queue_list))
        else:
            lines.append(NOTHING_SUGGESTED)
        lines.extend(medical_oversight_reasons(flags, answers))
        return "\n".join(lines)

    if queue == "general_review":
        lines.extend(medical_oversight_reasons(flags, answers) or [NO_PATTERN])
    if queue == "chiropractic":
        lines.append(MANUAL_THERAPY)
    lines.extend(_advice(flags, risk, proposed))
    return "\n".join(lines)
