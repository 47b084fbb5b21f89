from collections.abc import Collection, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referrals.notes import (
    DIABETIC_FOOT_PROTECTION,
    FOOTWEAR,
    INCONSISTENT,
    INFLAMMATORY,
    LIFESTYLE,
    MANUAL_THERAPY,
    MOTOR_DEFICIT,
    NO_ORTHOTICS_FOR_BACK,
    NO_PATTERN,
    NOTHING_SUGGESTED,
    SOCK_PATTERN,
    STARTBACK_ADVICE,
    VASCULAR_CHECK,
    referral_note,
)

NO_ROUTING_ANSWERS = {
    "has_diabetes": False,
    "smoking_status": "never",
    "foot_drop": False,
    "heel_walk": "easy",
    "toe_walk": "easy",
}


def note(
    queue: str,
    *,
    queues: Collection[str] | None = None,
    flags: Collection[str] = (),
    startback_risk: str | None = None,
    answers: Mapping[str, object] | None = None,
    suggested: Collection[str] = (),
) -> list[str]:
    text = referral_note(
        queue=queue,
        queues=[queue] if queues is None else queues,
        flag_codes=flags,
        derived={"startback_risk": startback_risk},
        answers={**NO_ROUTING_ANSWERS, **(answers or {})},
        suggested_after_clearance=suggested,
    )
    return text.split("\n") if text else []


# --- footwear advice (§4.1 "R4 needs foot pain", §8.2) ------------------------------------------


def test_flat_feet_with_back_pain_only_get_footwear_advice_and_no_orthotics() -> None:
    # §4.5 V14: FOOT_STRUCTURE + BACK_PAIN without foot pain goes to chiropractic only.
    assert note("chiropractic", flags=["BACK_PAIN", "FOOT_STRUCTURE"]) == [
        MANUAL_THERAPY,
        FOOTWEAR,
        NO_ORTHOTICS_FOR_BACK,
    ]


def test_no_footwear_advice_when_orthotic_fitting_is_proposed() -> None:
    # §4.5 V13: FOOT_STRUCTURE + BACK_PAIN + FOOT_PAIN goes to chiropractic + orthotic_fitting.
    queues = ["chiropractic", "orthotic_fitting"]
    flags = ["BACK_PAIN", "FOOT_PAIN", "FOOT_STRUCTURE"]

    assert note("chiropractic", queues=queues, flags=flags) == [MANUAL_THERAPY]
    assert note("orthotic_fitting", queues=queues, flags=flags) == []


def test_diabetic_foot_risk_gets_foot_protection_and_footwear_advice_in_podiatry() -> None:
    # §4.5 V21: DIABETIC_FOOT_RISK + FOOT_STRUCTURE + FOOTWEAR_RELATED goes to podiatry only.
    lines = note(
        "podiatry",
        flags=["DIABETIC_FOOT_RISK", "FOOT_PAIN", "FOOT_STRUCTURE", "FOOTWEAR_RELATED"],
        answers={"has_diabetes": True},
    )

    assert lines == [DIABETIC_FOOT_PROTECTION, FOOTWEAR]


def test_footwear_related_knee_pain_in_general_review_gets_footwear_advice() -> None:
    assert note("general_review", flags=["FOOTWEAR_RELATED"]) == [NO_PATTERN, FOOTWEAR]


# --- lifestyle and STarT Back (§4.1 notes, §5 matched care) -------------------------------------


def test_lifestyle_risk_adds_lifestyle_advice() -> None:
    assert note("chiropractic", flags=["BACK_PAIN", "LIFESTYLE_RISK"]) == [
        MANUAL_THERAPY,
        LIFESTYLE,
    ]
    assert "weight, smoking, physical activity and workstation ergonomics" in LIFESTYLE


@pytest.mark.parametrize(
    ("risk", "flags", "expected"),
    [
        ("high", ["BACK_PAIN", "STARTBACK_HIGH_RISK"], STARTBACK_ADVICE["high"]),
        ("medium", ["BACK_PAIN"], STARTBACK_ADVICE["medium"]),
        ("low", ["BACK_PAIN"], STARTBACK_ADVICE["low"]),
    ],
)
def test_startback_risk_gives_matched_care(risk: str, flags: list[str], expected: str) -> None:
    assert note("chiropractic", flags=flags, startback_risk=risk) == [MANUAL_THERAPY, expected]


def test_startback_high_risk_names_the_more_intensive_package() -> None:
    high = STARTBACK_ADVICE["high"]

    assert "exercise, manual therapy and a psychological approach" in high
    assert "psychologically informed physical therapy" in high


