# The lost-task sweeper (clinic.tasks.requeue_lost_tasks) reads, every minute, the tasks left
# running in django-tasks-db's table, which keeps every task's row for
# TASK_RESULT_RETENTION_DAYS (14 days of periodic tasks alone: over 200,000 rows). Its only
# index of the status holds waiting (READY) rows, so the sweep read the whole table: 145 ms at
# 400,000 rows on PostgreSQL. Running rows are a handful at any time: a partial index of them
# costs one entry a task run. Not the app's own (its migrations state nothing of it): RunPython,
# with no state to keep. A later django-tasks-db migration that rebuilds the table on SQLite
# would drop it; the sweep is then slower, not wrong.

from typing import Any

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

INDEX = models.Index(
    fields=["started_at"], condition=models.Q(status="RUNNING"), name="tasks_db_running_idx"
)


def create(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
    schema_editor.add_index(apps.get_model("django_tasks_database", "DBTaskResult"), INDEX)


def drop(apps: Any, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # IF EXISTS: a django-tasks-db migration that rebuilt the table on SQLite dropped it
    # already, and unapplying this failed on "no such index" (a review).
    schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(INDEX.name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("intake", "0012_patient_phone_trigram_index"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
