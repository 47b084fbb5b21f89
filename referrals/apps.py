from django.apps import AppConfig


class ReferralsConfig(AppConfig):
    name = "referrals"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in
        from django.db.backends.signals import connection_created

        from clinic.middleware import stamp_session_refresh
        from clinic.pgtypes import use_fast_timestamps
        from referrals import admin_integrations  # noqa: F401 - registers the integration admin

        user_logged_in.connect(stamp_session_refresh, dispatch_uid="stamp_session_refresh")
        connection_created.connect(use_fast_timestamps, dispatch_uid="use_fast_timestamps")
