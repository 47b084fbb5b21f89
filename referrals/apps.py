from typing import Any

from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.backends.signals import connection_created
        from django.db.models.signals import pre_delete
        from django_otp.plugins.otp_static.models import StaticDevice

        from clinic import checks  # noqa: F401 - registers the deployment checks
        from clinic.middleware import stamp_session_refresh
        from clinic.pgtypes import use_fast_timestamps
        from referrals import (
            admin_accounts,  # noqa: F401 - registers the staff accounts' admin
            admin_integrations,  # noqa: F401 - registers the integration admin
        )
        from referrals.aggregates import register_sqlite_median
        from referrals.recovery_codes import recovery_codes_lock_before_delete

        user_logged_in.connect(stamp_session_refresh, dispatch_uid="stamp_session_refresh")
        user_logged_in.disconnect(dispatch_uid="update_last_login")  # Django's: see ours
        user_logged_in.connect(stamp_last_login, dispatch_uid="stamp_last_login")
        user_logged_in.connect(forget_own_failures, dispatch_uid="forget_own_failures")
        connection_created.connect(use_fast_timestamps, dispatch_uid="use_fast_timestamps")
        connection_created.connect(register_sqlite_median, dispatch_uid="register_sqlite_median")
        pre_delete.connect(
            recovery_codes_lock_before_delete,
            sender=StaticDevice,
            dispatch_uid="recovery_codes_lock_before_delete",
        )


def stamp_last_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """Django's update_last_login, less its error when the account is gone: an administrator's
    deletion of it, waiting for the sign-in's recovery code, goes on once the code is used and
    may delete the row before this stamps it (Django's save found no row to update: a 500 where
    the deletion had simply come second)."""
    from django.utils import timezone

    user.last_login = timezone.now()
    type(user)._default_manager.filter(pk=user.pk).update(last_login=user.last_login)


def forget_own_failures(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """On sign-in, the failed attempts at this username are forgotten, and only those: the
    failures at other usernames from the same address still count towards its lockout."""
    from axes.models import AccessAttempt

    AccessAttempt.objects.filter(username=user.get_username()).delete()
