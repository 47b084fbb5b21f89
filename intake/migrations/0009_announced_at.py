# Intake.announced_at: when the case's webhooks and staff alerts were recorded. The cases
# already stored were announced when they were submitted (or, generated, had nothing to
# announce): they are marked so, before the index of those still to announce is built.

from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.db.models import F


def mark_announced(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    intake = apps.get_model("intake", "Intake")
    intake.objects.using(schema_editor.connection.alias).filter(announced_at=None).update(
        announced_at=F("created_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0008_cut_matching_keys"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="intake",
            name="announced_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(mark_announced, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="intake",
            index=models.Index(
                condition=models.Q(("announced_at__isnull", True)),
                fields=["created_at"],
                name="intake_unannounced_idx",
            ),
        ),
    ]
