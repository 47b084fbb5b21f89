from __future__ import annotations

from typing import Final, cast

from django import forms

from clinic.forms import TextareaField
from intake.models import Urgency
from referrals.models import OPEN_STATUSES, TRANSITIONS, Action, Queue, Referral

REASON_HELP = "Required to decline, cancel, reroute, mark entered in error or change urgency."


# The case page's moves that are not transitions: a change of urgency, and a closed referral's
# "Refer again" (referrals.services.referral_refer_again), which the closed page's own form
# sends.
OVERRIDE_URGENCY: Final = "override_urgency"
REFER_AGAIN: Final = "refer_again"
# The case page's moves, by value and label (the label also names the move once saved).
MOVE_CHOICES: Final = [(a.value, str(a.label)) for a in Action if a != Action.CLEAR_RED_FLAG] + [
    (OVERRIDE_URGENCY, "Change urgency"),
    (REFER_AGAIN, "Refer again"),
]

NO_CHOICE: Final = ("", "—")
QUEUE_CHOICES: Final = [NO_CHOICE, *Queue.choices]
URGENCY_CHOICES: Final = [NO_CHOICE, *Urgency.choices]


class MoveForm(forms.Form):
    # No move is chosen until staff choose one: the first move offered was chosen, so Apply
    # alone completed a scheduled referral or released a claimed one.
    action = forms.ChoiceField(
        choices=[NO_CHOICE, *MOVE_CHOICES], error_messages={"required": "Choose a move."}
    )
    reason = TextareaField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=2000,
        help_text=REASON_HELP,
    )
    queue = forms.ChoiceField(choices=QUEUE_CHOICES, required=False, label="Reroute to")
    urgency = forms.ChoiceField(choices=URGENCY_CHOICES, required=False, label="New urgency")

    def offer_for(self, referral: Referral) -> MoveForm:
        """Offer only what can be done to this referral as it stands: the moves its status
        allows (a new referral offered "Complete", which could only be refused), the queues
        other than its own, the urgencies other than its own, each with its move. A choice sent
        back with an error stays offered, so the page shows what was tried beside why it was
        refused (a colleague may have moved the referral meanwhile). Validation keeps every
        choice: a move refused for the referral's status is refused by the service, which says
        why."""
        sent = self.data.get(self.add_prefix("action")) if self.is_bound else None
        moves = [
            (value, label)
            for value, label in MOVE_CHOICES
            if value == sent or _may_offer(value, referral)
        ]
        cast(forms.ChoiceField, self.fields["action"]).choices = [NO_CHOICE, *moves]
        offered = {value for value, _label in moves}
        for name, choices, current, move in (
            ("queue", QUEUE_CHOICES, referral.queue, Action.REROUTE),
            ("urgency", URGENCY_CHOICES, referral.urgency, OVERRIDE_URGENCY),
        ):
            if move not in offered and name not in self.errors:
                # A red-flag review is offered no reroute: its "Reroute to" was still shown.
                del self.fields[name]
                continue
            sent = self.data.get(self.add_prefix(name)) if self.is_bound else None
            cast(forms.ChoiceField, self.fields[name]).choices = [
                (value, label) for value, label in choices if value != current or value == sent
            ]
        return self


def _may_offer(action: str, referral: Referral) -> bool:
    if action == REFER_AGAIN:
        return False  # a closed referral's: its page draws a form of its own
    if action == Action.REROUTE and referral.leaves_by_clearance:
        return False
    if action in TRANSITIONS:
        return referral.status in TRANSITIONS[action].sources
    return referral.status in OPEN_STATUSES  # the urgency override


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
