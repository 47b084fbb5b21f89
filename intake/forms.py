"""The patient form: one Django form per step, generated from ``intake/questionnaire.py``.

The first step asks who the patient is; then each questionnaire section is a step. The fields
only parse what the browser sends; the rules (required, ranges, codes, the conditional timing
questions) are the validator's own, through ``validate_fields`` and ``validate_patient``, so a
step says exactly what the final submission would say. The STarT Back module is never asked.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar, Final

from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Div, Fieldset, Layout
from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise, lazy
from django.utils.html import format_html, strip_tags
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from clinic.forms import TextareaField
from intake import bodymap, identity
from intake.bodymap import BodyMapInput
from intake.drafts import IDENTITY_STEP, STEP_CODES
from intake.models import ContactMethod
from intake.questionnaire import (
    FIELD_BY_CODE,
    SECTION_BY_CODE,
    Field,
    fields_in_section,
    is_shown,
)
from intake.services import NAME_MAX, PatientDetails, validate_patient
from intake.templatetags.patient_text import emphasised
from intake.units import (
    INCHES_PER_FOOT,
    POUNDS_PER_STONE,
    feet_inches_to_cm,
    stones_pounds_to_kg,
)
from intake.validation import (
    MSG_AGE,
    MSG_BOOL,
    MSG_INT,
    MSG_MULTI,
    MSG_MULTI_UNKNOWN,
    MSG_REQUIRED,
    MSG_SINGLE,
    MSG_UNDER_16,
    validate_fields,
)
from referrals.calendar import local_date

HONEYPOT: Final = "website"
YES_NO: Final = (("yes", _("Yes")), ("no", _("No")))


def _yes(value: str) -> bool:
    return value == "yes"


# A question's label with the spec's bold word in <strong> (heels, toes, new), in the request's
# language: the fields are made once, when the module loads.
_emphasised_lazy = lazy(emphasised, SafeString)


def _field_for(spec: Field) -> forms.Field:
    """A form field that parses one question; the validator judges the value."""
    label = _emphasised_lazy(_(spec.label))
    help_text = _(spec.help_text) if spec.help_text else ""
    if spec.kind == "bool":
        attrs = {"data-interrupt": "true"} if spec.interrupt else {}
        return forms.TypedChoiceField(
            label=label,
            help_text=help_text,
            choices=YES_NO,
            coerce=_yes,
            widget=forms.RadioSelect(attrs=attrs),
            error_messages={"required": MSG_REQUIRED, "invalid_choice": MSG_BOOL},
        )
    if spec.kind == "int":
        return forms.IntegerField(
            label=label,
            help_text=help_text,
            widget=forms.NumberInput(
                attrs={"min": spec.min_value, "max": spec.max_value, "inputmode": "numeric"}
            ),
            error_messages={"required": MSG_REQUIRED, "invalid": MSG_INT},
        )
    choices = [(choice.code, _(choice.label)) for choice in spec.choices]
    if spec.kind == "single":
        return forms.ChoiceField(
            label=label,
            help_text=help_text,
            choices=choices,
            widget=forms.RadioSelect,
            error_messages={"required": MSG_REQUIRED, "invalid_choice": MSG_SINGLE},
        )
    if spec.kind == "multi":
        return forms.MultipleChoiceField(
            label=label,
            help_text=help_text or _("Leave them all unticked if none apply."),
            choices=choices,
            required=False,
            widget=forms.CheckboxSelectMultiple,
            error_messages={"invalid_choice": MSG_MULTI_UNKNOWN, "invalid_list": MSG_MULTI},
        )
    return TextareaField(
        label=label,
        help_text=help_text or _("You can leave this empty."),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": spec.max_length}),
    )


# Region questions that also get the clickable body map (issue 9).
MAP_FIELDS: Final = ("pain_regions", "numbness_areas")


# The hidden field the page's script adds on sending a step, once for each number box whose
# text the browser could not read as a number (StepForm._refuse_unreadable).
UNREADABLE: Final = "unreadable"


class StepForm(forms.Form):
    """One step. ``answers`` are the earlier steps' answers: they decide what is shown."""

    step: ClassVar[str] = ""
    codes: ClassVar[tuple[str, ...]] = ()
    title: ClassVar[str | Promise] = ""
    intro: ClassVar[str | Promise] = ""

    def __init__(self, *args: Any, answers: Mapping[str, Any] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.earlier = dict(answers or {})
        for code in self.codes:
            if code in self.fields and not is_shown(FIELD_BY_CODE[code], self.earlier):
                del self.fields[code]
        # Bots fill every input; people never see this one (it is display: none).
        self.fields[HONEYPOT] = forms.CharField(
            required=False,
            label=_("Leave this field empty"),
            widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
        )
        self.helper = FormHelper(self)
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = self.layout()

    def layout(self) -> Layout:
        parts: list[Any] = []
        for name in self.fields:
            if name == HONEYPOT:
                continue
            parts.append(name)
            if name in MAP_FIELDS:
                parts.append(HTML(self.body_map_html(name)))
        return Layout(*parts)

    def body_map_html(self, code: str) -> str:
        """The optional clickable picture for a region question; the checkboxes stay the answer.

        Hidden until the page's script shows it: without the script, clicks would do nothing."""
        ticked = [str(v) for v in (self[code].value() or [])]
        data = (
            BodyMapInput(pain_regions=ticked)
            if code == "pain_regions"
            else BodyMapInput(numbness_areas=ticked)
        )
        svg = bodymap.render(data, staff=False, id_prefix=f"map-{code}", interactive=code)
        heading = _("You can also tap the picture")
        hint = _(
            "Tap a place on the body to tick or untick it in the list above. Front, back and "
            "soles are shown; the list is what we receive."
        )
        html = format_html(
            '<div class="body-map-picker mb-4" data-body-map="{}" hidden>'
            '<h2 class="h6 mb-1" id="map-{}-heading">{}</h2>'
            '<p class="small text-body-secondary" id="map-{}-hint">{}</p>{}</div>',
            code,
            code,
            heading,
            code,
            hint,
            mark_safe(svg),  # noqa: S308 - every dynamic part of the drawing is escaped
        )
        # crispy renders HTML() as a template: the drawing must not be read as template code.
        return "{% verbatim %}" + html + "{% endverbatim %}"

    @property
    def shown_codes(self) -> tuple[str, ...]:
        return tuple(code for code in self.codes if code in self.fields)

    @property
    def asks_nothing(self) -> bool:
        """True when none of this section's questions apply (the timing step, no symptoms)."""
        return bool(self.codes) and not self.shown_codes

    def _refuse_unreadable(self) -> None:
        """A number box holding what the browser cannot read as a number is sent empty (the
        form is ``novalidate``): a range, 10-11, in the pounds box saved 11 st 0 lb, with no
        message (a QA round). The page's script names such boxes (intake-form.js, UNREADABLE);
        each is refused with the message its field gives a value that is not a number."""
        getlist = getattr(self.data, "getlist", None)
        for name in getlist(UNREADABLE) if getlist else ():
            field = self.fields.get(name)
            if (
                isinstance(field, forms.IntegerField | forms.DecimalField)
                and name not in self.errors
            ):
                self.add_error(name, field.error_messages["invalid"])

    def honeypot_filled(self) -> bool:
        return bool(self.data.get(HONEYPOT))

    def parsed_answers(self, cleaned: Mapping[str, Any]) -> dict[str, Any]:
        """The answers that parsed, by questionnaire code."""
        return {code: cleaned[code] for code in self.shown_codes if code in cleaned}

    def clean(self) -> dict[str, Any]:
        self._refuse_unreadable()
        cleaned = super().clean() or {}
        parsed = self.parsed_answers(cleaned)
        # A value that did not parse already has its message.
        for code, messages in validate_fields({**self.earlier, **parsed}, parsed).items():
            for message in messages:
                self.add_error(self.error_field(code), self.error_message(code, message))
        return cleaned

    def error_field(self, code: str) -> str:
        return code

    def error_message(self, code: str, message: str) -> str:
        return message

    def answers(self) -> dict[str, Any]:
        """Every question of this step by code; the ones not shown are null (§1 D2)."""
        parsed = self.parsed_answers(self.cleaned_data)
        return {code: parsed.get(code) for code in self.codes}

    def values(self) -> dict[str, Any]:
        """What the patient typed, to show it again on this or another device."""
        return {name: self[name].value() for name in self.fields if name != HONEYPOT}

    def error_links(self) -> list[tuple[str, str, str]]:
        """(anchor, label, message) for the error summary, in page order."""
        links = []
        for name in self.fields:
            for message in self.errors.get(name, []):
                bound = self[name]
                anchor = bound.auto_id
                if isinstance(bound.field.widget, forms.RadioSelect | forms.CheckboxSelectMultiple):
                    anchor = f"{anchor}_0"
                # The label as text: the summary cuts it to 12 words, which markup would break.
                links.append((anchor, strip_tags(str(bound.label)), str(message)))
        return links


def _fraction_messages(unit: Any, example: str) -> dict[str, Any]:
    """A DecimalField's messages in the form's words, where Django's said "Ensure that there
    are no more than 1 decimal place."."""
    message = format_lazy(
        _("Please enter the {unit} as a number with at most one decimal place, for example {ex}."),
        unit=unit,
        ex=example,
    )
    return {
        "invalid": message,
        "max_decimal_places": message,
        "max_digits": message,
        "max_whole_digits": message,
        "min_value": _not_negative(unit),
    }


def _not_negative(unit: Any) -> Any:
    """An imperial box below 0: '6 ft -3 in' was stored as 175 cm (a review)."""
    return format_lazy(_("Please enter the {unit} as 0 or more."), unit=unit)


class BirthDateField(forms.DateField):
    """The date of birth as the browser's date input sends it, or as typed where a browser
    shows the box as text: "17 May 1980" as the hint says (it was refused, "Please enter a real
    date, for example 17 May 1980"), 17/05/1980 and the forms the staff search reads."""

    def to_python(self, value: Any) -> dt.date | None:
        if isinstance(value, str) and (typed := identity.parse_typed_date(value)) is not None:
            return typed
        return super().to_python(value)


class IdentityForm(StepForm):
    """Who the patient is and how to reach them; decides the under-16 refusal at once (§0.7)."""

    step = IDENTITY_STEP
    title = _("About you and how to contact you")

    # Each message says what to do, where Django's own said only "This field is required."
    given_name = forms.CharField(
        label=_("Given name (first name)"),
        max_length=NAME_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "given-name"}),
        error_messages={"required": _("Please enter your given name.")},
    )
    family_name = forms.CharField(
        label=_("Family name (surname)"),
        max_length=NAME_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "family-name"}),
        error_messages={"required": _("Please enter your family name.")},
    )
    date_of_birth = BirthDateField(
        label=_("What is your date of birth?"),
        help_text=_("For example, 17 May 1980."),
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "bday"}, format="%Y-%m-%d"),
        error_messages={
            "invalid": _("Please enter a real date, for example 17 May 1980."),
            "required": _("Please enter your date of birth: day, month and year."),
        },
    )
    # The hint on the first of the two boxes, where the patient (and a screen reader) meets
    # it: under the email box, the phone box was passed without it (a review).
    phone = forms.CharField(
        label=_("Phone number"),
        required=False,
        max_length=40,
        help_text=_("Give a phone number, an email address or both."),
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    email = forms.CharField(
        label=_("Email address"),
        required=False,
        max_length=254,
        widget=forms.TextInput(attrs={"type": "email", "autocomplete": "email"}),
    )
    preferred_contact = forms.ChoiceField(
        label=_("How would you like us to contact you?"),
        choices=ContactMethod.choices,
        widget=forms.RadioSelect,
        error_messages={"required": MSG_REQUIRED, "invalid_choice": MSG_SINGLE},
    )

    under_16 = False

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        born = cleaned.get("date_of_birth")
        if not isinstance(born, dt.date):
            return cleaned
        details = self._details(cleaned, born)
        today = local_date(timezone.now(), settings.CLINIC_CALENDAR)  # as intake_prepare
        for key, messages in validate_patient(details, today=today).items():
            if key in self.fields and key not in self.errors:
                for message in messages:
                    self.add_error(key, message)
        if "date_of_birth" in self.errors:
            return cleaned
        age = identity.age_on(born, today)
        age_errors = validate_fields({"age_years": age}, ["age_years"])
        if age_errors.get("age_years") == [MSG_UNDER_16]:
            self.under_16 = True
        elif age_errors:
            self.add_error("date_of_birth", MSG_AGE)
        return cleaned

    @staticmethod
    def _details(cleaned: Mapping[str, Any], born: dt.date) -> PatientDetails:
        return PatientDetails(
            given_name=cleaned.get("given_name") or "",
            family_name=cleaned.get("family_name") or "",
            date_of_birth=born,
            phone=cleaned.get("phone") or "",
            email=cleaned.get("email") or "",
            preferred_contact=cleaned.get("preferred_contact") or "",
        )

    def patient(self) -> dict[str, Any]:
        data = self.cleaned_data
        details = self._details(data, data["date_of_birth"])
        return {
            "given_name": details.given_name,
            "family_name": details.family_name,
            "date_of_birth": details.date_of_birth.isoformat(),
            "phone": details.phone,
            "email": details.email,
            "preferred_contact": details.preferred_contact,
        }


_WHOLE: Final = {"min": 0, "inputmode": "numeric"}
_DECIMAL: Final = {"min": 0, "step": "0.1", "inputmode": "decimal"}


class AboutYouBase(StepForm):
    """Height and weight in metric or imperial; stored in whole cm and kg (§1 A)."""

    height_cm = forms.IntegerField(
        label=_("Centimetres"),
        required=False,
        widget=forms.NumberInput(attrs=_WHOLE),
        error_messages={"invalid": MSG_INT},
    )
    height_feet = forms.IntegerField(
        label=_("Feet"),
        required=False,
        min_value=0,
        widget=forms.NumberInput(attrs=_WHOLE),
        error_messages={"invalid": MSG_INT, "min_value": _not_negative(_("feet"))},
    )
    height_inches = forms.DecimalField(
        label=_("Inches"),
        required=False,
        min_value=0,
        max_digits=4,
        decimal_places=1,
        widget=forms.NumberInput(attrs=_DECIMAL),
        error_messages=_fraction_messages(_("inches"), "5.5"),
    )
    weight_kg = forms.IntegerField(
        label=_("Kilograms"),
        required=False,
        widget=forms.NumberInput(attrs=_WHOLE),
        error_messages={"invalid": MSG_INT},
    )
    weight_stones = forms.IntegerField(
        label=_("Stones"),
        required=False,
        min_value=0,
        widget=forms.NumberInput(attrs=_WHOLE),
        error_messages={"invalid": MSG_INT, "min_value": _not_negative(_("stones"))},
    )
    weight_pounds = forms.DecimalField(
        label=_("Pounds"),
        required=False,
        min_value=0,
        error_messages=_fraction_messages(_("pounds"), "7.5"),
        max_digits=4,
        decimal_places=1,
        widget=forms.NumberInput(attrs=_DECIMAL),
    )

    # code -> (metric field, imperial whole part, imperial fraction, converter)
    UNITS: ClassVar = {
        "height_cm": ("height_cm", "height_feet", "height_inches", feet_inches_to_cm),
        "weight_kg": ("weight_kg", "weight_stones", "weight_pounds", stones_pounds_to_kg),
    }
    # Beside a whole number of feet or stones, the smaller unit is what is left over: '5 ft 30
    # in' is a slip (5 ft 3 in?), not 7 ft 6 in, and is asked again (a review found it
    # converted). Alone, the smaller unit may be any size: 70 inches, or 180 pounds.
    PART_LIMITS: ClassVar = {
        "height_cm": (
            INCHES_PER_FOOT,
            _(
                "With the feet filled in, please enter fewer than 12 inches "
                "(12 inches make a foot)."
            ),
        ),
        "weight_kg": (
            POUNDS_PER_STONE,
            _(
                "With the stones filled in, please enter fewer than 14 pounds "
                "(14 pounds make a stone)."
            ),
        ),
    }
    _BOTH_UNITS: ClassVar = _("Please use one kind of unit only, not both.")
    _EITHER: ClassVar = _("Fill in one: the metric box, or the two imperial boxes.")
    _CONVERTED: ClassVar = _("That comes to %(value)s %(unit)s. %(message)s")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.converted: dict[str, int] = {}

    def error_message(self, code: str, message: str) -> str:
        if code not in self.converted:
            return message
        unit = "cm" if code == "height_cm" else "kg"
        return str(self._CONVERTED) % {
            "value": self.converted[code],
            "unit": unit,
            "message": message,
        }

    def layout(self) -> Layout:
        parts: list[Any] = []
        for code, (metric, whole, fraction, _convert) in self.UNITS.items():
            # Required like every question marked *; the hint is the group's description, read
            # with the legend when a screen reader enters the boxes (as for the radio groups).
            parts.append(
                Fieldset(
                    format_html(
                        '{}<span class="asteriskField">*</span>', _(FIELD_BY_CODE[code].label)
                    ),
                    HTML(
                        format_html(
                            '<p class="form-text mt-0" id="{}-hint">{}</p>', code, self._EITHER
                        )
                    ),
                    Div(metric, css_class="unit-metric"),
                    Div(
                        Div(whole, css_class="col"),
                        Div(fraction, css_class="col"),
                        css_class="row unit-imperial",
                    ),
                    css_class="mb-3",
                    aria_describedby=f"{code}-hint",
                )
            )
        in_units = {name for names in self.UNITS.values() for name in names[:3]}
        parts.extend(name for name in self.fields if name not in in_units and name != HONEYPOT)
        return Layout(*parts)

    def parsed_answers(self, cleaned: Mapping[str, Any]) -> dict[str, Any]:
        parsed = super().parsed_answers(cleaned)
        for code, (metric, whole, fraction, convert) in self.UNITS.items():
            if any(name in self.errors for name in (metric, whole, fraction)):
                # That box has its message; "please answer" for the question as well was wrong
                # (the patient did answer, in the other unit: a review found it).
                parsed.pop(code, None)
                continue
            imperial = cleaned.get(whole) is not None or cleaned.get(fraction) is not None
            if cleaned.get(metric) is not None:
                if imperial:
                    self.add_error(metric, self._BOTH_UNITS)
                    continue
                parsed[code] = cleaned[metric]
            elif imperial:
                per_whole, too_many = self.PART_LIMITS[code]
                if cleaned.get(whole) and (cleaned.get(fraction) or 0) >= per_whole:
                    self.add_error(fraction, too_many)
                    parsed.pop(code, None)
                    continue
                parsed[code] = convert(cleaned.get(whole) or 0, cleaned.get(fraction) or Decimal(0))
                self.converted[code] = parsed[code]
            else:
                parsed[code] = None
        return parsed

    def error_field(self, code: str) -> str:
        if code in self.UNITS:
            metric, whole, fraction, _convert = self.UNITS[code]
            data = self.cleaned_data
            if data.get(metric) is not None or (
                data.get(whole) is None and data.get(fraction) is None
            ):
                return metric
            # The imperial box the patient filled: inches alone put the message on the empty
            # feet box (a review).
            return whole if data.get(whole) is not None else fraction
        return code


def _class_name(code: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"_", code)) + "Form"


def _section_form(code: str, base: type[StepForm] = StepForm) -> type[StepForm]:
    section = SECTION_BY_CODE[code]
    specs = [spec for spec in fields_in_section(code) if not spec.computed]
    attrs: dict[str, Any] = {
        spec.code: _field_for(spec) for spec in specs if spec.code not in base.declared_fields
    }
    attrs |= {
        "step": code,
        "codes": tuple(spec.code for spec in specs),
        "title": _(section.title),
        "intro": _(section.intro) if section.intro else "",
        "__module__": __name__,
    }
    return type(_class_name(code), (base,), attrs)


STEP_FORMS: Final[Mapping[str, type[StepForm]]] = {
    IDENTITY_STEP: IdentityForm,
    **{
        code: _section_form(code, AboutYouBase if code == "about_you" else StepForm)
        for code in STEP_CODES[1:]
    },
}
