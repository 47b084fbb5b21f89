import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Final

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from clinic.sparse import index_where_set, optional_user
from intake.models import LINK_KIND_CHOICES, URGENCY_RANK, Intake, Patient, Urgency
from referrals.links import LINKED_KINDS, NEITHER
from referrals.lookups import InConstants


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
CLOSED_STATUSES = frozenset(Status) - OPEN_STATUSES


def status_is(status: str) -> models.Q:
    """Referrals in one status, with its group (open or closed) written into the SQL too.

    The group is each partial index's own condition (referrals.lookups): SQLite uses a
    partial index only when the query repeats it, and without one a closed status had no index
    in page order at all."""
    group = OPEN_STATUSES if status in OPEN_STATUSES else CLOSED_STATUSES
    return models.Q(status=status, status__in_constants=group)


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


# The closed statuses a referral may be referred again from (referrals.services.
# referral_refer_again): not a move, as the closed referral stays as it is and a new one is
# made. Not from "rerouted" (the case went on in another queue) nor "entered in error" (the
# record itself is wrong). docs/CLINICAL_DECISIONS.md (Referring again).
REFER_AGAIN_SOURCES = frozenset({Status.COMPLETED, Status.DECLINED, Status.CANCELLED})


def referral_priority(urgency: str, red_flag_count: int) -> int:
    """Higher first: urgency, then the number of red flags; waiting time breaks ties."""
    return URGENCY_RANK[Urgency(urgency)] * 10 + min(red_flag_count, 9)


class UpdatedAtField(models.DateTimeField):
    """``auto_now``, never earlier than the row's ``created_at`` or ``claimed_at``.

    The referral's constraints hold ``updated_at`` at or after both (the dashboard relies on
    it). Each is this host's clock when set; a later save on a host whose clock is behind by
    more than the time since must not fail the save: it takes the later time instead. Fields
    not loaded (deferred) are left out rather than read.
    """

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        value = super().pre_save(model_instance, add)
        if value is not None:
            value = not_before_set(model_instance, value)
            setattr(model_instance, self.attname, value)
        return value


