import dataclasses
import inspect
import itertools
import re

import pytest

from intake import messages
from intake.messages import (
    URGENCIES,
    PatientMessages,
    interrupt_message,
    patient_disclaimer,
    patient_messages,
    staff_disclaimer,
    staff_disclaimer_for,
    under_16_refusal,
)

EMERGENCY_NUMBER = "999"
URGENT_CARE_NUMBER = "111"

# Spec §4.3 and §7, word for word, with the placeholders filled and the bold markers dropped.
EMERGENCY = (
    "Based on your answers, you may need to be seen by a doctor today. Please call 999 or go to "
    "your nearest emergency department now. Do not wait for us to contact you. Show them this "
    "message."
)
URGENT = (
    "Some of your answers mean a clinician should look at your form soon. We aim to contact you "
    "by the end of the next working day. If your symptoms get worse before then, call 111 or go "
    "to an emergency department."
)
URGENT_WARNING_SIGNS = (
    "If you develop any of the warning signs below, get emergency help straight away."
)
ROUTINE = "Thank you. A member of our team will review your answers within 5 working days."
SAFETY_NET = (
    "Get emergency help straight away if you develop: numbness between your legs or around your "
    "back passage; new difficulty passing urine or controlling your bladder or bowels; new loss "
    "of feeling in your genitals, or new problems with erections or sexual feeling; or pain, "
    "numbness or weakness spreading to both legs."
)
DIABETIC_SAFETY_NET = (
    "If your foot or toes turn cold, pale, blue or black, call 999 now. If a new wound appears, "
    "or your foot becomes red, hot or swollen, contact your diabetes foot service or GP the same "
    "day; if they are closed, call 111."
)
PATIENT_DISCLAIMER = (
    "This questionnaire helps our team decide who should see you and how soon. It does not "
    "diagnose any condition and does not replace an examination by a qualified clinician. It is "
    "not monitored around the clock. If you have severe or rapidly worsening symptoms, new "
    "problems with your bladder or bowels, numbness between your legs, numbness or weakness in "
    "both legs, a foot that has turned cold or changed colour, or you feel very unwell with a "
    "fever, call 999 or go to an emergency department now."
)
STAFF_DISCLAIMER = (
    "These flags and queues come from a rule set (version 1.0.0) applied to patient self-report. "
    "They are prompts for clinical reasoning, not diagnoses. Red flags have limited diagnostic "
    "accuracy on their own [S9][S10], and a flag's absence does not rule out serious pathology. "
    "Examination findings that cannot be self-reported (reflexes, power grading, pulses, saddle "
    "sensation) must be checked clinically. Every referral requires clinician confirmation. "
    "Record any override and its reason. Flag explanations are written for staff. Do not pass "
    "them on to patients as a diagnosis."
)

# Words from flag codes, flag explanations and diagnoses that must never reach a patient (§3).
STAFF_ONLY_WORDS = [
    "flag",
    "cauda equina",
    "sciatic",
    "radiculopathy",
    "nerve root",
    "claudication",
    "ischaemia",
    "neuropathy",
    "metatarsalgia",
    "plantar",
    "spondyloarthritis",
    "inflammatory",
    "infection",
    "malignancy",
    "cancer",
    "pathology",
    "stenosis",
    "charcot",
    "start back",
]
FLAG_CODE = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")

ALL_COMBINATIONS = list(itertools.product(URGENCIES, [False, True], [False, True]))


def build(urgency: str, *, no_symptoms: bool, has_diabetes: bool) -> PatientMessages:
    return patient_messages(
        urgency=urgency,
        no_symptoms=no_symptoms,
        has_diabetes=has_diabetes,
        emergency_number=EMERGENCY_NUMBER,
        urgent_care_number=URGENT_CARE_NUMBER,
    )


def every_patient_text() -> list[str]:
    texts = [
        text
        for urgency, no_symptoms, has_diabetes in ALL_COMBINATIONS
        for text in build(urgency, no_symptoms=no_symptoms, has_diabetes=has_diabetes).as_list()
    ]
    texts.append(interrupt_message(emergency_number=EMERGENCY_NUMBER))
    texts.append(patient_disclaimer(emergency_number=EMERGENCY_NUMBER))
    texts.extend(under_16_refusal(emergency_number=EMERGENCY_NUMBER))
    return texts


