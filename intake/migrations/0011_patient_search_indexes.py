# The staff search by index: patient_match_idx with a pattern operator class for the family
# name's key (PostgreSQL; a LIKE 'hug%' took no index under a collation other than C; SQLite
# ignores operator classes, and its index is rebuilt as it was), and indexes for a date of birth
# and a whole phone number searched alone.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0010_patient_given_name_key"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="patient",
            name="patient_match_idx",
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                fields=["family_name_key", "date_of_birth"],
                name="patient_match_idx",
                opclasses=["varchar_pattern_ops", "date_ops"],
            ),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(fields=["date_of_birth"], name="patient_birth_idx"),
        ),
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(
                condition=models.Q(("phone_key", ""), _negated=True),
                fields=["phone_key"],
                name="patient_phone_idx",
            ),
        ),
    ]
