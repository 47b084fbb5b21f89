"""The one definition of the intake questionnaire (spec §1).

Everything else (the patient form, the API schema, the FHIR export, validation, triage input and
the test data generator) reads the questions from here. Add or reword a question here and nowhere
else. Pure Python: no Django imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from intake.messages import gettext_noop
from intake.triage import leg_symptoms_reported, no_symptoms

QUESTIONNAIRE_VERSION: Final = "1.0.0"

Kind = Literal["bool", "int", "single", "multi", "text"]
ShowWhen = Literal["any_symptoms", "leg_symptoms"]
# When a conditional question applies, for those who ask the questions elsewhere (the API's
# schema, docs/API.md): intake.triage's no_symptoms and leg_symptoms_reported in words.
_LEG_SIDES: Final = "`leg_symptoms_side`, `pain_below_knee_side` or `leg_neuro_side` not `none`"
SHOW_WHEN: Final[Mapping[ShowWhen, str]] = {
    "any_symptoms": "a symptom is reported: any of `pain_regions` or `numbness_areas` ticked, "
    f"{_LEG_SIDES}, `tingling`, `leg_weak_or_heavy`, `foot_drop` or `weakness_worsening` true, "
    "or `heel_walk` or `toe_walk` `hard_one_side` or `hard_both_sides`",
    "leg_symptoms": f"leg symptoms are reported: {_LEG_SIDES}",
}


@dataclass(frozen=True, slots=True)
class Choice:
    code: str
    label: str
    # Staff-only wording, such as the nerve-root pattern of a numbness area. Patients never see it.
    staff_label: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    code: str
    title: str
    intro: str = ""
    letter: str = ""


@dataclass(frozen=True, slots=True)
class Field:
    code: str
    kind: Kind
    section: str
    label: str
    help_text: str = ""
    choices: tuple[Choice, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    nullable: bool = False
    module: str | None = None
    show_when: ShowWhen | None = None
    max_length: int | None = None
    computed: bool = False
    interrupt: bool = False
    must_be_true: bool = False

    @property
    def choice_codes(self) -> frozenset[str]:
        return frozenset(choice.code for choice in self.choices)


SECTIONS: Final[tuple[Section, ...]] = (
    Section("about_you", gettext_noop("About you"), letter="A"),
    Section("pain_locations", gettext_noop("Pain locations and body regions"), letter="B"),
    Section("pain_character", gettext_noop("Pain character"), letter="C"),
    Section("neuro", gettext_noop("Neurological symptoms"), letter="D"),
    Section(
        "function_tests",
        gettext_noop("Function tests"),
        intro=(
            gettext_noop(
                "Only try these if you feel steady. Stand next to a kitchen counter or wall and hold "
                "on. Skip them if you are unsteady or have had a recent fall."
            )
        ),
        letter="E",
    ),
    Section("timing", gettext_noop("Timing of this episode"), letter="D2"),
    Section("footwear", gettext_noop("Footwear and foot structure"), letter="F"),
    Section("injuries_gait", gettext_noop("Injuries and gait"), letter="G"),
    Section("lifestyle", gettext_noop("Work and lifestyle habits"), letter="H"),
    # The spec calls this section "Red flags"; that is staff vocabulary, so patients see a neutral
    # heading (see docs/CLINICAL_DECISIONS.md).
    Section(
        "red_flags",
        gettext_noop("Important health questions"),
        intro=gettext_noop(
            "These questions check for rare but important problems. Please answer every one."
        ),
        letter="I",
    ),
    Section("consent", gettext_noop("Consent"), letter="J"),
)

SECTION_BY_CODE: Final[Mapping[str, Section]] = {section.code: section for section in SECTIONS}


SIDES: Final = (
    Choice("none", gettext_noop("Neither leg")),
    Choice("left", gettext_noop("Left")),
    Choice("right", gettext_noop("Right")),
    Choice("both", gettext_noop("Both legs")),
)
DURATIONS: Final = (
    Choice("under_2_weeks", gettext_noop("Less than 2 weeks")),
    Choice("weeks_2_to_6", gettext_noop("2 to 6 weeks")),
    Choice("weeks_6_to_12", gettext_noop("6 to 12 weeks")),
    Choice("over_12_weeks", gettext_noop("More than 12 weeks")),
)
WALK_TEST_RESULTS: Final = (
    Choice("easy", gettext_noop("I could do it")),
    Choice("hard_one_side", gettext_noop("One foot was too weak to stay up")),
    Choice("hard_both_sides", gettext_noop("Both feet were too weak to stay up")),
    Choice("not_tried", gettext_noop("I didn't try / it wasn't safe")),
)
WALK_TEST_HELP: Final = gettext_noop(
    "Choose a 'too weak' answer only if the foot would not lift or stay up. "
    "If it just hurt, choose 'I could do it'."
)


def _bool(code: str, section: str, label: str, **extra: Any) -> Field:
    return Field(code, "bool", section, label, **extra)


def _int(code: str, section: str, label: str, low: int, high: int, **extra: Any) -> Field:
    return Field(code, "int", section, label, min_value=low, max_value=high, **extra)


def _single(
    code: str, section: str, label: str, choices: tuple[Choice, ...], **extra: Any
) -> Field:
    return Field(code, "single", section, label, choices=choices, **extra)


def _multi(code: str, section: str, label: str, choices: tuple[Choice, ...], **extra: Any) -> Field:
    return Field(code, "multi", section, label, choices=choices, **extra)


FIELDS: Final[tuple[Field, ...]] = (
    # A. About you
    _int(
        "age_years",
        "about_you",
        gettext_noop("What is your date of birth?"),
        16,
        110,
        # The form asks for the date of birth; the server turns it into completed years (§1 A).
        computed=True,
    ),
    _int("height_cm", "about_you", gettext_noop("How tall are you? (centimetres)"), 120, 220),
    _int(
        "weight_kg",
        "about_you",
        gettext_noop("About how much do you weigh? (kilograms; an estimate is fine)"),
        30,
        250,
    ),
    _bool("has_diabetes", "about_you", gettext_noop("Do you have diabetes (type 1 or type 2)?")),
    # B. Pain locations and body regions
    _multi(
        "pain_regions",
        "pain_locations",
        gettext_noop("Where do you have pain or aching at the moment? Tick all that apply."),
        (
            Choice("lower_back", gettext_noop("Lower back")),
            Choice("buttock", gettext_noop("Buttock")),
            Choice(
                "mid_upper_back",
                gettext_noop("Middle or upper back (between or below the shoulder blades)"),
            ),
            Choice("neck_shoulder", gettext_noop("Neck or shoulder")),
            Choice("hip", gettext_noop("Hip or groin")),
            Choice("back_of_thigh", gettext_noop("Back of the thigh")),
            Choice("knee", gettext_noop("Knee")),
            Choice("lower_leg", gettext_noop("Calf or shin")),
            Choice("ankle", gettext_noop("Ankle")),
            Choice("heel", gettext_noop("Heel")),
            Choice("arch", gettext_noop("Arch (middle of the sole)")),
            Choice("ball_of_foot", gettext_noop("Ball of the foot (just behind the toes)")),
            Choice("top_of_foot", gettext_noop("Top of the foot")),
            Choice("toes", gettext_noop("Toes")),
        ),
    ),
    _single(
        "leg_symptoms_side",
        "pain_locations",
        gettext_noop("Which leg has pain, numbness or tingling?"),
        SIDES,
    ),
    _single(
        "pain_below_knee_side",
        "pain_locations",
        gettext_noop(
            "Does pain travel from your lower back or buttock down a leg to below the knee? "
            "(It may reach your foot.) If so, which leg?"
        ),
        (
            Choice("none", gettext_noop("No")),
            Choice("left", gettext_noop("Yes, the left leg")),
            Choice("right", gettext_noop("Yes, the right leg")),
            Choice("both", gettext_noop("Yes, both legs")),
        ),
    ),
    _bool(
        "leg_pain_worse_than_back",
        "pain_locations",
        gettext_noop(
            "Is the pain in your leg worse than any pain in your back? "
            "If you have no leg pain, choose No."
        ),
    ),
    # C. Pain character
    Field(
        "main_concern",
        "text",
        "pain_character",
        gettext_noop("In your own words, what is the main problem you would like help with?"),
        max_length=1000,
    ),
    _int(
        "pain_now_nrs",
        "pain_character",
        gettext_noop("How bad is your pain right now? 0 = no pain, 10 = worst pain imaginable."),
        0,
        10,
    ),
    _int(
        "pain_worst_7d_nrs",
        "pain_character",
        gettext_noop("How bad was your pain at its worst in the last 7 days? (0–10)"),  # noqa: RUF001 (verbatim)
        0,
        10,
    ),
    _bool(
        "walking_leg_symptoms_relieved_sitting",
        "pain_character",
        gettext_noop(
            "When you walk or stand for a while, do your legs become painful, heavy, numb or weak, "
            "and then get better when you sit down or bend forward (for example, leaning on a "
            "shopping trolley)?"
        ),
    ),
    _bool(
        "first_steps_heel_pain",
        "pain_character",
        gettext_noop(
            "Is pain under your heel or arch at its worst with your first steps in the morning, "
            "or after sitting for a while?"
        ),
    ),
    _bool(
        "night_pain_constant",
        "pain_character",
        gettext_noop("Do you have pain at night that does not ease whatever position you lie in?"),
    ),
    _bool(
        "morning_stiffness_eases_with_movement",
        "pain_character",
        gettext_noop(
            "Is your back stiff for more than 30 minutes after waking, and does it get better when "
            "you move about?"
        ),
    ),
    # D. Neurological symptoms
    _multi(
        "numbness_areas",
        "neuro",
        gettext_noop(
            "Do you have numbness (reduced feeling) in any of these areas? Tick all that apply."
        ),
        (
            Choice(
                "shin_and_top_of_foot",
                gettext_noop(
                    "The front or outer side of the shin, and the top of the foot or big toe"
                ),
                staff_label="L5 pattern",
            ),
            Choice(
                "outer_foot_and_sole",
                gettext_noop("The outer edge of the foot, the little toe or the sole"),
                staff_label="S1 pattern",
            ),
            Choice(
                "inner_shin", gettext_noop("The inner side of the shin"), staff_label="L4 pattern"
            ),
            Choice(
                "both_feet_sock_area",
                gettext_noop("Both feet, in the area a sock would cover"),
                staff_label="polyneuropathy pattern",
            ),
            Choice("other_area", gettext_noop("Somewhere else in the leg or foot")),
        ),
    ),
    _bool(
        "tingling",
        "neuro",
        gettext_noop('Do you have tingling or "pins and needles" in your leg or foot?'),
    ),
    _bool("leg_weak_or_heavy", "neuro", gettext_noop("Does your leg feel weak or heavy?")),
    _bool(
        "foot_drop",
        "neuro",
        gettext_noop(
            "Do you find it hard to lift the front of your foot, so that it slaps down or your toes "
            "catch or trip?"
        ),
    ),
    _bool(
        "weakness_worsening",
        "neuro",
        gettext_noop("Is weakness in your legs or feet getting worse over hours, days or weeks?"),
    ),
    _single(
        "leg_neuro_side",
        "neuro",
        gettext_noop("Which leg has numbness, tingling or weakness?"),
        SIDES,
        help_text=gettext_noop("Numbness or tingling in a foot counts for that leg."),
    ),
    # E. Function tests
    _single(
        "heel_walk",
        "function_tests",
        gettext_noop(
            "Hold on and try to walk 5 steps on your heels, with the front of your feet lifted off "
            "the floor. How did it go?"
        ),
        WALK_TEST_RESULTS,
        help_text=WALK_TEST_HELP,
    ),
    _single(
        "toe_walk",
        "function_tests",
        gettext_noop("Hold on and try to walk 5 steps up on your toes (tiptoe). How did it go?"),
        WALK_TEST_RESULTS,
        help_text=WALK_TEST_HELP,
    ),
    # D2. Timing of this episode
    _single(
        "symptom_duration",
        "timing",
        gettext_noop(
            "How long have you had your current symptoms? If you have more than one problem, or a "
            "flare-up, answer for the one that started or got worse most recently."
        ),
        DURATIONS,
        nullable=True,
        show_when="any_symptoms",
    ),
    _single(
        "onset_type",
        "timing",
        gettext_noop("How did it start?"),
        (
            Choice("gradual", gettext_noop("Gradually, for no clear reason")),
            Choice(
                "sudden_no_injury",
                gettext_noop("Suddenly, without an injury (for example bending or lifting)"),
            ),
            Choice(
                "minor_injury",
                gettext_noop(
                    "After a minor injury such as a trip, a twist or a fall from standing height"
                ),
            ),
            Choice(
                "major_injury",
                gettext_noop(
                    "After a major injury such as a road accident, a fall from a height or a hard "
                    "sports collision"
                ),
            ),
        ),
        nullable=True,
        show_when="any_symptoms",
    ),
    _single(
        "leg_symptoms_duration",
        "timing",
        gettext_noop(
            "How long have you had the pain, numbness, tingling or weakness in your leg(s)?"
        ),
        DURATIONS,
        nullable=True,
        show_when="leg_symptoms",
    ),
    # F. Footwear and foot structure
    _multi(
        "footwear_types",
        "footwear",
        gettext_noop("Which kinds of shoes do you wear on most days? Tick all that apply."),
        (
            Choice("cushioned_supportive", gettext_noop("Cushioned, supportive shoes or trainers")),
            Choice(
                "flat_thin_soled",
                gettext_noop("Flat, thin-soled shoes (e.g. ballet flats, plimsolls)"),
            ),
            Choice("high_heels", gettext_noop("High heels")),
            Choice("safety_boots", gettext_noop("Work or safety boots")),
            Choice("sandals_flip_flops", gettext_noop("Sandals or flip-flops")),
            Choice("barefoot_slippers", gettext_noop("Mostly barefoot, in socks or in slippers")),
        ),
    ),
    _int(
        "high_heel_days_per_week",
        "footwear",
        gettext_noop(
            "On how many days a week do you wear high heels (heels over about 5 cm / 2 inches)?"
        ),
        0,
        7,
    ),
    _bool(
        "shoes_worn_or_ill_fitting",
        "footwear",
        gettext_noop(
            "Are the shoes you wear most either worn out (flattened cushioning, soles or heels worn "
            "down) or a poor fit (tight, pinching at the toes, or loose)?"
        ),
    ),
    _single(
        "arch_type",
        "footwear",
        gettext_noop("How would you describe the arches of your feet?"),
        (
            Choice("flat", gettext_noop("Flat or low arches (most of the sole touches the floor)")),
            Choice("normal", gettext_noop("Normal")),
            Choice("high", gettext_noop("High arches")),
            Choice("unsure", gettext_noop("Not sure")),
        ),
    ),
    _bool(
        "pain_varies_with_shoes",
        "footwear",
        gettext_noop(
            "Does your foot, leg or back pain clearly change depending on which shoes you wear?"
        ),
    ),
    _int(
        "standing_hours_per_day",
        "footwear",
        gettext_noop(
            "On a typical day, how many hours do you spend standing or walking (including at work)?"
        ),
        0,
        16,
    ),
    # G. Injuries and gait
    _single(
        "foot_ankle_injury",
        "injuries_gait",
        gettext_noop(
            "Have you injured your foot or ankle (for example a sprain or a broken bone)?"
        ),
        (
            Choice("none", gettext_noop("No")),
            Choice("within_6_weeks", gettext_noop("Yes, in the last 6 weeks")),
            Choice("weeks_6_to_52", gettext_noop("Yes, between 6 weeks and a year ago")),
            Choice("over_1_year", gettext_noop("Yes, more than a year ago")),
        ),
    ),
    _bool(
        "walks_differently",
        "injuries_gait",
        gettext_noop(
            "Since your foot, ankle or leg problem started, do you walk differently, for example "
            "limping or favouring one side?"
        ),
    ),
    _bool(
        "back_pain_after_foot_problem",
        "injuries_gait",
        gettext_noop(
            "Did pain in your back, hip or knee start or get worse after your foot or ankle problem "
            "began?"
        ),
    ),
    # H. Work and lifestyle habits
    _int(
        "desk_hours_per_day",
        "lifestyle",
        gettext_noop("On a typical day, how many hours do you sit at a desk or screen?"),
        0,
        16,
    ),
    _bool(
        "leans_forward_sitting",
        "lifestyle",
        gettext_noop("When you sit at a desk or screen, do you usually lean or hunch forward?"),
    ),
    _single(
        "workstation_setup",
        "lifestyle",
        gettext_noop(
            "Has your desk, chair and screen been set up to suit you (for example chair height, "
            "screen at eye level)?"
        ),
        (
            Choice("adjusted", gettext_noop("Yes")),
            Choice("not_adjusted", gettext_noop("No")),
            Choice("unsure", gettext_noop("Not sure")),
            Choice("no_desk", gettext_noop("I don't use a desk")),
        ),
    ),
    _single(
        "smoking_status",
        "lifestyle",
        gettext_noop("Do you smoke?"),
        (
            Choice("never", gettext_noop("I have never smoked")),
            Choice("former", gettext_noop("I used to smoke")),
            Choice("current", gettext_noop("I smoke now (even occasionally)")),
        ),
    ),
    _int(
        "exercise_days_per_week",
        "lifestyle",
        gettext_noop(
            "On how many days in a typical week are you active for at least 30 minutes (for example "
            "brisk walking, cycling or swimming)?"
        ),
        0,
        7,
    ),
    _bool(
        "pain_stops_usual_activities",
        "lifestyle",
        gettext_noop(
            "Has the pain stopped you working or doing your usual daily activities in the last month?"
        ),
    ),
    # I. Red flags
    _bool(
        "bladder_bowel_change",
        "red_flags",
        gettext_noop(
            "Since this problem started, have you had any new problems with your bladder or bowels? "
            "For example: difficulty starting to pass urine, a weak stream, not feeling when your "
            "bladder is full, or leaking or loss of control."
        ),
        interrupt=True,
    ),
    _bool(
        "saddle_numbness",
        "red_flags",
        gettext_noop(
            "Do you have new numbness or tingling between your legs, around your genitals or back "
            "passage, or on the buttocks where you would sit on a saddle?"
        ),
        interrupt=True,
    ),
    _bool(
        "fever_or_chills",
        "red_flags",
        gettext_noop(
            "In the last 7 days, have you had a temperature of 38°C or more, or shaking chills?"
        ),
    ),
    _bool(
        "feels_unwell",
        "red_flags",
        gettext_noop("Apart from the pain, do you feel generally unwell in yourself?"),
    ),
    _bool(
        "cancer_history",
        "red_flags",
        gettext_noop(
            "Have you ever been diagnosed with cancer? Do count melanoma. You may leave out other "
            "skin cancers that were simply cut out."
        ),
    ),
    _bool(
        "weight_loss_unexplained",
        "red_flags",
        gettext_noop(
            "Have you lost weight recently without trying (for example, your clothes have become "
            "loose)?"
        ),
    ),
    _bool(
        "immune_risk",
        "red_flags",
        gettext_noop(
            "Do you have a weakened immune system (for example from chemotherapy, transplant or "
            "other immune-suppressing medicines, or HIV), or do you inject drugs?"
        ),
    ),
    _bool(
        "bone_fragility",
        "red_flags",
        gettext_noop(
            "Have you been told you have osteoporosis (thin bones), or have you taken steroid "
            "tablets such as prednisolone for more than 3 months?"
        ),
    ),
    _bool(
        "cannot_bear_weight",
        "red_flags",
        gettext_noop(
            "Since this problem started, have you been unable to put weight on your foot or leg, or "
            "to take 4 steps (with your usual walking aid, if you use one)?"
        ),
    ),
    _bool(
        "foot_wound",
        "red_flags",
        gettext_noop(
            "Do you have an open sore, wound, blister or ulcer on your foot that has not healed?"
        ),
    ),
    _bool(
        "foot_red_hot_swollen",
        "red_flags",
        gettext_noop("Is your foot or ankle red, hot and swollen?"),
    ),
    _bool(
        "foot_cold_or_discoloured",
        "red_flags",
        gettext_noop(
            "Has part of your foot or toes recently turned pale, blue or black and stayed that way, "
            "or become cold compared with the other foot? (Not bruising from an injury, and not "
            "colour that comes back when warmed.)"
        ),
        interrupt=True,
    ),
    # J. Consent
    _bool(
        "consent_data_processing",
        "consent",
        gettext_noop(
            "I agree that the clinic may store and use my answers, including health information, to "
            "assess my symptoms and arrange my care."
        ),
        must_be_true=True,
    ),
    _bool(
        "acknowledged_not_emergency",
        "consent",
        gettext_noop(
            "I understand this form is not watched all the time and is not for emergencies. If my "
            "symptoms are severe or getting worse, I will call the emergency number or go to an "
            "emergency department."
        ),
        must_be_true=True,
    ),
    # Optional licensed STarT Back module (§1, §5). Keele's item wording is never reproduced and
    # the patient form never asks these: a clinician or an integration supplies the two scores.
    _int(
        "sbst_total",
        "startback",
        gettext_noop("Keele STarT Back Tool total score"),
        0,
        9,
        nullable=True,
        module="startback",
    ),
    _int(
        "sbst_distress",
        "startback",
        gettext_noop("STarT Back psychosocial (distress) subscale"),
        0,
        5,
        nullable=True,
        module="startback",
    ),
)

FIELD_BY_CODE: Final[Mapping[str, Field]] = {field.code: field for field in FIELDS}
CORE_FIELDS: Final[tuple[Field, ...]] = tuple(f for f in FIELDS if f.module is None)
MODULE_FIELDS: Final[tuple[Field, ...]] = tuple(f for f in FIELDS if f.module is not None)
INTERRUPT_FIELDS: Final[tuple[str, ...]] = tuple(f.code for f in FIELDS if f.interrupt)


def fields_in_section(code: str) -> tuple[Field, ...]:
    """The core fields of one section, in form order. Module fields are never on the form."""
    if code not in SECTION_BY_CODE:
        raise KeyError(code)
    return tuple(field for field in CORE_FIELDS if field.section == code)


def answer_label(field: Field) -> str:
    """What an answer is, read beside its value (the staff's case page, the FHIR export): the
    question the form asks, except for a value the server computes from another answer. The
    age, labelled with the date-of-birth question the form asks, read "What is your date of
    birth? 38" beside its value (a review)."""
    if field.computed and field.code == "age_years":
        return "Age in years at submission (from the date of birth)"
    return field.label


def is_shown(field: Field, answers: Mapping[str, Any]) -> bool:
    """Whether the patient form shows ``field`` given the answers so far.

    Answers not given yet count as "no symptom reported", so the timing questions appear as soon
    as the patient reports a symptom. ``age_years`` is shown as the date-of-birth question.
    """
    if field.module is not None:
        return False
    if field.show_when == "any_symptoms":
        return not no_symptoms(answers)
    if field.show_when == "leg_symptoms":
        return leg_symptoms_reported(answers)
    return True
