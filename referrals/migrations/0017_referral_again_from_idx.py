"""The index of referrals made again (Referral.referred_again_from), holding only the rows where
it is set, as the other sparse keys' do. Apart from 0016, whose transaction holds the lock on the
referrals that adding a column takes: building the index reads the table once (a second or two
at 1,000,000 referrals), under the index build's own lock, which lets the table be read."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("referrals", "0016_referral_referred_again_from")]

    operations = [
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                condition=models.Q(("referred_again_from__isnull", False)),
                fields=["referred_again_from"],
                name="referral_again_from_idx",
            ),
        ),
    ]
