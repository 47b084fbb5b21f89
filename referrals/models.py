import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from intake.models import URGENCY_RANK, Intake, Patient, Urgency


class Queue(models.TextChoices):
    CHIROPRACTIC = "chiropractic", _("Chiropractic")
    PODIATRY = "podiatry", _("Podiatry")
    ORTHOTIC_FITTING = "orthotic_fitting", _("Orthotic fitting")
    URGENT_MEDICAL_REVIEW = "urgent_medical_review", _("Urgent medical review")
    GENERAL_REVIEW = "general_review", _("General review")


class Status(models.TextChoices):
    NEW = "new", _("New (proposed)")
    CLAIMED = "claimed", _("Claimed")
    CONTACTED = "contacted", _("Patient contacted")
    SCHEDULED = "scheduled", _("Scheduled")
    COMPLETED = "completed", _("Completed")
    DECLINED = "declined", _("Declined")
    CANCELLED = "cancelled", _("Cancelled")
    REROUTED = "rerouted", _("Rerouted")
    ENTERED_IN_ERROR = "entered_in_error", _("Entered in error")


OPEN_STATUSES = frozenset({Status.NEW, Status.CLAIMED, Status.CONTACTED, Status.SCHEDULED})


class Action(models.TextChoices):
    CLAIM = "claim", _("Claim")
    RELEASE = "release", _("Release to the queue")
    CONTACT = "contact", _("Record patient contacted")
    SCHEDULE = "schedule", _("Record appointment scheduled")
    COMPLETE = "complete", _("Complete")
    REROUTE = "reroute", _("Reroute to another queue")
    DECLINE = "decline", _("Decline")
    CANCEL = "cancel", _("Cancel")
    ENTERED_IN_ERROR = "entered_in_error", _("Mark entered in error")
    CLEAR_RED_FLAG = "clear_red_flag", _("Clear the red flag and release")


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    target: str
    needs_reason: bool = False


_ACTIVE = frozenset({Status.CLAIMED, Status.CONTACTED})

# The one table of legal moves (STYLE.md: django-oscar's pipeline).
TRANSITIONS: dict[str, Move] = {
    Action.CLAIM: Move(frozenset({Status.NEW}), Status.CLAIMED),
    Action.RELEASE: Move(_ACTIVE, Status.NEW),
    Action.CONTACT: Move(frozenset({Status.CLAIMED}), Status.CONTACTED),
    Action.SCHEDULE: Move(frozenset({Status.CONTACTED}), Status.SCHEDULED),
    Action.COMPLETE: Move(frozenset({Status.SCHEDULED}), Status.COMPLETED),
    Action.REROUTE: Move(frozenset({Status.NEW}) | _ACTIVE, Status.REROUTED, needs_reason=True),
    Action.DECLINE: Move(frozenset({Status.NEW}) | _ACTIVE, Status.DECLINED, needs_reason=True),
    Action.CANCEL: Move(OPEN_STATUSES, Status.CANCELLED, needs_reason=True),
    # Only for urgent medical review; intake_clear_red_flag guards the queue.
    Action.CLEAR_RED_FLAG: Move(OPEN_STATUSES, Status.COMPLETED, needs_reason=True),
    Action.ENTERED_IN_ERROR: Move(
        frozenset(Status.values) - {Status.ENTERED_IN_ERROR},
        Status.ENTERED_IN_ERROR,
        needs_reason=True,
    ),
}


def referral_priority(urgency: str, red_flag_count: int) -> int:
    """Higher first: urgency, then the number of red flags; waiting time breaks ties."""
    return URGENCY_RANK[Urgency(urgency)] * 10 + min(red_flag_count, 9)


class Referral(models.Model):
    """A proposed referral of one case to one queue; claiming it is the clinician's confirmation."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="referrals")
    intake = models.ForeignKey(Intake, on_delete=models.PROTECT, related_name="referrals")
    intakes = models.ManyToManyField(Intake, through="ReferralIntake", related_name="+")
    queue = models.CharField(max_length=30, choices=Queue.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    urgency = models.CharField(max_length=10, choices=Urgency.choices)
    red_flag_count = models.PositiveSmallIntegerField(default=0)
    priority = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    note = models.TextField(blank=True)
    suggested_after_clearance = models.JSONField(default=list, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_referrals",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)
    last_alert_at = models.DateTimeField(null=True, blank=True)
    rerouted_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="rerouted_to"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-priority", "due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["patient", "queue"],
                condition=models.Q(status__in=sorted(OPEN_STATUSES)),
                name="one_open_referral_per_patient_queue",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=Status.values), name="referral_status_valid"
            ),
        ]
        indexes = [
            models.Index(
                fields=["queue", "-priority", "due_at", "id"],
                name="referral_queue_order_idx",
                condition=models.Q(status__in=sorted(OPEN_STATUSES)),
            ),
            models.Index(fields=["-priority", "due_at", "id"], name="referral_order_idx"),
            # Open work across every queue (the triage lead's page, the overdue filter) and one
            # clinician's open work ("assigned to me"), each already in page order: no sort.
            models.Index(
                fields=["-priority", "due_at", "id"],
                name="referral_open_order_idx",
                condition=models.Q(status__in=sorted(OPEN_STATUSES)),
            ),
            models.Index(
                fields=["assigned_to", "-priority", "due_at", "id"],
                name="referral_assignee_order_idx",
                condition=models.Q(status__in=sorted(OPEN_STATUSES)),
            ),
            models.Index(fields=["due_at"], name="referral_due_idx"),
            # updated_since pages by (updated_at, id).
            models.Index(fields=["updated_at", "id"], name="referral_updated_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.intake.reference} → {self.get_queue_display()}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ReferralIntake(models.Model):
    """Links every submission that fed an open referral (a later one may raise its urgency)."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT)
    intake = models.ForeignKey(Intake, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["referral", "intake"], name="referral_intake_once")
        ]

    def __str__(self) -> str:
        return f"{self.referral_id} ← {self.intake_id}"


class EventKind(models.TextChoices):
    CREATED = "created", _("Created")
    TRANSITION = "transition", _("Status changed")
    LINKED = "linked", _("New submission linked")
    URGENCY_RAISED = "urgency_raised", _("Urgency raised by a new submission")
    URGENCY_OVERRIDDEN = "urgency_overridden", _("Urgency overridden by a clinician")
    RED_FLAG_CLEARED = "red_flag_cleared", _("Red flag cleared")
    OVERDUE = "overdue", _("Marked overdue")
    ALERT = "alert", _("Escalation alert sent")


class ReferralEvent(models.Model):
    """History row for every change to a referral: who, when, from, to and why."""

    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    from_urgency = models.CharField(max_length=10, blank=True)
    to_urgency = models.CharField(max_length=10, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.from_status}→{self.to_status}"


class StaffNote(models.Model):
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, related_name="staff_notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.text[:60]


class AuditEntry(models.Model):
    """Every look at a patient's data and every change: append-only."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    patient = models.ForeignKey(
        Patient, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} {self.object_type} {self.object_id}"
