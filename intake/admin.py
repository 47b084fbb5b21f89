from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from clinic.admin_filters import month_filter
from intake.identity import parse_reference
from intake.models import Intake
from referrals import access, selectors
from referrals.admin_queue import CappedCountAdmin
from referrals.models import OPEN_STATUSES, Referral


@admin.register(Intake)
class IntakeAdmin(CappedCountAdmin):
    """Submissions, scoped like the referrals; a row opens the case page of a visible referral."""

    list_display = ["reference", "submitted_at", "urgency", "source", "flag_list"]
    list_filter = ["urgency", "source", month_filter("submitted_at")]
    search_fields = ["reference"]
    search_help_text = "Reference (spaces and dashes are ignored)."
    list_select_related = ["patient"]
    ordering = ["-submitted_at"]

    class Media:
        css = {"all": ["referrals/admin.css"]}

    def get_queryset(self, request: HttpRequest) -> QuerySet[Intake]:
        return selectors.intake_list(user=request.user)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Intake], search_term: str
    ) -> tuple[QuerySet[Intake], bool]:
        # A reference as a patient reads it out, as the queue's search takes it: with a dash
        # it found nothing here (a review found it).
        return super().get_search_results(request, queryset, parse_reference(search_term))

    @admin.display(description="Flags")
    def flag_list(self, obj: Intake) -> str:
        return ", ".join(obj.flag_codes)

    # Its rows are found through the referral queues and show the submission: "view referral"
    # and "view intake", as the API asks to read them (access.VIEW_REFERRALS). A row opens
    # the case page, which shows the patient too: linked only for whoever may open it.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return access.may_view_referrals(request.user)

    def get_list_display_links(self, request: HttpRequest, list_display: Any) -> Any:
        if not access.may_view_cases(request.user):
            return None
        return super().get_list_display_links(request, list_display)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def change_view(
        self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        # Before the lookup, as the case page does: a refusal says nothing of what exists.
        if not access.may_view_cases(request.user):
            raise PermissionDenied
        intake = self.get_object(request, object_id)
        if intake is None:
            raise Http404("No such intake.")
        visible = selectors.referral_list(user=request.user).filter(intakes=intake)
        # Open work first: a referral rerouted away sorts as the one it went to (same urgency,
        # same due time), and the row opened the closed one, with nothing to do on it.
        referral = (
            visible.filter(status__in=OPEN_STATUSES).order_by("-priority", "due_at", "id").first()
            or visible.order_by("-priority", "due_at", "id").first()
        )
        if referral is None:
            raise Http404("No such intake.")
        url = reverse("admin:referrals_referral_change", args=[referral.public_id])
        if referral.intake_id != intake.pk:
            # A later submission that joined the referral: its flags, answers and what it was
            # shown are on the referral's page, under its reference.
            url += f"#later-{intake.reference}"
        return HttpResponseRedirect(url)

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        raise Http404


__all__ = ["IntakeAdmin", "Referral"]