def test_no_startback_line_without_the_module() -> None:
    assert note("chiropractic", flags=["BACK_PAIN"]) == [MANUAL_THERAPY]


def test_manual_therapy_is_only_offered_with_exercise_in_chiropractic_notes() -> None:
    assert "only as part of a treatment package that includes exercise" in MANUAL_THERAPY
    assert MANUAL_THERAPY not in note("podiatry", flags=["FOOT_PAIN", "PLANTAR_HEEL_PAIN"])


# --- general review reasons (R5, R6) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "answers", "expected"),
    [
        (["INCONSISTENT_ANSWERS"], {}, [INCONSISTENT]),
        (["PERIPHERAL_NEUROPATHY_PATTERN"], {}, [SOCK_PATTERN]),
        (["BACK_PAIN", "INFLAMMATORY_BACK_PAIN_PATTERN"], {}, [INFLAMMATORY]),
        (["BACK_PAIN"], {"foot_drop": True}, [MOTOR_DEFICIT]),
        (["BACK_PAIN"], {"heel_walk": "hard_one_side"}, [MOTOR_DEFICIT]),
        (["FOOT_PAIN"], {"toe_walk": "hard_both_sides"}, [MOTOR_DEFICIT]),
        (["NEUROGENIC_CLAUDICATION"], {"smoking_status": "current"}, [VASCULAR_CHECK]),
        (["NEUROGENIC_CLAUDICATION"], {"has_diabetes": True}, [VASCULAR_CHECK]),
        ([], {}, [NO_PATTERN]),
        (
            ["INCONSISTENT_ANSWERS", "NEUROGENIC_CLAUDICATION"],
            {"smoking_status": "current", "foot_drop": True},
            [INCONSISTENT, MOTOR_DEFICIT, VASCULAR_CHECK],
        ),
    ],
)
def test_general_review_note_gives_the_reasons(
    flags: list[str], answers: dict[str, object], expected: list[str]
) -> None:
    assert note("general_review", flags=flags, answers=answers) == expected


def test_claudication_in_a_former_smoker_without_diabetes_needs_no_pulse_check() -> None:
    lines = note(
        "chiropractic",
        flags=["BACK_PAIN", "NEUROGENIC_CLAUDICATION"],
        answers={"smoking_status": "former"},
    )

    assert VASCULAR_CHECK not in lines


def test_vascular_check_asks_for_foot_pulses() -> None:
    assert "foot pulses" in VASCULAR_CHECK
    assert "spondyloarthritis" in INFLAMMATORY
    assert "NG65" in INFLAMMATORY


def test_reasons_stay_out_of_specialty_notes() -> None:
    lines = note(
        "chiropractic",
        queues=["chiropractic", "general_review"],
        flags=["BACK_PAIN", "INCONSISTENT_ANSWERS"],
        answers={"foot_drop": True},
    )

    assert lines == [MANUAL_THERAPY]


# --- urgent medical review (§0.3, §4.1 "After red-flag clearance") ------------------------------


def test_red_flag_note_lists_red_flags_and_queues_suggested_after_clearance() -> None:
    # V09: sciatica with saddle numbness and bladder change.
    lines = note(
        "urgent_medical_review",
        flags=["BACK_PAIN", "RED_FLAG_CAUDA_EQUINA", "SCIATIC_PATTERN"],
        suggested=["chiropractic"],
    )

    assert lines == [
        "Red flags raised: RED_FLAG_CAUDA_EQUINA; clear or manage them before any other treatment.",
        "Suggested after clearance: chiropractic.",
    ]


def test_suggested_queues_are_listed_in_a_fixed_order() -> None:
    lines = note(
        "urgent_medical_review",
        flags=["RED_FLAG_SERIOUS_PATHOLOGY", "RED_FLAG_INFECTION", "BACK_PAIN", "FOOT_PAIN"],
        suggested=["general_review", "orthotic_fitting", "podiatry", "chiropractic"],
    )

    assert lines[0].startswith("Red flags raised: RED_FLAG_INFECTION, RED_FLAG_SERIOUS_PATHOLOGY;")
    assert lines[1] == (
        "Suggested after clearance: chiropractic, podiatry, orthotic fitting, general review."
    )


def test_red_flag_note_carries_medical_oversight_but_not_treatment_advice() -> None:
    lines = note(
        "urgent_medical_review",
        flags=[
            "BACK_PAIN",
            "FOOT_STRUCTURE",
            "LIFESTYLE_RISK",
            "NEUROGENIC_CLAUDICATION",
            "RED_FLAG_PROGRESSIVE_NEURO",
        ],
        answers={"foot_drop": True, "smoking_status": "current"},
        suggested=["chiropractic", "general_review"],
    )

    assert lines[2:] == [MOTOR_DEFICIT, VASCULAR_CHECK]
    assert LIFESTYLE not in lines
    assert FOOTWEAR not in lines
    assert MANUAL_THERAPY not in lines


