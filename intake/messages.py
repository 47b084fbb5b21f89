"""Patient-facing and staff-facing texts (spec §4.3, §7 and the under-16 refusal of §0.7).

Pure Python: no Django import, so the texts can be tested and reused (HTML views, API, emails)
without settings.

Translation. Each text is a plain string constant wrapped in :func:`gettext_noop`, a local
identity function. ``makemessages`` extracts calls to ``gettext_noop`` by name, so the strings
reach the ``.po`` files, but nothing is translated at import time. The builder functions take a
``translate`` callable (identity by default); views pass ``django.utils.translation.gettext`` so
the text is translated in the request's language. The functions translate the *template* first
and fill the placeholders (``[emergency number]``, ``[urgent care number]``,
``[ruleset version]``) afterwards, so translators keep the placeholders as they are and the
telephone numbers are never part of a message id.

Emphasis. The spec marks a few words in bold (**today**, **now**, **both**, **not**, and in the
questions **heels**, **toes**, **new**). The texts here carry no markup: the words are kept, the
asterisks are not, so every consumer (API, emails, FHIR) gets plain text. :data:`EMPHASIS` says
where the bold words are, each by the phrase it sits in; the patient's HTML pages mark them
(``intake.templatetags.patient_text``).

Patients never see flag codes, flag explanations or diagnoses (§3, §4.3); nothing here takes a
flag as input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

Translate = Callable[[str], str]

URGENCIES = ("emergency", "urgent", "routine")

EMERGENCY_NUMBER = "[emergency number]"
URGENT_CARE_NUMBER = "[urgent care number]"
RULESET_VERSION = "[ruleset version]"


def gettext_noop(message: str) -> str:
    """Mark ``message`` for extraction by ``makemessages`` without translating it."""
    return message


def _identity(message: str) -> str:
    return message


# The spec's bold words, each with the phrase it sits in, so that only the spec's place is marked
# ("now" is bold in the emergency message, not in the diabetic safety net's "call ... now").
EMPHASIS = (
    ("seen by a doctor today", "today"),  # §4.3 emergency
    ("go to your nearest emergency department now", "now"),  # §4.3 emergency
    ("spreading to both legs", "both"),  # §4.3 safety net
    ("It does not diagnose", "not"),  # §7 patient text
    ("walk 5 steps on your heels", "heels"),  # §1 field 22
    ("walk 5 steps up on your toes", "toes"),  # §1 field 23
    ("have you had any new problems", "new"),  # §1 field 42
)


# --- §4.3 urgency messages ----------------------------------------------------------------------

EMERGENCY_MESSAGE = gettext_noop(
    "Based on your answers, you may need to be seen by a doctor today. Please call "
    "[emergency number] or go to your nearest emergency department now. Do not wait for us to "
    "contact you. Show them this message."
)
URGENT_MESSAGE = gettext_noop(
    "Some of your answers mean a clinician should look at your form soon. We aim to contact you "
    "by the end of the next working day. If your symptoms get worse before then, call "
    "[urgent care number] or go to an emergency department."
)
# Only when the safety net is on the page: an urgent case can be no_symptoms (§4.3).
URGENT_WARNING_SIGNS = gettext_noop(
    "If you develop any of the warning signs below, get emergency help straight away."
)
ROUTINE_MESSAGE = gettext_noop(
    "Thank you. A member of our team will review your answers within 5 working days."
)

# --- §4.3 safety nets ---------------------------------------------------------------------------

SAFETY_NET = gettext_noop(
    "Get emergency help straight away if you develop: numbness between your legs or around your "
    "back passage; new difficulty passing urine or controlling your bladder or bowels; new loss "
    "of feeling in your genitals, or new problems with erections or sexual feeling; or pain, "
    "numbness or weakness spreading to both legs."
)
DIABETIC_SAFETY_NET = gettext_noop(
    "If your foot or toes turn cold, pale, blue or black, call [emergency number] now. If a new "
    "wound appears, or your foot becomes red, hot or swollen, contact your diabetes foot service "
    "or GP the same day; if they are closed, call [urgent care number]."
)

# --- §4.3 in-browser interrupt (§1 I) -----------------------------------------------------------

INTERRUPT_FOLLOW_UP = gettext_noop("You can finish this form later. Do not delay getting help.")

# --- §7 disclaimers -----------------------------------------------------------------------------

PATIENT_DISCLAIMER = gettext_noop(
    "This questionnaire helps our team decide who should see you and how soon. It does not "
    "diagnose any condition and does not replace an examination by a qualified clinician. It is "
    "not monitored around the clock. If you have severe or rapidly worsening symptoms, new "
    "problems with your bladder or bowels, numbness between your legs, numbness or weakness in "
    "both legs, a foot that has turned cold or changed colour, or you feel very unwell with a "
    "fever, call [emergency number] or go to an emergency department now."
)
STAFF_DISCLAIMER = gettext_noop(
    "These flags and queues come from a rule set (version [ruleset version]) applied to patient "
    "self-report. They are prompts for clinical reasoning, not diagnoses. Red flags have limited "
    "diagnostic accuracy on their own [S9][S10], and a flag's absence does not rule out serious "
    "pathology. Examination findings that cannot be self-reported (reflexes, power grading, "
    "pulses, saddle sensation) must be checked clinically. Every referral requires clinician "
    "confirmation. Record any override and its reason. Flag explanations are written for staff. "
    "Do not pass them on to patients as a diagnosis."
)

# --- §0.7 under-16 refusal ----------------------------------------------------------------------
# The spec gives the content, not the wording (docs/CLINICAL_DECISIONS.md, "Patient texts").

UNDER_16_REFUSAL = gettext_noop(
    "Sorry, this form is only for people aged 16 and over, so we cannot accept it. Please "
    "contact your GP or family doctor about your symptoms."
)


@dataclass(frozen=True)
class PatientMessages:
    """What the result page shows the patient, in display order."""

    urgency_message: str
    safety_net: str | None
    diabetic_safety_net: str | None

    def as_dict(self) -> dict[str, str | None]:
        """``dataclasses.asdict(self)`` (what an intake stores), without its recursive copy."""
        return {
            "urgency_message": self.urgency_message,
            "safety_net": self.safety_net,
            "diabetic_safety_net": self.diabetic_safety_net,
        }

    def as_list(self) -> list[str]:
        return [
            text
            for text in (self.urgency_message, self.safety_net, self.diabetic_safety_net)
            if text is not None
        ]


def _require_number(name: str, value: str) -> None:
    # A blank number would leave "call  or go to ..." in an emergency instruction.
    if not value.strip():
        raise ValueError(f"{name} must not be blank")


def _fill(template: str, translate: Translate, **numbers: str) -> str:
    text = translate(template)
    placeholders = {
        "emergency_number": EMERGENCY_NUMBER,
        "urgent_care_number": URGENT_CARE_NUMBER,
        "ruleset_version": RULESET_VERSION,
    }
    for name, value in numbers.items():
        _require_number(name, value)
        text = text.replace(placeholders[name], value.strip())
    return text


def patient_messages(
    *,
    urgency: str,
    no_symptoms: bool,
    has_diabetes: bool,
    emergency_number: str,
    urgent_care_number: str,
    translate: Translate = _identity,
) -> PatientMessages:
    """The §4.3 messages for a triage result: urgency message, safety net, diabetic safety net."""
    _require_number("emergency_number", emergency_number)
    _require_number("urgent_care_number", urgent_care_number)
    shows_safety_net = not no_symptoms
    if urgency == "emergency":
        urgency_message = _fill(EMERGENCY_MESSAGE, translate, emergency_number=emergency_number)
    elif urgency == "urgent":
        urgency_message = _fill(URGENT_MESSAGE, translate, urgent_care_number=urgent_care_number)
        if shows_safety_net:
            urgency_message = f"{urgency_message} {translate(URGENT_WARNING_SIGNS)}"
    elif urgency == "routine":
        urgency_message = translate(ROUTINE_MESSAGE)
    else:
        raise ValueError(f"unknown urgency {urgency!r}; expected one of {', '.join(URGENCIES)}")
    return PatientMessages(
        urgency_message=urgency_message,
        safety_net=translate(SAFETY_NET) if shows_safety_net else None,
        diabetic_safety_net=(
            _fill(
                DIABETIC_SAFETY_NET,
                translate,
                emergency_number=emergency_number,
                urgent_care_number=urgent_care_number,
            )
            if has_diabetes
            else None
        ),
    )


def interrupt_message(*, emergency_number: str, translate: Translate = _identity) -> str:
    """The in-browser interrupt shown when a red-flag answer is ticked (§4.3, §1 I)."""
    emergency = _fill(EMERGENCY_MESSAGE, translate, emergency_number=emergency_number)
    return f"{emergency} {translate(INTERRUPT_FOLLOW_UP)}"


def patient_disclaimer(*, emergency_number: str, translate: Translate = _identity) -> str:
    """The §7 patient disclaimer: start page, result page and under-16 refusal screen."""
    return _fill(PATIENT_DISCLAIMER, translate, emergency_number=emergency_number)


def staff_disclaimer(*, ruleset_version: str, translate: Translate = _identity) -> str:
    """The §7 staff disclaimer for every triage view, naming the ruleset that made the result."""
    return _fill(STAFF_DISCLAIMER, translate, ruleset_version=ruleset_version)


def staff_disclaimer_for(
    versions: Iterable[str | None], *, current: str, translate: Translate = _identity
) -> str:
    """The staff disclaimer for a page of several results (a queue, a list of submissions):
    it names every ruleset version among them, or ``current`` (the one in force) for none."""
    named = sorted({version for version in versions if version}, key=_version_order) or [current]
    return staff_disclaimer(ruleset_version=", ".join(named), translate=translate)


def _version_order(version: str) -> tuple[tuple[int, int | str], ...]:
    """Dotted versions in numeric order ("0.9.0" before "0.10.0", which text order reverses);
    a part that is not a number sorts after the numbers, as text."""
    return tuple((0, int(part)) if part.isdecimal() else (1, part) for part in version.split("."))


def under_16_refusal(*, emergency_number: str, translate: Translate = _identity) -> list[str]:
    """The §0.7 refusal screen: see your GP, then the §7 patient emergency text."""
    return [
        translate(UNDER_16_REFUSAL),
        patient_disclaimer(emergency_number=emergency_number, translate=translate),
    ]