@pytest.mark.parametrize(
    ("urgency", "no_symptoms", "has_diabetes"),
    ALL_COMBINATIONS,
    ids=[
        f"{u}-{'no_symptoms' if n else 'symptoms'}-{'diabetes' if d else 'no_diabetes'}"
        for u, n, d in ALL_COMBINATIONS
    ],
)
def test_patient_messages_for_every_combination(
    urgency: str, no_symptoms: bool, has_diabetes: bool
) -> None:
    messages = build(urgency, no_symptoms=no_symptoms, has_diabetes=has_diabetes)

    expected_urgency_message = {
        "emergency": EMERGENCY,
        "urgent": URGENT if no_symptoms else f"{URGENT} {URGENT_WARNING_SIGNS}",
        "routine": ROUTINE,
    }[urgency]
    expected_safety_net = None if no_symptoms else SAFETY_NET
    expected_diabetic_safety_net = DIABETIC_SAFETY_NET if has_diabetes else None
    assert messages == PatientMessages(
        urgency_message=expected_urgency_message,
        safety_net=expected_safety_net,
        diabetic_safety_net=expected_diabetic_safety_net,
    )
    assert messages.as_list() == [
        text
        for text in (expected_urgency_message, expected_safety_net, expected_diabetic_safety_net)
        if text is not None
    ]
    assert messages.as_dict() == dataclasses.asdict(messages)  # what an intake stores


@pytest.mark.parametrize("has_diabetes", [False, True])
def test_urgent_message_does_not_point_to_warning_signs_when_no_safety_net_is_shown(
    has_diabetes: bool,
) -> None:
    # A foot wound in someone with diabetes who reports no pain: urgent, no_symptoms (§4.3).
    messages = build("urgent", no_symptoms=True, has_diabetes=has_diabetes)

    assert messages.safety_net is None
    assert "below" not in messages.urgency_message
    assert "warning signs" not in messages.urgency_message


@pytest.mark.parametrize(("urgency", "no_symptoms", "has_diabetes"), ALL_COMBINATIONS)
def test_no_text_says_below_unless_the_safety_net_follows(
    urgency: str, no_symptoms: bool, has_diabetes: bool
) -> None:
    messages = build(urgency, no_symptoms=no_symptoms, has_diabetes=has_diabetes)

    texts = messages.as_list()
    for position, text in enumerate(texts):
        if "below" in text:
            assert SAFETY_NET in texts[position + 1 :]


def test_urgent_message_with_symptoms_points_to_the_safety_net_shown_below_it() -> None:
    texts = build("urgent", no_symptoms=False, has_diabetes=False).as_list()

    assert texts[0].endswith(URGENT_WARNING_SIGNS)
    assert texts[1] == SAFETY_NET


def test_numbers_are_substituted_and_no_placeholder_is_left() -> None:
    for text in every_patient_text():
        assert "[" not in text
        assert "]" not in text
    diabetic = build("routine", no_symptoms=False, has_diabetes=True).diabetic_safety_net
    assert diabetic is not None
    assert "call 999 now" in diabetic
    assert "call 111." in diabetic


def test_surrounding_whitespace_in_numbers_is_dropped() -> None:
    messages = patient_messages(
        urgency="emergency",
        no_symptoms=True,
        has_diabetes=False,
        emergency_number=" 112 ",
        urgent_care_number="111",
    )

    assert "Please call 112 or go" in messages.urgency_message


def test_patient_texts_never_contain_flag_codes_or_staff_words() -> None:
    for text in every_patient_text():
        assert not FLAG_CODE.search(text), text
        lowered = text.lower()
        for word in STAFF_ONLY_WORDS:
            assert word not in lowered, (word, text)
        assert "*" not in text


def test_patient_messages_cannot_receive_flags_or_explanations() -> None:
    parameters = set(inspect.signature(patient_messages).parameters)

    assert parameters == {
        "urgency",
        "no_symptoms",
        "has_diabetes",
        "emergency_number",
        "urgent_care_number",
        "translate",
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"urgency": "soon"}, "unknown urgency 'soon'"),
        ({"emergency_number": ""}, "emergency_number must not be blank"),
        ({"urgent_care_number": "  "}, "urgent_care_number must not be blank"),
    ],
)
def test_patient_messages_reject_bad_input(changes: dict[str, str], message: str) -> None:
    arguments: dict[str, str | bool] = {
        "urgency": "routine",
        "no_symptoms": False,
        "has_diabetes": False,
        "emergency_number": EMERGENCY_NUMBER,
        "urgent_care_number": URGENT_CARE_NUMBER,
    }
    arguments.update(changes)
    with pytest.raises(ValueError, match=message):
        patient_messages(**arguments)  # type: ignore[arg-type]


