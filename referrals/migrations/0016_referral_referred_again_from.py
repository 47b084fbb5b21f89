"""A referral made again from one closed by mistake (Referral.referred_again_from, the
"Refer again" move): nullable and without a default, so PostgreSQL adds the column to the
1,000,000+ referrals without writing them (the foreign key is checked against a column that is
empty on every row). Its index is migration 0017's: built here, in this migration's
transaction, it held the table's lock taken to add the column while it read the 1,000,000+
referrals (a review found it). The event kind's new choice changes no SQL."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("referrals", "0015_referral_waiting_since_backfill")]

    operations = [
        migrations.AddField(
            model_name="referral",
            name="referred_again_from",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="referred_again_as",
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
                ],
                max_length=20,
            ),
        ),
    ]
