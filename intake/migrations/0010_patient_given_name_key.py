# Patient.given_name_key: the given name folded as the family name is
# (intake.identity.normalise_given_name), so the staff search finds "José" typed as "Jose". The
# patients stored before get theirs here, in slices of the primary key: each distinct name is
# folded once, and a slice is written in one statement on PostgreSQL (an UPDATE from arrays) and
# one executemany on SQLite, not an ORM save or a CASE per row (the table may hold a million
# patients). Erased patients keep none; a name with no Latin letters folds to nothing, the
# column's default.

from typing import Any

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

SLICE = 10_000


def fill(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # The pure rule is imported, not copied: the backfill must agree with what submission stores.
    from intake.identity import normalise_given_name

    patient = apps.get_model("intake", "Patient")
    connection = schema_editor.connection
    quote = connection.ops.quote_name
    table = quote(patient._meta.db_table)
    key_column = quote(patient._meta.get_field("given_name_key").column)
    pk_column = quote(patient._meta.pk.column)
    named = (
        patient.objects.using(connection.alias)
        .filter(anonymised_at=None)
        .order_by("pk")
        .values_list("pk", "given_name")
    )
    keys: dict[str, str] = {}
    last = 0
    with connection.cursor() as cursor:
        while rows := list(named.filter(pk__gt=last)[:SLICE]):
            last = rows[-1][0]
            found: list[tuple[str, Any]] = []
            for pk, name in rows:
                key = keys.get(name)
                if key is None:
                    key = keys[name] = normalise_given_name(name)
                if key:
                    found.append((key, pk))
            if not found:
                continue
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {table} SET {key_column} = v.key "  # noqa: S608 - quoted identifiers
                    f"FROM unnest(%s::text[], %s::bigint[]) AS v(key, id) "
                    f"WHERE {table}.{pk_column} = v.id",
                    [[key for key, _ in found], [pk for _, pk in found]],
                )
            else:
                cursor.executemany(
                    f"UPDATE {table} SET {key_column} = %s WHERE {pk_column} = %s",  # noqa: S608
                    found,
                )


class Migration(migrations.Migration):
    dependencies = [("intake", "0009_announced_at")]

    operations = [
        migrations.AddField(
            model_name="patient",
            name="given_name_key",
            field=models.CharField(blank=True, editable=False, max_length=150),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop, elidable=True),
    ]
