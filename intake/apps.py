import logging
from typing import Any

from django.apps import AppConfig

# Tasks whose arguments carry personal data in clear (an email address, a private resume link):
# once finished, their stored arguments are emptied (forget_personal_arguments), where the
# task table kept them TASK_RESULT_RETENTION_DAYS (a review found resume links and addresses
# there, and still there after an erasure).
PERSONAL_TASKS = frozenset({"intake.tasks.send_resume_link"})


class IntakeConfig(AppConfig):
    name = "intake"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate, pre_migrate
        from django.tasks.signals import task_finished

        from intake.deferred_indexes import restore_after_migrate, restore_before_migrate

        task_finished.connect(forget_personal_arguments, dispatch_uid="forget_personal_arguments")
        # Indexes a stopped data load left missing (intake.deferred_indexes).
        pre_migrate.connect(restore_before_migrate, sender=self, dispatch_uid="restore_indexes")
        post_migrate.connect(restore_after_migrate, sender=self, dispatch_uid="restore_indexes")


def forget_personal_arguments(sender: Any, task_result: Any, **kwargs: Any) -> None:
    """``task_finished``: the database backend's row of a task that carried personal data keeps
    no arguments, and a failed task's traceback no email address (a mail server refusing one
    names it), masked as the logs mask it. Other backends store nothing."""
    from django.tasks import TaskResultStatus
    from django_tasks_db import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    from clinic.logfilters import mask

    # django-tasks-db's worker sends its backend on success and the backend's class on failure.
    backend = sender if isinstance(sender, type) else type(sender)
    if not issubclass(backend, DatabaseBackend):
        return
    row = DBTaskResult.objects.filter(id=task_result.id)
    # Never raises: the worker sends this inside its own try, and an error here would mark a
    # task that succeeded as failed (a review). The redaction is then left undone, and logged.
    try:
        if task_result.task.module_path in PERSONAL_TASKS:
            row.update(args_kwargs={"args": [], "kwargs": {}}, traceback="")
        elif task_result.status == TaskResultStatus.FAILED:
            for traceback in row.values_list("traceback", flat=True):
                row.update(traceback=mask(traceback))
    except Exception:
        logging.getLogger(__name__).exception("task %s: arguments not redacted", task_result.id)
