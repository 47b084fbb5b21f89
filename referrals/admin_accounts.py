"""Django's admin for staff accounts, with their rows locked before a deletion looks for what
goes with them."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from referrals.admin_queue import ListedFiltersAdmin
from referrals.recovery_codes import account_locked

User = get_user_model()


class StaffAccountAdmin(ListedFiltersAdmin, UserAdmin):  # only the filters offered
    # Django finds what an account's deletion takes with it (its authenticators, recovery
    # codes) before it deletes anything. A set of codes made meanwhile (holding the account's
    # row, as the deletion's first lock then waits for) was not among them, and the account's
    # delete failed on it (a 500): the row is locked first, and what goes with it found after.

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            account_locked(obj.pk)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            locking = User.objects.select_for_update().filter(pk__in=queryset.values("pk"))
            list(locking.order_by("pk").values_list("pk"))
            super().delete_queryset(request, queryset)


admin.site.unregister(User)
admin.site.register(User, StaffAccountAdmin)
