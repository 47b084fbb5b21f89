"""When the case began to wait for a rerouted referral (Referral.waiting_since): nullable and
without a default, so PostgreSQL adds it to the 1,000,000+ referrals without writing them; a
referral without it waits from its created_at. Migration 0015 fills it for reroutes made
before it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("referrals", "0013_referral_link_kind")]

    operations = [
        migrations.AddField(
            model_name="referral",
            name="waiting_since",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