def not_before_set(referral: models.Model, when: dt.datetime) -> dt.datetime:
    """``when``, or the referral's ``created_at`` or ``claimed_at`` where that is later (the
    fields loaded only): the ``updated_at`` its constraints accept. ``UpdatedAtField`` applies
    it on save; a write that bypasses ``pre_save`` (``bulk_update``) applies it itself."""
    loaded = referral.__dict__
    times = [t for t in (loaded.get("created_at"), loaded.get("claimed_at")) if t is not None]
    return max([when, *times])


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
    # rerouted_from, rerouted_into and referred_again_from below are indexed only where set
    # (Meta.indexes), as created_by and Intake's users are.
    rerouted_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rerouted_to",
        db_index=False,
    )
    # The referral a rerouted one went on in (referral_reroute), set on the closed one: a
    # referral is rerouted once, but may be rerouted into more than once (a reroute into the
    # patient's open referral of that queue joins it, and that one may have come from another
    # queue already, its ``rerouted_from`` taken: the second link was lost, and with it the
    # notes and the history it carries). ``rerouted_from`` stays the first one's, as the API,
    # the FHIR export and the erasure's export name it. Nullable without a default, as below.
    rerouted_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rerouted_in",
        db_index=False,
    )
    # The closed referral (completed, declined or cancelled by mistake) this one was made
    # again from, in the same queue (referral_refer_again). Nullable without a default: added
    # to the 1,000,000+ referrals without writing them.
    referred_again_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="referred_again_as",
        db_index=False,
    )
    # When the case began to wait for this referral, where a reroute set it (referral_reroute:
    # the first queue's, as the due time is kept): the queue's "Waiting" column and a change of
    # urgency count from it. Empty on every other referral, which waits from its created_at
    # (``waits_since``): so the column was added to 1,000,000+ referrals without writing them,
    # and a submission (or the bulk writer) writes nothing more.
    waiting_since = models.DateTimeField(null=True, blank=True, editable=False)
    # The case's first claim in this queue, where a referral this one was made again from (its
    # chain of referred_again_from) was claimed: copied by referral_refer_again. The dashboard
    # counts a case's claim in a queue once, its first (dashboard.claim_waits), so that fixing
    # a mistaken close neither adds a claim nor moves one. Empty on every other referral, whose
    # own claim is the case's first there; nullable without a default, as waiting_since.
    case_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The link kind of the intake that opened the referral (Intake.link_kind, which never
    # changes), copied when the referral is written: the dashboard's foot-and-back counts and
    # the queue's filter by it (?link=) read the referrals by their own index, not every
    # referral of the window joined to its intake (0.3-0.7 s for a queue's 90 days at
    # 1,000,000 cases).
    link_kind = models.CharField(
        max_length=20, choices=LINK_KIND_CHOICES, default=NEITHER, editable=False
    )
    created_by = optional_user()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = UpdatedAtField(auto_now=True)

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
            # A referral is saved whenever it is claimed, so it is never updated before it was
            # created or claimed. The dashboard bounds its windows by updated_at too, to read
            # them by referral_updated_id_idx (referrals.dashboard.recent): these keep that
            # bound from leaving anything out.
            models.CheckConstraint(
                condition=models.Q(updated_at__gte=models.F("created_at")),
                name="referral_updated_after_created",
            ),
            models.CheckConstraint(
                condition=models.Q(claimed_at__isnull=True)
                | models.Q(claimed_at__lte=models.F("updated_at")),
                name="referral_updated_after_claimed",
            ),
        ]
        indexes = [
            models.Index(
                fields=["queue", "-priority", "due_at", "id"],
                name="referral_queue_order_idx",
                condition=models.Q(status__in=sorted(OPEN_STATUSES)),
            ),
            models.Index(fields=["-priority", "due_at", "id"], name="referral_order_idx"),
            # One closed status in page order (status_is): a filter by one (the API's ?status=,
            # the queue's) walked every referral in order to find them (827 ms for a queue's
            # cancelled referrals at 1,000,000 cases). Partial, so that SQLite never takes it
            # for open work, whose own indexes serve it.
            models.Index(
                fields=["status", "-priority", "due_at", "id"],
                name="referral_closed_order_idx",
                condition=models.Q(status__in=sorted(CLOSED_STATUSES)),
            ),
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
            # Open work by due time (overdue: the escalation job each minute, the filters, the
            # queue sorted by due): a closed referral leaves the index. Sorting closed ones by
            # due time too (the queue under "any status") sorts them.
            models.Index(
                fields=["due_at"],
                name="referral_open_due_idx",
                condition=models.Q(status__in=sorted(OPEN_STATUSES)),
            ),
            # updated_since pages by (updated_at, id).
            models.Index(fields=["updated_at", "id"], name="referral_updated_id_idx"),
            # The dashboard's claims of the last 30 days, their count and median wait
            # (dashboard.claim_waits), from the index alone: what they read is in its key
            # (not INCLUDE, which SQLite lacks and would warn of on every check), the columns
            # its filters read too (in a partial index's condition only, SQLite reads the row).
            models.Index(
                fields=[
                    "claimed_at",
                    "created_at",
                    "waiting_since",
                    "queue",
                    "status",
                    "case_claimed_at",
                ],
                name="referral_claimed_idx",
                condition=models.Q(claimed_at__isnull=False),
            ),
            # The cases of the foot-and-back links since a day: the dashboard's counts, from the
            # index alone, and the queue's list its numbers link to (?link=&since=). Only the
            # kinds the dashboard shows, so the others (most cases) cost a submission no entry.
            # What the counts leave out (dashboard.counted_cases) is read from its key too.
            models.Index(
                fields=["created_at", "queue", "link_kind", "referred_again_from", "status"],
                name="referral_link_idx",
                condition=models.Q(link_kind__in=sorted(LINKED_KINDS)),
            ),
            index_where_set("rerouted_from", "referral_rerouted_from_idx"),
            index_where_set("created_by", "referral_created_by_idx"),
            index_where_set("referred_again_from", "referral_again_from_idx"),
            index_where_set("rerouted_into", "referral_rerouted_into_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.intake.reference} → {self.get_queue_display()}"

    @property
    def waits_since(self) -> dt.datetime:
        """When the case began to wait for this referral (``waiting_since``, else created)."""
        return self.waiting_since or self.created_at

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def leaves_by_clearance(self) -> bool:
        """A red-flag review leaves its queue only through the red flag's clearance, with its
        reason: no reroute (referrals.services.referral_reroute, the case page's move form)."""
        return self.queue == Queue.URGENT_MEDICAL_REVIEW and self.red_flag_count > 0


# Referral.waits_since in SQL: the queue's "Waiting" column and the dashboard's wait to claim.
WAITS_SINCE: Final = Coalesce("waiting_since", "created_at")

Referral._meta.get_field("status").register_lookup(InConstants)
Referral._meta.get_field("queue").register_lookup(InConstants)
Referral._meta.get_field("link_kind").register_lookup(InConstants)


class ReferralIntake(models.Model):
    """Links every submission that fed an open referral (a later one may raise its urgency)."""

    # No index of its own: the unique constraint's index leads with it.
    referral = models.ForeignKey(Referral, on_delete=models.PROTECT, db_index=False)
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
    URGENCY_RAISED = "urgency_raised", _("Urgency raised by a case that joined")
    URGENCY_OVERRIDDEN = "urgency_overridden", _("Urgency overridden by a clinician")
    RED_FLAG_CLEARED = "red_flag_cleared", _("Red flag cleared")
    OVERDUE = "overdue", _("Marked overdue")
    ALERT = "alert", _("Escalation alert sent")
    REFERRED_AGAIN = "referred_again", _("Referred again as a new referral")
    REROUTED_IN = "rerouted_in", _("Rerouted in")


class ReferralEvent(models.Model):
    """History row for every change to a referral: who, when, from, to and why."""

    # Indexed with its time by event_referral_time_idx below.
    referral = models.ForeignKey(
        Referral, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    # None for the system's own events (created, linked, overdue, alerts): indexed only where
    # set (event_actor_idx below), as Referral's users are.
    actor = optional_user()
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    from_urgency = models.CharField(max_length=10, blank=True)
    to_urgency = models.CharField(max_length=10, blank=True)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        # Events are only ever read by referral, in time order (the case page's newest first,
        # the API's and the erasure's oldest first): one index in that order serves them all,
        # where a referral index and a time index each took an insert per event (7 a
        # generated case) and the time index served no query.
        indexes = [
            models.Index(fields=["referral", "created_at", "id"], name="event_referral_time_idx"),
            index_where_set("actor", "event_actor_idx"),
        ]

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


# --- Integrations (issue 6): API tokens, idempotency keys, webhooks ------------------------------


class Scope(models.TextChoices):
    INTAKE_SUBMIT = "intake:submit", _("Submit intakes")
    INTAKE_READ = "intake:read", _("Read intakes, flags and referrals of a case")
    TRIAGE_PREVIEW = "triage:preview", _("Preview triage without storing")
    REFERRALS_READ = "referrals:read", _("Read referrals")
    REFERRALS_WRITE = "referrals:write", _("Move referrals")


class ApiToken(models.Model):
    """A credential for one integration. Only the SHA-256 of the secret is stored.

    The token acts as its own service user (``user``), so every move it makes is recorded with a
    named actor; the queues it may see are the token's ``queues`` (all queues when empty).
    """

    name = models.CharField(max_length=100, help_text="Who uses this token, e.g. 'GP portal'.")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_token", editable=False
    )
    scopes = models.JSONField(default=list)
    queues = models.JSONField(default=list, blank=True, help_text="Leave empty for every queue.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotencyRecord(models.Model):
    """The first response to a request sent with an ``Idempotency-Key``, replayed on retries."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="idempotency_key_once_per_token")
        ]

    def __str__(self) -> str:
        return self.key


class WebhookEvent(models.TextChoices):
    INTAKE_SUBMITTED = "intake.submitted", _("Intake submitted")
    REFERRAL_STATUS_CHANGED = "referral.status_changed", _("Referral status changed")
    REFERRAL_URGENCY_CHANGED = "referral.urgency_changed", _("Referral urgency changed")
    REFERRAL_RED_FLAG_ELSEWHERE_CHANGED = (
        "referral.red_flag_elsewhere_changed",
        _("Referral red flag elsewhere changed"),
    )


class WebhookEndpoint(models.Model):
    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    # Kept readable: the clinic must sign with it. Receivers hold the same secret.
    secret = models.CharField(max_length=200)
    events = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed (gave up)")


class WebhookDelivery(models.Model):
    """Outbox row, written in the same transaction as the change it reports."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="+")
    event_id = models.UUIDField(default=uuid.uuid4, editable=False)
    event_type = models.CharField(max_length=40, choices=WebhookEvent.choices)
    payload = models.JSONField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="delivery_once_per_event")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"


class LinkDay(models.Model):
    """One closed day of the admin index's foot-and-back panel (referrals.dashboard.link_rows):
    the cases created that clinic-local day, per queue and link kind, as counted in the time
    zone ``time_zone`` (whose midnights bound the day).

    Derived data, not a record: rows are stored on the first dashboard load that needs them and
    deleted by the one writer of past creation times (intake.bulk), to be counted again."""

    time_zone = models.CharField(max_length=64)
    day = models.DateField()
    # "queue|link_kind" -> cases, only the kinds the panel shows and only those counted.
    counts = models.JSONField(default=dict)
    computed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["time_zone", "day"], name="link_day_once_per_zone")
        ]

    def __str__(self) -> str:
        return f"{self.day} ({self.time_zone})"
