from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_link_kinds(apps, schema_editor):
    """Each referral takes the link kind of the intake that opened it, as referral_build copies
    it from now on. New rows were given "neither", so only the others are written."""
    Intake = apps.get_model("intake", "Intake")
    Referral = apps.get_model("referrals", "Referral")
    Referral.objects.exclude(intake__link_kind="neither").update(
        link_kind=Subquery(Intake.objects.filter(pk=OuterRef("intake_id")).values("link_kind"))
    )


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0012_patient_phone_trigram_index"),
        ("referrals", "0012_link_day"),
    ]

    operations = [
        migrations.AddField(
            model_name="referral",
            name="link_kind",
            field=models.CharField(
                choices=[
                    ("back_to_foot", "Back → foot"),
                    ("foot_to_back", "Foot → back"),
                    ("both", "Both ways"),
                    ("separate", "Separate problems"),
                    ("foot_only", "Foot only"),
                    ("back_only", "Back only"),
                    ("neither", "Neither"),
                ],
                default="neither",
                editable=False,
                max_length=20,
            ),
        ),
        migrations.RunPython(copy_link_kinds, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="referral",
            index=models.Index(
                condition=models.Q(
                    ("link_kind__in", ["back_to_foot", "both", "foot_to_back", "separate"])
                ),
                fields=["created_at", "queue", "link_kind"],
                name="referral_link_idx",
            ),
        ),
    ]
