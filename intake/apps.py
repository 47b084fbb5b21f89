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
        from django.tasks.signals import task_finished

        task_finished.connect(forget_personal_arguments, dispatch_uid="forget_personal_arguments")


def forget_personal_arguments(sender: Any, task_result: Any, **kwargs: Any) -> None:
    """``task_finished``: the database backend's row of such a task keeps no arguments (other
    backends store nothing)."""
    from django_tasks_db import DatabaseBackend
    from django_tasks_db.models import DBTaskResult

    # django-tasks-db's worker sends its backend on success and the backend's class on failure.
    backend = sender if isinstance(sender, type) else type(sender)
    if task_result.task.module_path not in PERSONAL_TASKS or not issubclass(
        backend, DatabaseBackend
    ):
        return
    # A failure's traceback may name the address too (a refused recipient): kept as its class.
    DBTaskResult.objects.filter(id=task_result.id).update(
        args_kwargs={"args": [], "kwargs": {}}, traceback=""
    )
