# Part of a phone number in the staff search ("912345": Patient.phone_key contains it) by a
# trigram index on PostgreSQL: it read every patient (132 ms at 1,000,000 patients, three times
# in a search that matched many), now about 1 ms. pg_trgm ships with PostgreSQL and is a
# trusted extension (13 and later): a database owner, or a user with CREATE on the database,
# may create it; a migration run by a user without that right fails here, saying so, and the
# README's production section says what to grant. SQLite has no such index: its search reads
# the phone numbers (one machine, a small clinic). Not in the model's Meta (its index would be
# built on SQLite too): RunPython, with no state to keep.

from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

INDEX = "patient_phone_trgm_idx"


def create(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Partial as patient_phone_idx: the search asks for phone_key <> '' too.
    schema_editor.execute(
        f"CREATE INDEX {INDEX} ON intake_patient USING gin (phone_key gin_trgm_ops) "
        "WHERE phone_key <> ''"
    )


def drop(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0011_patient_search_indexes"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
