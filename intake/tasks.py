"""Background work for the patient form: emails after commit and the purge of old drafts."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.mail import send_mail
from django.tasks import task
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.translation import gettext

from intake import identity
from intake.messages import patient_disclaimer


@task
def send_resume_link(*, email: str, url: str, expires_at: str) -> None:
    """Mail the private link to a saved form (the patient asked for email contact)."""
    expires = timezone.localtime(dt.datetime.fromisoformat(expires_at))
    body = render_to_string(
        "intake/email/resume_link.txt",
        {
            "clinic_name": settings.CLINIC_NAME,
            "url": url,
            "expires": formats.date_format(expires, "DATETIME_FORMAT"),
            # The spec's own words (§7), where a line of ours said less about when to call.
            "disclaimer": patient_disclaimer(
                emergency_number=settings.CLINIC_EMERGENCY_NUMBER, translate=gettext
            ),
        },
    )
    subject = gettext("Your saved form at %(clinic)s") % {"clinic": settings.CLINIC_NAME}
    send_mail(subject, body, None, [email])


@task
def send_intake_confirmation(*, intake_id: str) -> None:
    """Mail the reference and the messages the patient was shown (never answers or flags)."""
    from intake.models import Intake

    intake = Intake.objects.select_related("patient").filter(public_id=intake_id).first()
    if intake is None or not intake.patient.email:
        return
    reference = identity.format_reference(intake.reference)
    stored = intake.patient_messages
    body = render_to_string(
        "intake/email/confirmation.txt",
        {
            "clinic_name": settings.CLINIC_NAME,
            "reference": reference,
            "messages": [
                stored[key]
                for key in ("urgency_message", "safety_net", "diabetic_safety_net")
                if stored.get(key)
            ],
            "disclaimer": patient_disclaimer(
                emergency_number=settings.CLINIC_EMERGENCY_NUMBER, translate=gettext
            ),
        },
    )
    subject = gettext("We have received your form: reference %(reference)s") % {
        "reference": reference
    }
    send_mail(subject, body, None, [intake.patient.email])


@task
def purge_expired_drafts() -> int:
    """Unsubmitted drafts past DRAFT_TTL_DAYS hold health data nobody will send: delete them."""
    from intake.drafts import drafts_purge

    return drafts_purge()
