"""The referral a rerouted one went on in (Referral.rerouted_into), set on the closed one: a
reroute into the patient's open referral of a queue, when that one had come from another queue
already, left no link (its rerouted_from was taken). Nullable and without a default, so
PostgreSQL adds the column to the 1,000,000+ referrals without writing them; its index is
migration 0019's, as 0017 is 0016's. The event kind's new choice ("Rerouted in") changes no
SQL."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("referrals", "0017_referral_again_from_idx")]

    operations = [
        migrations.AddField(
            model_name="referral",
            name="rerouted_into",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="rerouted_in",
                to="referrals.referral",
            ),
        ),
        migrations.AlterField(
            model_name="referralevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("created", "Created"),
                    ("transition", "Status changed"),
                    ("linked", "New submission linked"),
                    ("urgency_raised", "Urgency raised by a new submission"),
                    ("urgency_overridden", "Urgency overridden by a clinician"),
                    ("red_flag_cleared", "Red flag cleared"),
                    ("overdue", "Marked overdue"),
                    ("alert", "Escalation alert sent"),
                    ("referred_again", "Referred again as a new referral"),
                    ("rerouted_in", "Rerouted in"),
                ],
                max_length=20,
            ),
        ),
    ]
