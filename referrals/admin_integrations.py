"""Admin for integrations: API tokens, webhook endpoints and the delivery log. Superusers only."""

from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from referrals.admin_queue import ListedFiltersAdmin
from referrals.models import (
    ApiToken,
    Queue,
    Scope,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from referrals.tokens import api_token_create, api_token_revoke


class SuperuserOnly(ListedFiltersAdmin):  # only the filters offered
    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple)
    queues = forms.MultipleChoiceField(
        choices=Queue.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Leave all unticked for every queue.",
    )

    class Meta:
        model = ApiToken
        fields = ["name", "scopes", "queues", "revoked_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(SuperuserOnly):
    form = ApiTokenForm
    list_display = ["name", "prefix", "scope_list", "queue_list", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "user", "created_by", "created_at", "last_used_at"]
    actions = ["revoke_selected"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["name", "scopes", "queues"]
        return [
            "name",
            "prefix",
            "user",
            "scopes",
            "queues",
            "revoked_at",
            *self.readonly_fields[2:],
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.revoked_at is not None:
            # Revocation is final: clearing the date made a revoked token valid again (a
            # review found it). An integration that needs access again gets a new token.
            fields += ["name", "scopes", "queues", "revoked_at"]
        return fields

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiToken) -> str:
        return ", ".join(obj.scopes)

    @admin.display(description="queues")
    def queue_list(self, obj: ApiToken) -> str:
        return ", ".join(obj.queues) or "all"

    def save_model(self, request: HttpRequest, obj: ApiToken, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created = api_token_create(
            name=obj.name, scopes=obj.scopes, queues=obj.queues, created_by=request.user
        )
        obj.pk = created.token.pk
        obj.__dict__.update(
            {k: v for k, v in created.token.__dict__.items() if not k.startswith("_")}
        )
        # The only time the secret exists outside the integrator's hands.
        self.message_user(
            request,
            f"Copy this token now; it is stored hashed and will not be shown again: {created.raw}",
            messages.WARNING,
        )

    @admin.action(description="Revoke selected tokens")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        for token in queryset:
            api_token_revoke(token=token)
        self.message_user(request, f"Revoked {queryset.count()} token(s).")


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        choices=WebhookEvent.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "secret", "events", "is_active"]
        help_texts = {"secret": "Shared with the receiver, which uses it to check signatures."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.fields["secret"].initial = secrets.token_urlsafe(32)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(SuperuserOnly):
    form = WebhookEndpointForm
    list_display = ["name", "url", "event_list", "is_active"]
    list_filter = ["is_active"]

    @admin.display(description="events")
    def event_list(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(SuperuserOnly):
    list_display = [
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
        "delivered_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "event_type", "endpoint"]
    list_select_related = ["endpoint"]
    search_fields = ["event_id"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
