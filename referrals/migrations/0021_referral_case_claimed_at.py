"""The case's first claim in a queue, on a referral made again after it (Referral.case_claimed_at,
referral_refer_again): nullable and without a default, so PostgreSQL adds the column to the
1,000,000+ referrals without writing them. Filled for the referrals made again before it by
0022; the claims' index that leaves them out is 0023's, outside this migration's lock."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("referrals", "0020_referral_rerouted_into_backfill")]

    operations = [
        migrations.AddField(
            model_name="referral",
            name="case_claimed_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
