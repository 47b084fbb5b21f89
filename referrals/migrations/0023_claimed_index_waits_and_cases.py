"""The dashboard's claims (referrals.dashboard.claim_waits) count a case once per queue and wait
from when it first waited: their index holds what the wait, the status and the case's first
claim (case_claimed_at) read, so the count and median are still read from it alone. Built
again, as its key changes: the new one first, beside the old, as 0008 builds its index (the
build locks the table against writes, not reads), then the old one dropped and the new one
named as it was (PostgreSQL: a drop locks the table against reads too, held to the commit, so a
drop first held every read of the referrals for the whole build; a review found it)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("referrals", "0022_case_claimed_at_backfill")]

    operations = [
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                condition=models.Q(("claimed_at__isnull", False)),
                fields=[
                    "claimed_at",
                    "created_at",
                    "waiting_since",
                    "queue",
                    "status",
                    "case_claimed_at",
                ],
                name="referral_claimed_new_idx",
            ),
        ),
        # Then the old one goes and the new takes its name: the table is locked against
        # reads only for these two quick statements, not for the build.
        migrations.RemoveIndex(model_name="referral", name="referral_claimed_idx"),
        migrations.RenameIndex(
            model_name="referral",
            new_name="referral_claimed_idx",
            old_name="referral_claimed_new_idx",
        ),
    ]
