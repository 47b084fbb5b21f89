from typing import Final

from django import forms

from clinic.forms import TextareaField
from intake.models import Urgency
from referrals.models import Action, Queue

REASON_HELP = "Required to decline, cancel, reroute, mark entered in error or change urgency."


# The case page's moves, by value and label (the label also names the move once saved).
MOVE_CHOICES: Final = [(a.value, str(a.label)) for a in Action if a != Action.CLEAR_RED_FLAG] + [
    ("override_urgency", "Change urgency")
]


class MoveForm(forms.Form):
    action = forms.ChoiceField(choices=MOVE_CHOICES)
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
    # The cases whose red flags the page showed (their references): the clearance covers
    # those, and is refused if another has joined the review since (the reviewer has not seen
    # its flags).
    # No length of its own: every uncleared case is listed, however many (the request's size
    # limit bounds it; a review found 2,000 characters, some 220 cases, refused every clearance).
    seen = forms.CharField(widget=forms.HiddenInput, required=False)

    def seen_references(self) -> list[str]:
        return [ref for ref in self.cleaned_data.get("seen", "").split(",") if ref]


class StaffNoteForm(forms.Form):
    text = TextareaField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, label="Add a note"
    )
