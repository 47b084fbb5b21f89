"""Referrals released after a red-flag clearance ranked above others of their urgency, by red
flags already cleared (their priority counted the case's red flags). Outside urgent medical
review a red flag exists only as a cleared one: those referrals rank by urgency alone now,
as referrals.proposals builds them."""

from django.db import migrations
from django.db.models import F, Value
from django.db.models.functions import Least

URGENT_MEDICAL_REVIEW = "urgent_medical_review"


def rank_without_cleared_red_flags(apps, schema_editor):
    Referral = apps.get_model("referrals", "Referral")
    released = Referral.objects.exclude(queue=URGENT_MEDICAL_REVIEW).filter(red_flag_count__gt=0)
    # priority = urgency rank * 10 + min(red flags, 9) (referrals.models.referral_priority)
    released.update(priority=F("priority") - Least(F("red_flag_count"), Value(9)), red_flag_count=0)


class Migration(migrations.Migration):
    dependencies = [("referrals", "0009_closed_order_index")]

    operations = [
        migrations.RunPython(rank_without_cleared_red_flags, migrations.RunPython.noop),
    ]