def test_red_flag_note_says_when_nothing_is_suggested_after_clearance() -> None:
    lines = note("urgent_medical_review", flags=["RED_FLAG_LIMB_ISCHAEMIA"])

    assert lines[1] == NOTHING_SUGGESTED


# --- rejected input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"queue": "physio"}, "unknown queue codes"),
        ({"queue": "podiatry", "queues": ["chiropractic"]}, "not one of the case's queues"),
        ({"queues": ["chiropractic", "urgent_medical_review"]}, "go together"),
        ({"queue": "urgent_medical_review", "queues": ["urgent_medical_review"]}, "go together"),
        ({"flag_codes": ["RED_FLAG_INFECTION"]}, "go together"),
        ({"suggested_after_clearance": ["podiatry"]}, "red-flag cases only"),
        ({"answers": {"has_diabetes": False}}, "missing smoking_status, foot_drop"),
        ({"derived": {}}, "missing startback_risk"),
        ({"derived": {"startback_risk": "severe"}}, "is not one of"),
        ({"flag_codes": ["STARTBACK_HIGH_RISK"]}, "does not agree"),
        ({"derived": {"startback_risk": "high"}}, "does not agree"),
    ],
)
def test_referral_note_rejects_inconsistent_input(
    arguments: dict[str, object], message: str
) -> None:
    defaults: dict[str, object] = {
        "queue": "chiropractic",
        "queues": ["chiropractic"],
        "flag_codes": ["BACK_PAIN"],
        "derived": {"startback_risk": None},
        "answers": NO_ROUTING_ANSWERS,
        "suggested_after_clearance": [],
    }
    with pytest.raises(ValueError, match=message):
        referral_note(**{**defaults, **arguments})  # type: ignore[arg-type]


# --- properties ---------------------------------------------------------------------------------

NON_RED_FLAGS = [
    "BACK_PAIN",
    "FOOT_PAIN",
    "SCIATIC_PATTERN",
    "L5_RADICULOPATHY_SIGNS",
    "S1_RADICULOPATHY_SIGNS",
    "NEUROGENIC_CLAUDICATION",
    "FOOTWEAR_RELATED",
    "FOOT_STRUCTURE",
    "PLANTAR_HEEL_PAIN",
    "METATARSALGIA_PATTERN",
    "GAIT_COMPENSATION",
    "LIFESTYLE_RISK",
    "DIABETIC_FOOT_RISK",
    "PERIPHERAL_NEUROPATHY_PATTERN",
    "FOOT_WOUND_NON_DIABETIC",
    "INFLAMMATORY_BACK_PAIN_PATTERN",
    "INCONSISTENT_ANSWERS",
]
SPECIALTY_QUEUES = ["chiropractic", "podiatry", "orthotic_fitting", "general_review"]


@given(
    flags=st.sets(st.sampled_from(NON_RED_FLAGS)),
    queues=st.sets(st.sampled_from(SPECIALTY_QUEUES), min_size=1),
    risk=st.sampled_from([None, "low", "medium", "high"]),
    answers=st.fixed_dictionaries(
        {
            "has_diabetes": st.booleans(),
            "smoking_status": st.sampled_from(["never", "former", "current"]),
            "foot_drop": st.booleans(),
            "heel_walk": st.sampled_from(["easy", "hard_one_side", "hard_both_sides", "not_tried"]),
            "toe_walk": st.sampled_from(["easy", "hard_one_side", "hard_both_sides", "not_tried"]),
        }
    ),
    data=st.data(),
)
def test_every_note_line_is_one_short_sentence_and_none_repeats(
    flags: set[str],
    queues: set[str],
    risk: str | None,
    answers: dict[str, object],
    data: st.DataObject,
) -> None:
    if risk == "high":
        flags.add("STARTBACK_HIGH_RISK")
    queue = data.draw(st.sampled_from(sorted(queues)))

    lines = note(queue, queues=queues, flags=flags, startback_risk=risk, answers=answers)

    assert len(lines) == len(set(lines))
    for line in lines:
        assert line.endswith(".")
        assert ". " not in line
        assert len(line) <= 150
    footwear_expected = bool(flags & {"FOOTWEAR_RELATED", "FOOT_STRUCTURE"}) and (
        "orthotic_fitting" not in queues
    )
    assert (FOOTWEAR in lines) == footwear_expected
    assert (MANUAL_THERAPY in lines) == (queue == "chiropractic")
