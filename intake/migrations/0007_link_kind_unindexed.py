# The field change made an index drop only, as 0006 did (as generated, SQLite rebuilt the
# intake table). PostgreSQL had a second index for the column, for LIKE (varchar_pattern_ops).

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

INDEX = "intake_intake_link_kind_36898491"


def drop(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX}"')
    schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX}_like"')


def create(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.execute(f'CREATE INDEX "{INDEX}" ON "intake_intake" ("link_kind")')
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX "{INDEX}_like" ON "intake_intake" ("link_kind" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0006_sparse_user_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="intake",
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
                        max_length=20,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, create)],
        ),
    ]
