"""The one definition of the questionnaire (spec §1)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from intake import triage
from intake.questionnaire import (
    CORE_FIELDS,
    FIELD_BY_CODE,
    FIELDS,
    QUESTIONNAIRE_VERSION,
    SECTIONS,
    fields_in_section,
    is_shown,
)
from tests.answers import make_answers


def test_version_is_1_0_0():
    assert QUESTIONNAIRE_VERSION == "1.0.0"


def test_there_are_55_core_fields_and_two_startback_module_fields():
    assert len(CORE_FIELDS) == 55
    assert [f.code for f in FIELDS if f.module] == ["sbst_total", "sbst_distress"]
    assert all(f.module == "startback" and f.nullable for f in FIELDS if f.module)


def test_field_codes_are_unique_snake_case():
    codes = [f.code for f in FIELDS]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", code) for code in codes)


def test_choice_codes_are_lowercase_snake_case_and_unique_per_field():
    for field in FIELDS:
        codes = [c.code for c in field.choices]
        assert len(codes) == len(set(codes)), field.code
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", code) for code in codes), field.code


def test_sections_are_in_form_order():
    assert [(s.letter, s.code) for s in SECTIONS] == [
        ("A", "about_you"),
        ("B", "pain_locations"),
        ("C", "pain_character"),
        ("D", "neuro"),
        ("E", "function_tests"),
        ("D2", "timing"),
        ("F", "footwear"),
        ("G", "injuries_gait"),
        ("H", "lifestyle"),
        ("I", "red_flags"),
        ("J", "consent"),
    ]


def test_section_sizes_match_the_spec():
    sizes = {s.code: len(fields_in_section(s.code)) for s in SECTIONS}
    assert sizes == {
        "about_you": 4,
        "pain_locations": 4,
        "pain_character": 7,
        "neuro": 6,
        "function_tests": 2,
        "timing": 3,
        "footwear": 6,
        "injuries_gait": 3,
        "lifestyle": 6,
        "red_flags": 12,
        "consent": 2,
    }


def test_form_order_follows_the_sections():
    in_sections = [f for s in SECTIONS for f in fields_in_section(s.code)]
    assert in_sections == list(CORE_FIELDS)


def test_function_tests_open_with_the_safety_text():
    section = next(s for s in SECTIONS if s.code == "function_tests")
    assert section.intro.startswith("Only try these if you feel steady.")


def test_patients_never_see_nerve_root_labels():
    for field in FIELDS:
        texts = [field.label, field.help_text, *(c.label for c in field.choices)]
        assert not any(re.search(r"\b(L4|L5|S1)\b|pattern\)", text) for text in texts)
    staff = {c.code: c.staff_label for c in FIELD_BY_CODE["numbness_areas"].choices}
    assert staff["shin_and_top_of_foot"] == "L5 pattern"
    assert staff["outer_foot_and_sole"] == "S1 pattern"
    assert staff["inner_shin"] == "L4 pattern"
    assert staff["both_feet_sock_area"] == "polyneuropathy pattern"


def test_interrupt_questions_are_the_three_emergency_questions():
    assert [f.code for f in FIELDS if f.interrupt] == [
        "bladder_bowel_change",
        "saddle_numbness",
        "foot_cold_or_discoloured",
    ]


def test_age_is_computed_by_the_server_within_16_to_110():
    age = FIELD_BY_CODE["age_years"]
    assert age.computed
    assert (age.kind, age.min_value, age.max_value) == ("int", 16, 110)
    assert [f.code for f in FIELDS if f.computed] == ["age_years"]


# Spec §1, copied from its tables: the ranges, types and codes the rules and the validation
# read. The range tests in test_validation.py take their limits from the questionnaire, so
# without these a changed limit (a height from 100 cm, a pain score to 11) went unnoticed.
SPEC_RANGES = {
    "age_years": (16, 110),
    "height_cm": (120, 220),
    "weight_kg": (30, 250),
    "pain_now_nrs": (0, 10),
    "pain_worst_7d_nrs": (0, 10),
    "high_heel_days_per_week": (0, 7),
    "standing_hours_per_day": (0, 16),
    "desk_hours_per_day": (0, 16),
    "exercise_days_per_week": (0, 7),
    "sbst_total": (0, 9),
    "sbst_distress": (0, 5),
}
SPEC_MULTI = ("pain_regions", "numbness_areas", "footwear_types")
SPEC_TEXT = ("main_concern",)
SIDES = ("none", "left", "right", "both")
DURATIONS = ("under_2_weeks", "weeks_2_to_6", "weeks_6_to_12", "over_12_weeks")
WALK_TEST = ("easy", "hard_one_side", "hard_both_sides", "not_tried")
SPEC_CHOICES = {
    "pain_regions": (
        "lower_back",
        "buttock",
        "mid_upper_back",
        "neck_shoulder",
        "hip",
        "back_of_thigh",
        "knee",
        "lower_leg",
        "ankle",
        "heel",
        "arch",
        "ball_of_foot",
        "top_of_foot",
        "toes",
    ),
    "leg_symptoms_side": SIDES,
    "pain_below_knee_side": SIDES,
    "numbness_areas": (
        "shin_and_top_of_foot",
        "outer_foot_and_sole",
        "inner_shin",
        "both_feet_sock_area",
        "other_area",
    ),
    "leg_neuro_side": SIDES,
    "heel_walk": WALK_TEST,
    "toe_walk": WALK_TEST,
    "symptom_duration": DURATIONS,
    "onset_type": ("gradual", "sudden_no_injury", "minor_injury", "major_injury"),
    "leg_symptoms_duration": DURATIONS,
    "footwear_types": (
        "cushioned_supportive",
        "flat_thin_soled",
        "high_heels",
        "safety_boots",
        "sandals_flip_flops",
        "barefoot_slippers",
    ),
    "arch_type": ("flat", "normal", "high", "unsure"),
    "foot_ankle_injury": ("none", "within_6_weeks", "weeks_6_to_52", "over_1_year"),
    "workstation_setup": ("adjusted", "not_adjusted", "unsure", "no_desk"),
    "smoking_status": ("never", "former", "current"),
}

# Spec §1's patient wording, verbatim (its bold words as plain text: Questionnaire 2 in
# docs/CLINICAL_DECISIONS.md), the date-of-birth question without the spec's note after it.
SPEC_WORDING = {
    "age_years": "What is your date of birth?",
    "height_cm": "How tall are you? (centimetres)",
    "weight_kg": "About how much do you weigh? (kilograms; an estimate is fine)",
    "has_diabetes": "Do you have diabetes (type 1 or type 2)?",
    "pain_regions": "Where do you have pain or aching at the moment? Tick all that apply.",
    "leg_symptoms_side": "Which leg has pain, numbness or tingling?",
    "pain_below_knee_side": (
        "Does pain travel from your lower back or buttock down a leg to below the knee? "
        "(It may reach your foot.) If so, which leg?"
    ),
    "leg_pain_worse_than_back": (
        "Is the pain in your leg worse than any pain in your back? If you have no leg "
        "pain, choose No."
    ),
    "main_concern": "In your own words, what is the main problem you would like help with?",
    "pain_now_nrs": "How bad is your pain right now? 0 = no pain, 10 = worst pain imaginable.",
    "pain_worst_7d_nrs": "How bad was your pain at its worst in the last 7 days? (0–10)",  # noqa: RUF001 (verbatim)
    "walking_leg_symptoms_relieved_sitting": (
        "When you walk or stand for a while, do your legs become painful, heavy, numb or "
        "weak, and then get better when you sit down or bend forward (for example, "
        "leaning on a shopping trolley)?"
    ),
    "first_steps_heel_pain": (
        "Is pain under your heel or arch at its worst with your first steps in the "
        "morning, or after sitting for a while?"
    ),
    "night_pain_constant": (
        "Do you have pain at night that does not ease whatever position you lie in?"
    ),
    "morning_stiffness_eases_with_movement": (
        "Is your back stiff for more than 30 minutes after waking, and does it get better "
        "when you move about?"
    ),
    "numbness_areas": (
        "Do you have numbness (reduced feeling) in any of these areas? Tick all that apply."
    ),
    "tingling": 'Do you have tingling or "pins and needles" in your leg or foot?',
    "leg_weak_or_heavy": "Does your leg feel weak or heavy?",
    "foot_drop": (
        "Do you find it hard to lift the front of your foot, so that it slaps down or "
        "your toes catch or trip?"
    ),
    "weakness_worsening": (
        "Is weakness in your legs or feet getting worse over hours, days or weeks?"
    ),
    "leg_neuro_side": "Which leg has numbness, tingling or weakness?",
    "heel_walk": (
        "Hold on and try to walk 5 steps on your heels, with the front of your feet "
        "lifted off the floor. How did it go?"
    ),
    "toe_walk": "Hold on and try to walk 5 steps up on your toes (tiptoe). How did it go?",
    "symptom_duration": (
        "How long have you had your current symptoms? If you have more than one problem, "
        "or a flare-up, answer for the one that started or got worse most recently."
    ),
    "onset_type": "How did it start?",
    "leg_symptoms_duration": (
        "How long have you had the pain, numbness, tingling or weakness in your leg(s)?"
    ),
    "footwear_types": "Which kinds of shoes do you wear on most days? Tick all that apply.",
    "high_heel_days_per_week": (
        "On how many days a week do you wear high heels (heels over about 5 cm / 2 inches)?"
    ),
    "shoes_worn_or_ill_fitting": (
        "Are the shoes you wear most either worn out (flattened cushioning, soles or "
        "heels worn down) or a poor fit (tight, pinching at the toes, or loose)?"
    ),
    "arch_type": "How would you describe the arches of your feet?",
    "pain_varies_with_shoes": (
        "Does your foot, leg or back pain clearly change depending on which shoes you wear?"
    ),
    "standing_hours_per_day": (
        "On a typical day, how many hours do you spend standing or walking (including at work)?"
    ),
    "foot_ankle_injury": (
        "Have you injured your foot or ankle (for example a sprain or a broken bone)?"
    ),
    "walks_differently": (
        "Since your foot, ankle or leg problem started, do you walk differently, for "
        "example limping or favouring one side?"
    ),
    "back_pain_after_foot_problem": (
        "Did pain in your back, hip or knee start or get worse after your foot or ankle "
        "problem began?"
    ),
    "desk_hours_per_day": "On a typical day, how many hours do you sit at a desk or screen?",
    "leans_forward_sitting": (
        "When you sit at a desk or screen, do you usually lean or hunch forward?"
    ),
    "workstation_setup": (
        "Has your desk, chair and screen been set up to suit you (for example chair "
        "height, screen at eye level)?"
    ),
    "smoking_status": "Do you smoke?",
    "exercise_days_per_week": (
        "On how many days in a typical week are you active for at least 30 minutes (for "
        "example brisk walking, cycling or swimming)?"
    ),
    "pain_stops_usual_activities": (
        "Has the pain stopped you working or doing your usual daily activities in the last month?"
    ),
    "bladder_bowel_change": (
        "Since this problem started, have you had any new problems with your bladder or "
        "bowels? For example: difficulty starting to pass urine, a weak stream, not "
        "feeling when your bladder is full, or leaking or loss of control."
    ),
    "saddle_numbness": (
        "Do you have new numbness or tingling between your legs, around your genitals or "
        "back passage, or on the buttocks where you would sit on a saddle?"
    ),
    "fever_or_chills": (
        "In the last 7 days, have you had a temperature of 38°C or more, or shaking chills?"
    ),
    "feels_unwell": "Apart from the pain, do you feel generally unwell in yourself?",
    "cancer_history": (
        "Have you ever been diagnosed with cancer? Do count melanoma. You may leave out "
        "other skin cancers that were simply cut out."
    ),
    "weight_loss_unexplained": (
        "Have you lost weight recently without trying (for example, your clothes have "
        "become loose)?"
    ),
    "immune_risk": (
        "Do you have a weakened immune system (for example from chemotherapy, transplant "
        "or other immune-suppressing medicines, or HIV), or do you inject drugs?"
    ),
    "bone_fragility": (
        "Have you been told you have osteoporosis (thin bones), or have you taken steroid "
        "tablets such as prednisolone for more than 3 months?"
    ),
    "cannot_bear_weight": (
        "Since this problem started, have you been unable to put weight on your foot or "
        "leg, or to take 4 steps (with your usual walking aid, if you use one)?"
    ),
    "foot_wound": (
        "Do you have an open sore, wound, blister or ulcer on your foot that has not healed?"
    ),
    "foot_red_hot_swollen": "Is your foot or ankle red, hot and swollen?",
    "foot_cold_or_discoloured": (
        "Has part of your foot or toes recently turned pale, blue or black and stayed "
        "that way, or become cold compared with the other foot? (Not bruising from an "
        "injury, and not colour that comes back when warmed.)"
    ),
    "consent_data_processing": (
        "I agree that the clinic may store and use my answers, including health "
        "information, to assess my symptoms and arrange my care."
    ),
    "acknowledged_not_emergency": (
        "I understand this form is not watched all the time and is not for emergencies. "
        "If my symptoms are severe or getting worse, I will call the emergency number or "
        "go to an emergency department."
    ),
}


# The patient's words for each choice (§1's code lists), in the spec's order.
SIDE_LABELS = ("Neither leg", "Left", "Right", "Both legs")
DURATION_LABELS = ("Less than 2 weeks", "2 to 6 weeks", "6 to 12 weeks", "More than 12 weeks")
WALK_TEST_LABELS = (
    "I could do it",
    "One foot was too weak to stay up",
    "Both feet were too weak to stay up",
    "I didn't try / it wasn't safe",
)
SPEC_CHOICE_LABELS = {
    "pain_regions": (
        "Lower back",
        "Buttock",
        "Middle or upper back (between or below the shoulder blades)",
        "Neck or shoulder",
        "Hip or groin",
        "Back of the thigh",
        "Knee",
        "Calf or shin",
        "Ankle",
        "Heel",
        "Arch (middle of the sole)",
        "Ball of the foot (just behind the toes)",
        "Top of the foot",
        "Toes",
    ),
    "leg_symptoms_side": SIDE_LABELS,
    "pain_below_knee_side": ("No", "Yes, the left leg", "Yes, the right leg", "Yes, both legs"),
    "numbness_areas": (
        "The front or outer side of the shin, and the top of the foot or big toe",
        "The outer edge of the foot, the little toe or the sole",
        "The inner side of the shin",
        "Both feet, in the area a sock would cover",
        "Somewhere else in the leg or foot",
    ),
    "leg_neuro_side": SIDE_LABELS,
    "heel_walk": WALK_TEST_LABELS,
    "toe_walk": WALK_TEST_LABELS,
    "symptom_duration": DURATION_LABELS,
    "onset_type": (
        "Gradually, for no clear reason",
        "Suddenly, without an injury (for example bending or lifting)",
        "After a minor injury such as a trip, a twist or a fall from standing height",
        "After a major injury such as a road accident, a fall from a height or a hard sports "
        "collision",
    ),
    "leg_symptoms_duration": DURATION_LABELS,
    "footwear_types": (
        "Cushioned, supportive shoes or trainers",
        "Flat, thin-soled shoes (e.g. ballet flats, plimsolls)",
        "High heels",
        "Work or safety boots",
        "Sandals or flip-flops",
        "Mostly barefoot, in socks or in slippers",
    ),
    "arch_type": (
        "Flat or low arches (most of the sole touches the floor)",
        "Normal",
        "High arches",
        "Not sure",
    ),
    "foot_ankle_injury": (
        "No",
        "Yes, in the last 6 weeks",
        "Yes, between 6 weeks and a year ago",
        "Yes, more than a year ago",
    ),
    "workstation_setup": ("Yes", "No", "Not sure", "I don't use a desk"),
    "smoking_status": ("I have never smoked", "I used to smoke", "I smoke now (even occasionally)"),
}
# The help texts and section texts §1 gives (Questionnaire 3 for where each goes).
WALK_TEST_HELP = (
    "Choose a 'too weak' answer only if the foot would not lift or stay up. If it just hurt, "
    "choose 'I could do it'."
)
SPEC_HELP = {
    "leg_neuro_side": "Numbness or tingling in a foot counts for that leg.",
    "heel_walk": WALK_TEST_HELP,
    "toe_walk": WALK_TEST_HELP,
}
SPEC_SECTION_INTROS = {
    "function_tests": (
        "Only try these if you feel steady. Stand next to a kitchen counter or wall and hold on. "
        "Skip them if you are unsteady or have had a recent fall."
    ),
    "red_flags": "These questions check for rare but important problems. Please answer every one.",
}


def test_number_ranges_are_the_specs():
    assert {f.code: (f.min_value, f.max_value) for f in FIELDS if f.kind == "int"} == SPEC_RANGES


def test_choice_codes_are_the_specs_in_the_specs_order():
    assert {f.code: tuple(c.code for c in f.choices) for f in FIELDS if f.choices} == SPEC_CHOICES


def test_every_question_asks_the_specs_words():
    assert {f.code: f.label for f in CORE_FIELDS} == SPEC_WORDING


def test_every_choice_says_the_specs_words():
    assert {f.code: tuple(c.label for c in f.choices) for f in FIELDS if f.choices} == (
        SPEC_CHOICE_LABELS
    )


def test_help_and_section_texts_are_the_specs():
    assert {f.code: f.help_text for f in FIELDS if f.help_text} == SPEC_HELP
    assert {s.code: s.intro for s in SECTIONS if s.intro} == SPEC_SECTION_INTROS


def test_every_other_question_is_a_yes_no_question():
    # §0.8: the 30 bool fields are required Yes/No radios with nothing pre-selected.
    kinds = {f.code: f.kind for f in CORE_FIELDS}
    assert {code for code, kind in kinds.items() if kind == "multi"} == set(SPEC_MULTI)
    assert {code for code, kind in kinds.items() if kind == "text"} == set(SPEC_TEXT)
    assert {code for code, kind in kinds.items() if kind == "single"} == (
        SPEC_CHOICES.keys() - set(SPEC_MULTI)
    )
    bools = {code for code, kind in kinds.items() if kind == "bool"}
    assert len(bools) == 30
    assert bools == kinds.keys() - SPEC_RANGES.keys() - SPEC_CHOICES.keys() - set(SPEC_TEXT)


def test_consent_fields_must_be_true():
    assert [f.code for f in FIELDS if f.must_be_true] == [
        "consent_data_processing",
        "acknowledged_not_emergency",
    ]


def test_only_the_timing_questions_are_conditional():
    assert {f.code: f.show_when for f in FIELDS if f.show_when} == {
        "symptom_duration": "any_symptoms",
        "onset_type": "any_symptoms",
        "leg_symptoms_duration": "leg_symptoms",
    }
    assert {f.code for f in CORE_FIELDS if f.nullable} == {
        "symptom_duration",
        "onset_type",
        "leg_symptoms_duration",
    }


def test_fields_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        FIELD_BY_CODE["age_years"].label = "Age"  # type: ignore[misc]


def test_timing_is_hidden_when_no_symptoms_and_shown_otherwise():
    duration = FIELD_BY_CODE["symptom_duration"]
    assert not is_shown(duration, make_answers())
    assert is_shown(duration, make_answers(pain_regions=["knee"]))


def test_leg_duration_is_shown_only_for_leg_symptoms():
    leg = FIELD_BY_CODE["leg_symptoms_duration"]
    assert not is_shown(leg, make_answers(pain_regions=["heel"]))
    assert is_shown(leg, make_answers(leg_neuro_side="left", tingling=True))
    assert is_shown(leg, make_answers(pain_below_knee_side="right", leg_symptoms_side="right"))


def test_unanswered_questions_count_as_no_symptom_while_filling_in_the_form():
    assert not is_shown(FIELD_BY_CODE["symptom_duration"], {})
    assert is_shown(FIELD_BY_CODE["symptom_duration"], {"tingling": True})
    assert not is_shown(FIELD_BY_CODE["leg_symptoms_duration"], {"leg_symptoms_side": None})


def test_startback_module_is_never_shown_on_the_patient_form():
    for code in ("sbst_total", "sbst_distress"):
        assert not is_shown(FIELD_BY_CODE[code], make_answers(pain_regions=["lower_back"]))


def test_unknown_section_is_an_error():
    with pytest.raises(KeyError):
        fields_in_section("X")


def test_every_code_the_rules_name_is_a_real_choice():
    # A typo in a rule's code set would silently never match.
    regions = {c.code for c in FIELD_BY_CODE["pain_regions"].choices}
    assert regions >= triage.FOOT_REGIONS | triage.SPINAL_REGIONS | triage.GAIT_STRAIN_REGIONS
    assert regions >= triage.FOOT_STRUCTURE_REGIONS
    walks = {c.code for c in FIELD_BY_CODE["heel_walk"].choices}
    assert walks >= triage.HARD
    durations = {c.code for c in FIELD_BY_CODE["symptom_duration"].choices}
    assert durations >= triage.RECENT_DURATIONS
    numbness = {c.code for c in FIELD_BY_CODE["numbness_areas"].choices}
    assert numbness >= triage.DERMATOMAL_AREAS
    footwear = {c.code for c in FIELD_BY_CODE["footwear_types"].choices}
    assert footwear >= triage.UNSUPPORTIVE_FOOTWEAR | {"cushioned_supportive"}


def test_every_answer_a_rule_reads_is_a_field():
    for rule in triage.RULES:
        assert set(rule.reads) <= set(FIELD_BY_CODE), rule.code
    for reads in triage.DERIVED_READS.values():
        assert set(reads) <= set(FIELD_BY_CODE)


def test_red_flag_section_title_avoids_staff_vocabulary():
    section = next(s for s in SECTIONS if s.code == "red_flags")
    assert "flag" not in section.title.lower()
    assert section.intro == (
        "These questions check for rare but important problems. Please answer every one."
    )


def test_labels_are_plain_text_without_markdown():
    for field in FIELDS:
        for text in (field.label, field.help_text, *(c.label for c in field.choices)):
            assert "*" not in text, field.code
    assert "on your heels, with the front" in FIELD_BY_CODE["heel_walk"].label
    assert "had any new problems" in FIELD_BY_CODE["bladder_bowel_change"].label
