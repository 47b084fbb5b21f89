from typing import Any

from django import forms

from intake.models import Urgency
from referrals.models import Action, Queue

REASON_HELP = "Required to decline, cancel, reroute, mark entered in error or change urgency."


class TextareaField(forms.CharField):
    r"""Text from a textarea, its line breaks made "\n" before the length is checked.

    Browsers send each line break as "\r\n" but count it as one character against the
    textarea's maxlength: without this, a note the browser let through (4,990 characters, 199 of
    them line breaks) was refused for having 5,189."""

    def to_python(self, value: Any) -> str | None:
        text = super().to_python(value)
        return text.replace("\r\n", "\n").replace("\r", "\n") if text else text


class MoveForm(forms.Form):
    action = forms.ChoiceField(
        choices=[(a.value, a.label) for a in Action if a != Action.CLEAR_RED_FLAG]
        + [("override_urgency", "Change urgency")]
    )
    reason = TextareaField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
        help_text=REASON_HELP,
    )
    queue = forms.ChoiceField(
        choices=[("", "—"), *Queue.choices], required=False, label="Reroute to"
    )
    urgency = forms.ChoiceField(
        choices=[("", "—"), *Urgency.choices], required=False, label="New urgency"
    )


class ClearRedFlagForm(forms.Form):
    reason = TextareaField(widget=forms.Textarea(attrs={"rows": 2}), max_length=2000)
    release = forms.MultipleChoiceField(
        choices=[c for c in Queue.choices if c[0] != Queue.URGENT_MEDICAL_REVIEW],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Release to",
    )


class StaffNoteForm(forms.Form):
    text = TextareaField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, label="Add a note"
    )
