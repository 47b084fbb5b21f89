# Erased patients keep no contact details (issue 8).
# Depends on 0003; a parallel branch adds 0004 and the merge fixes the dependency.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0004_intake_link_kind"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="patient",
            name="patient_has_contact",
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("email_key", ""), ("phone_key", ""), _negated=True),
                    ("anonymised_at__isnull", False),
                    _connector="OR",
                ),
                name="patient_has_contact",
            ),
        ),
    ]