def test_translation_happens_before_the_numbers_are_filled_in() -> None:
    seen: list[str] = []

    def translate(message: str) -> str:
        seen.append(message)
        return f"FR({message})"

    messages = patient_messages(
        urgency="urgent",
        no_symptoms=False,
        has_diabetes=True,
        emergency_number=EMERGENCY_NUMBER,
        urgent_care_number=URGENT_CARE_NUMBER,
        translate=translate,
    )

    assert all("999" not in message and "111" not in message for message in seen)
    assert messages.urgency_message.startswith("FR(Some of your answers")
    assert "call 111 or go" in messages.urgency_message
    assert messages.urgency_message.endswith(f"FR({URGENT_WARNING_SIGNS})")
    assert messages.safety_net == f"FR({SAFETY_NET})"
    assert messages.diabetic_safety_net == f"FR({DIABETIC_SAFETY_NET})"


def test_interrupt_message_is_the_emergency_message_then_the_follow_up() -> None:
    assert interrupt_message(emergency_number=EMERGENCY_NUMBER) == (
        f"{EMERGENCY} You can finish this form later. Do not delay getting help."
    )


def test_patient_disclaimer_is_verbatim() -> None:
    assert patient_disclaimer(emergency_number=EMERGENCY_NUMBER) == PATIENT_DISCLAIMER


def test_a_list_names_every_ruleset_version_among_its_results_or_the_one_in_force() -> None:
    assert staff_disclaimer_for([], current="1.0.0") == STAFF_DISCLAIMER
    assert staff_disclaimer_for(["1.0.0", None, "1.0.0"], current="1.1.0") == STAFF_DISCLAIMER
    both = staff_disclaimer_for(["1.0.0", "0.9.0"], current="1.0.0")
    assert "(version 0.9.0, 1.0.0)" in both


def test_a_list_names_its_ruleset_versions_in_numeric_order() -> None:
    # As text, "0.10.0" sorts before "0.9.0", and "1.10.0" before "1.2.0".
    named = staff_disclaimer_for(["1.10.0", "0.10.0", "1.2.0", "0.9.0"], current="1.10.0")
    assert "(version 0.9.0, 0.10.0, 1.2.0, 1.10.0)" in named


def test_staff_disclaimer_is_verbatim_and_names_the_ruleset_version() -> None:
    assert staff_disclaimer(ruleset_version="1.0.0") == STAFF_DISCLAIMER
    assert "(version 1.1.0)" in staff_disclaimer(ruleset_version="1.1.0")


def test_under_16_refusal_sends_to_the_gp_and_shows_the_emergency_text() -> None:
    refusal, disclaimer = under_16_refusal(emergency_number=EMERGENCY_NUMBER)

    assert "16" in refusal
    assert "GP or family doctor" in refusal
    assert disclaimer == PATIENT_DISCLAIMER


def test_each_bold_word_sits_once_in_the_text_the_spec_sets_it_in():
    """intake.messages.EMPHASIS finds the spec's bold words by their phrases: a phrase reworded
    in a text would silently lose its bold."""
    from intake.questionnaire import FIELD_BY_CODE

    texts = [messages.EMERGENCY_MESSAGE, messages.SAFETY_NET, messages.PATIENT_DISCLAIMER] + [
        FIELD_BY_CODE[code].label for code in ("heel_walk", "toe_walk", "bladder_bowel_change")
    ]
    everything = [
        *texts,
        messages.DIABETIC_SAFETY_NET,
        messages.URGENT_MESSAGE,
        messages.ROUTINE_MESSAGE,
        messages.INTERRUPT_FOLLOW_UP,
    ]
    for phrase, word in messages.EMPHASIS:
        assert sum(text.count(phrase) for text in everything) == 1, phrase
        assert re.search(rf"\b{word}\b", phrase), phrase
    assert all(any(phrase in text for phrase, _ in messages.EMPHASIS) for text in texts)


def test_the_emphasis_filter_escapes_and_marks_only_the_specs_places():
    from intake.templatetags.patient_text import emphasised

    assert emphasised("<b>now</b> & seen by a doctor today") == (
        "&lt;b&gt;now&lt;/b&gt; &amp; seen by a doctor <strong>today</strong>"
    )
    assert emphasised("call 999 now") == "call 999 now"
