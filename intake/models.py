import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from clinic.sparse import index_where_set, optional_user
from intake import identity
from referrals.links import KINDS, NEITHER

LINK_KIND_CHOICES = [(kind, label) for kind, (label, _icon) in KINDS.items()]


class ContactMethod(models.TextChoices):
    PHONE = "phone", _("Phone")
    EMAIL = "email", _("Email")


class Patient(models.Model):
    """A person, matched on normalised family name, birth date and phone or email."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    given_name = models.CharField(max_length=150)
    # The staff search's given name, found without its accents (identity.normalise_given_name).
    # Not indexed: the search reads it only beside the family name's key (a given name alone
    # is not searched).
    given_name_key = models.CharField(
        max_length=identity.GIVEN_NAME_KEY_MAX, blank=True, editable=False
    )
    family_name = models.CharField(max_length=150)
    family_name_key = models.CharField(max_length=identity.FAMILY_NAME_KEY_MAX, editable=False)
    date_of_birth = models.DateField()
    phone = models.CharField(max_length=40, blank=True)
    phone_key = models.CharField(max_length=40, blank=True, editable=False)
    email = models.EmailField(max_length=254, blank=True)
    email_key = models.CharField(max_length=identity.EMAIL_KEY_MAX, blank=True, editable=False)
    preferred_contact = models.CharField(max_length=10, choices=ContactMethod.choices)
    # Erasure anonymises identity but keeps the clinical record lawful (issue 8).
    anonymised_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            # Matching (equal keys) and the staff search (a family name's first letters: on
            # PostgreSQL a LIKE, which only a pattern operator class serves under a collation
            # other than C; SQLite ignores operator classes and is searched by a range).
            models.Index(
                fields=["family_name_key", "date_of_birth"],
                name="patient_match_idx",
                opclasses=["varchar_pattern_ops", "date_ops"],
            ),
            # The staff search by date of birth, and by a whole phone number.
            models.Index(fields=["date_of_birth"], name="patient_birth_idx"),
            models.Index(
                fields=["phone_key"], name="patient_phone_idx", condition=~models.Q(phone_key="")
            ),
        ]
        constraints = [
            # An erased patient has no contact details left: that is the point of erasure.
            models.CheckConstraint(
                condition=~models.Q(phone_key="", email_key="")
                | models.Q(anonymised_at__isnull=False),
                name="patient_has_contact",
            )
        ]

    def __str__(self) -> str:
        return f"{self.family_name.upper()}, {self.given_name} ({self.date_of_birth:%d %b %Y})"


class IntakeSource(models.TextChoices):
    FORM = "form", _("Patient form")
    API = "api", _("API")
    DEMO = "demo", _("Demo data")
    GENERATOR = "generator", _("Data generator")


class Urgency(models.TextChoices):
    EMERGENCY = "emergency", _("Emergency")
    URGENT = "urgent", _("Urgent")
    ROUTINE = "routine", _("Routine")


URGENCY_RANK = {Urgency.ROUTINE: 0, Urgency.URGENT: 1, Urgency.EMERGENCY: 2}


class Intake(models.Model):
    """One submitted questionnaire with the triage result computed at submission."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    reference = models.CharField(max_length=12, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="intakes")
    source = models.CharField(max_length=10, choices=IntakeSource.choices)
    date_of_birth = models.DateField()
    submitted_at = models.DateTimeField(db_index=True)
    submission_date = models.DateField(help_text="The submission date in the clinic's time zone.")
    age_years = models.PositiveSmallIntegerField()
    answers = models.JSONField()
    questionnaire_version = models.CharField(max_length=20)
    ruleset_version = models.CharField(max_length=20)
    triage_result = models.JSONField(
        help_text="The whole spec §8.1 result, derived values included."
    )
    urgency = models.CharField(max_length=10, choices=Urgency.choices)
    flag_codes = models.JSONField(default=list)
    red_flag_count = models.PositiveSmallIntegerField(default=0)
    # Stored so the queue can filter on it; always link_kind(flag_codes, answers) (issue 9).
    # Not indexed: the queue reads referrals in its own order and checks each one's intake by
    # key; seven values are no key to start from (see tests/referrals/test_admin.py).
    link_kind = models.CharField(max_length=20, choices=LINK_KIND_CHOICES, default=NEITHER)
    patient_messages = models.JSONField(
        default=dict, help_text="What the patient was shown: urgency message and safety nets."
    )
    messages_shown_at = models.DateTimeField(null=True, blank=True)
    interrupt_shown_at = models.DateTimeField(
        null=True, blank=True, help_text="When the in-browser emergency advice was shown."
    )
    red_flag_cleared_at = models.DateTimeField(null=True, blank=True)
    # The two users below are indexed only where set (clinic.sparse).
    red_flag_cleared_by = optional_user()
    red_flag_clearance_reason = models.TextField(blank=True)
    created_by = optional_user()
    # When the case's webhooks and staff alerts were recorded (referrals.tasks.announce_intake);
    # null until then, and a sweeper enqueues again an announcement missing for too long
    # (referrals.tasks.announce_missed). The generator's history has nothing to announce.
    announced_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [
            index_where_set("red_flag_cleared_by", "intake_flag_cleared_by_idx"),
            index_where_set("created_by", "intake_created_by_idx"),
            # Only the cases still to announce, oldest first: the sweeper's read stays flat.
            models.Index(
                fields=["created_at"],
                name="intake_unannounced_idx",
                condition=models.Q(announced_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def has_red_flag(self) -> bool:
        return self.red_flag_count > 0

    @property
    def red_flag_uncleared(self) -> bool:
        """A red flag that no medical reviewer has cleared yet (``RED_FLAG_UNCLEARED``)."""
        return self.red_flag_count > 0 and self.red_flag_cleared_at is None


# The cases with a red flag no medical reviewer has cleared (``Intake.red_flag_uncleared``).
RED_FLAG_UNCLEARED = models.Q(red_flag_count__gt=0, red_flag_cleared_at=None)


class RateCounter(models.Model):
    """A fixed-window request counter shared by every process (never per-process memory)."""

    key = models.CharField(max_length=200, unique=True)
    window_ends_at = models.DateTimeField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}={self.count}"


class IntakeDraft(models.Model):
    """A form in progress, saved after every completed step so the patient can come back.

    Only a SHA-256 hash of the resume token is stored: the token itself lives in the patient's
    resume link and session, so a copy of this table cannot be used to open anyone's draft.
    """

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    data = models.JSONField(default=dict)
    current_step = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"draft at {self.current_step}, expires {self.expires_at:%Y-%m-%d %H:%M}"
