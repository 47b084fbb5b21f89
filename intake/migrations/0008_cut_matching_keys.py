# The matching keys are cut to their columns' widths (intake.identity.FAMILY_NAME_KEY_MAX,
# EMAIL_KEY_MAX). SQLite does not enforce a varchar's length, so keys stored longer before
# are cut the same way here, or their patients would no longer be matched. PostgreSQL could
# not have stored them: nothing to do there but one scan.

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.db.models.functions import Length, Substr

WIDTHS = {"family_name_key": 150, "email_key": 254}


def cut(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    patient = apps.get_model("intake", "Patient")
    for column, width in WIDTHS.items():
        patient.objects.using(schema_editor.connection.alias).annotate(width=Length(column)).filter(
            width__gt=width
        ).update(**{column: Substr(column, 1, width)})


class Migration(migrations.Migration):
    dependencies = [("intake", "0007_link_kind_unindexed")]

    operations = [migrations.RunPython(cut, migrations.RunPython.noop, elidable=True)]
