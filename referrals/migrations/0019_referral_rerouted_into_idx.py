"""The index of rerouted referrals by the referral they went on in (Referral.rerouted_into),
holding only the rows where it is set, as the other sparse keys' do; apart from 0018, for the
reason 0017 gives."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("referrals", "0018_referral_rerouted_into")]

    operations = [
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                condition=models.Q(("rerouted_into__isnull", False)),
                fields=["rerouted_into"],
                name="referral_rerouted_into_idx",
            ),
        ),
    ]
