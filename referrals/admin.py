"""Staff work the queues here. Every write calls a service; every look at a case is audited."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from functools import lru_cache
from typing import Any, Final

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.middleware.csp import get_nonce
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.csp import CONTEXT_KEY as CSP_CONTEXT_KEY
from django.utils.formats import date_format
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.timesince import TIME_STRINGS, timesince
from django.utils.translation import get_language

from clinic.admin_filters import month_filter
from intake.bodymap import body_map_svg
from intake.messages import staff_disclaimer
from intake.models import RED_FLAG_UNCLEARED, Intake, Patient, Urgency
from intake.triage import RULESET_VERSION
from referrals import access, audit, selectors, services
from referrals.admin_queue import (
    LINK_VAR,
    SINCE_VAR,
    CappedCountAdmin,
    CappedCountPaginator,
    QueueChangeList,
    choice_labels,
    default_view_key,
    link_window,
    refuse_once,
    since_day,
)
from referrals.admin_queue_page import nav_sidebar, queue_changelist_view, site_context
from referrals.audit import audit_record
from referrals.case import HISTORY_COLUMNS, case_answers, case_flags, history_lines
from referrals.case_forms import form_fields_html
from referrals.dashboard import counted, counted_cases, day_start, in_window
from referrals.errors import ChangedSinceShown, ChoiceRequired, ReasonRequired, ReferralError
from referrals.forms import (
    MOVE_CHOICES,
    OVERRIDE_URGENCY,
    REFER_AGAIN,
    ClearRedFlagForm,
    MoveForm,
    StaffNoteForm,
)
from referrals.links import KINDS, LINKED_KINDS, SENTENCES, link_summary
from referrals.models import (
    OPEN_STATUSES,
    REFER_AGAIN_SOURCES,
    TRANSITIONS,
    WAITS_SINCE,
    Action,
    AuditEntry,
    Queue,
    Referral,
    ReferralIntake,
    Status,
    status_is,
)
from referrals.twofactor import StaffLoginForm


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        mine = access.queues_for(request.user)
        return [
            (value, label) for value, label in choice_labels(Queue, get_language()) if value in mine
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        return queryset.filter(queue=self.value()) if self.value() else queryset


class StatusFilter(admin.SimpleListFilter):
    """Open work by default: a queue is what is still to do."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        statuses = choice_labels(Status, get_language())
        return [("open", "Open (default)"), *statuses, ("any", "Any status")]

    def choices(self, changelist: Any) -> Any:
        for choice in super().choices(changelist):
            if choice["display"] == "All":
                continue
            if self.value() is None and choice["display"] == "Open (default)":
                choice["selected"] = True
            yield choice

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        value = self.value() or "open"
        if value == "open":
            # Written as the open-work indexes' own condition (referrals/lookups.py).
            return queryset.filter(status__in_constants=OPEN_STATUSES)
        if value == "any":
            return queryset
        return queryset.filter(status_is(value))


class OverdueFilter(admin.SimpleListFilter):
    title = "due"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        now = timezone.now()
        if self.value() == "yes":
            return queryset.filter(status__in_constants=OPEN_STATUSES, due_at__lt=now)
        if self.value() == "no":
            return queryset.exclude(status__in=OPEN_STATUSES, due_at__lt=now)
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignment"
    parameter_name = "assigned"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("me", "Assigned to me"), ("none", "Unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        if self.value() == "me":
            return queryset.filter(assigned_to=request.user.pk)
        if self.value() == "none":
            return queryset.filter(assigned_to=None)
        return queryset


class LinkKindFilter(admin.SimpleListFilter):
    title = "foot and back"
    parameter_name = LINK_VAR

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(kind, label) for kind, (label, _icon) in KINDS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        kind = self.value()
        if not kind:
            return queryset
        if kind in LINKED_KINDS:
            # The partial index's own term beside it (referral_link_idx): SQLite reads a
            # partial index only for a query that repeats its condition (referrals.lookups).
            return queryset.filter(link_kind=kind, link_kind__in_constants=LINKED_KINDS)
        return queryset.filter(link_kind=kind)


class SinceFilter(admin.SimpleListFilter):
    """Referrals made on or after a day (``?since=2026-09-06``, from the clinic's midnight), as
    the dashboard counts them: its foot-and-back numbers link here with their first day, so
    the list holds the cases the number counts. Offered only when asked for: a choice such as
    "the last 90 days" would put today's date into a filter panel that the queue page keeps
    (referrals/admin_queue_page.py) past midnight."""

    title = "date referred"
    parameter_name = SINCE_VAR

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        if not value:
            return []
        day = since_day(value)
        if day is None:
            # As Django answers a lookup it cannot use: the list without it (?e=1), with why.
            # Without the other filters and the search too, so the message says so (it said
            # "without it", and a podiatry list since a day came back as every open referral).
            refuse_once(
                request,
                model_admin,
                "The date in the address was not understood (since= takes a day as "
                "YYYY-MM-DD, e.g. 2026-09-06): the queue is shown without it, or any other "
                "filter or search in the address.",
            )
            raise IncorrectLookupParameters(value)
        return [(value, f"Since {date_format(day, 'j M Y')}")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Referral]) -> QuerySet[Referral]:
        day = since_day(self.value() or "")
        if day is None:
            return queryset
        if link_window(request):
            # A foot-and-back number's list: by referral_link_idx, the cases the dashboard
            # counts (not a referral made again, nor one entered in error: counted_cases), as
            # it counts them (the bound on updated_at below had PostgreSQL read that index
            # too, and combine).
            return queryset.filter(counted_cases(), created_at__gte=day_start(day))
        # The dashboard's own window (by updated_at too, for the index), so the two agree.
        return queryset.filter(in_window("created_at", day_start(day)))


@admin.register(Referral)
class ReferralAdmin(CappedCountAdmin):
    list_display = [
        "reference",
        "patient_name",
        "urgency_badge",
        "flags",
        "link",
        "waiting",
        "due",
        "assigned_to",
        "status",
        "queue",
    ]
    list_display_links = ["reference"]
    list_filter = [
        QueueFilter,
        StatusFilter,
        "urgency",
        OverdueFilter,
        AssigneeFilter,
        LinkKindFilter,
        SinceFilter,
    ]
    search_fields = ["intake__reference", "patient__family_name", "patient__given_name"]
    search_help_text = (
        "Reference, family name (or family and given name, either order, as “Hughes, Ada”; "
        "accents optional), date of birth (DD/MM/YYYY or as “17 May 1980”) or phone number "
        "(whole, or 6 digits or more of it)."
    )
    list_select_related = ["intake", "patient", "assigned_to"]
    list_per_page = 50
    readonly_fields = [f.name for f in Referral._meta.fields]
    ordering = ["-priority", "due_at", "id"]
    actions = ["claim_selected", "release_selected"]
    # Counting on a big table costs a scan that grows with it: no facet counts, and the
    # paginator stops counting at a cap past the page (CappedCountAdmin).
    show_facets = admin.ShowFacets.NEVER

    class Media:
        css = {"all": ["referrals/admin.css"]}

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        context: dict[str, Any] = {"title": "Referral queue"}
        nonce = get_nonce(request)
        if nonce is not None:
            # Every admin page uses the nonce (base.html), so it is made here, once: the lazy
            # object the context processor gives is re-examined through its proxy by each of
            # the page's ~10 csp_nonce_attr tags, which cost more than the table's rows.
            context[CSP_CONTEXT_KEY] = str(nonce)
        context = {**context, **(extra_context or {})}
        # A plain GET of the queue is drawn by referrals/admin_queue_page.py; the rest (the
        # actions' POSTs, popups, other layouts) by Django.
        page = queue_changelist_view(self, request, context)
        return page if page is not None else super().changelist_view(request, context)

    # --- scoping -------------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[Referral]:
        return selectors.referral_list(user=request.user)

    def get_paginator(self, request: HttpRequest, queryset: Any, *args: Any, **kwargs: Any) -> Any:
        paginator = super().get_paginator(request, queryset, *args, **kwargs)
        if isinstance(paginator, CappedCountPaginator):
            paginator.statement_key = default_view_key(request, queryset)
        return paginator

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return QueueChangeList

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Referral], search_term: str
    ) -> tuple[QuerySet[Referral], bool]:
        from intake.identity import (
            normalise_family_name,
            normalise_given_name,
            normalise_phone,
            parse_reference,
            parse_typed_date,
        )

        term = search_term.strip()
        if not term:
            return queryset, False
        # The patients first, each reading by an index of the patient table, then their
        # referrals by the referral's own patient and intake columns. As one statement, the
        # readings ORed across the intake and the patient joined in, no index served it: a
        # search read the referrals (185 ms at 30,000 cases on PostgreSQL, growing with them).
        born = parse_typed_date(term)
        joined: list[int] = []  # the referrals the submissions of a reference joined
        # A phone number, whole or 6 digits or more of it.
        phone = normalise_phone(term) if born is None else ""
        searches_phone = len(phone) >= 6
        if born is not None:
            # patient_birth_idx. An erased patient keeps only the year, stored as 1 January
            # of it: not a birth date to find them by (a QA round found "1 Jan 1980" listing
            # every erased patient born that year); their reference still finds them.
            patients = Q(date_of_birth=born, anonymised_at__isnull=True)
            intakes: list[int] = []
        else:
            # A term may be a reference, a phone number or a name; references contain digits
            # too, so every reading that fits is searched.
            intakes = list(
                Intake.objects.filter(reference=parse_reference(term)).values_list("pk", flat=True)
            )
            # A patient's later submission joins their open referral of a queue rather than
            # opening one: its reference, the one its confirmation page gave the patient, finds
            # that referral by the link (it found only a referral the submission opened).
            if intakes:
                links = ReferralIntake.objects.filter(intake_id__in=intakes)
                joined = list(links.values_list("referral_id", flat=True))
            patients = Q(pk__in=[])
            key = normalise_family_name(term)
            if key:
                patients |= _starts_with("family_name_key", key)
            # "Hughes, Ada", "HUGHES Ada" (as the list shows names) or "Ada Hughes": a family
            # name and a given name, either way round, both by their keys ("Bronte-Muller, Zoe"
            # finds Zoë Brontë-Müller); a given name alone is not searched.
            words = [w for w in re.split(r"[\s,]+", term) if w]
            if len(words) >= 2:
                for family, given in ((words[:-1], words[-1]), (words[1:], words[0])):
                    family_key = normalise_family_name(" ".join(family))
                    if family_key:
                        patients |= _starts_with("family_name_key", family_key) & Q(
                            given_name_key__startswith=normalise_given_name(given)
                        )
            if searches_phone:
                # patient_phone_idx, whose condition SQLite must find in the statement's own
                patients |= Q(phone_key=phone) & ~Q(phone_key="")
        found = _patient_ids(patients)
        if (
            searches_phone
            and found is not None
            and not queryset.filter(patient_id__in=found).exists()
        ):
            # Part of a number ("900123"), only when no whole number and no name matched a
            # referral this user may see (not a patient of another queue: what is listed must
            # not hang on what is not seen). On PostgreSQL by patient_phone_trgm_idx (intake
            # migration 0012), whose condition the statement names; SQLite reads every
            # patient's number.
            patients = Q(phone_key__contains=phone) & ~Q(phone_key="")
            found = _patient_ids(patients)
        if found is None:  # a term too broad to list its patients: joined, as before
            match = Q(patient__in=Patient.objects.filter(patients))
        else:
            match = Q(patient_id__in=found)
        return queryset.filter(match | Q(intake_id__in=intakes) | Q(pk__in=joined)), False

    # --- permissions ---------------------------------------------------------------------
    # The queue's rows and the case page show the patient and the submission's flags and
    # answers: they ask what the API asks for the same data (access.VIEW_CASES). "Change"
    # does not stand in for "view" as in Django's own admin: the API asks "view" for moves too.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return access.may_view_cases(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return access.may_view_cases(request.user) and super().has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        urls = super().get_urls()
        view = self.admin_site.admin_view
        return [
            path(
                "<uuid:public_id>/change/", view(self.case_view), name="referrals_referral_change"
            ),
            path("<uuid:public_id>/move/", view(self.move_view), name="referrals_referral_move"),
            # The closed page's "Refer again" form: a move as the others are, at an address of
            # its own beside the page's other form (entered in error).
            path(
                "<uuid:public_id>/refer-again/",
                view(self.move_view),
                name="referrals_referral_refer_again",
            ),
            path("<uuid:public_id>/note/", view(self.note_view), name="referrals_referral_note"),
            path("<uuid:public_id>/clear/", view(self.clear_view), name="referrals_referral_clear"),
            *urls,
        ]

    # --- list columns --------------------------------------------------------------------
    @admin.display(description="Reference", ordering="intake__reference")
    def reference(self, obj: Referral) -> str:
        return obj.intake.reference

    @admin.display(description="Patient", ordering="patient__family_name")
    def patient_name(self, obj: Referral) -> str:
        return patient_name_text(obj.patient.family_name, obj.patient.given_name)

    # The badges below depend on one value each and are drawn for every row of every queue
    # page: each is built once per value (and language) and reused.
    @admin.display(description="Urgency", ordering="-priority")
    def urgency_badge(self, obj: Referral) -> str:
        return urgency_badge_html(obj.urgency, get_language())

    @admin.display(description="Flags")
    def flags(self, obj: Referral) -> str:
        elsewhere = getattr(obj, "red_flag_elsewhere", False)  # the queue's annotation
        return mark_safe(flags_cell(obj.intake.flag_codes, elsewhere))  # noqa: S308 - escaped

    @admin.display(description="Foot/back", ordering="link_kind")
    def link(self, obj: Referral) -> str:
        return link_badge(obj.intake.link_kind)

    # From when the case began to wait for the referral: a rerouted one's first queue
    # (Referral.waits_since). No index is in that order, as none was in created_at's for a
    # queue: the sort reads the list's rows and sorts them, as before.
    @admin.display(description="Waiting", ordering=WAITS_SINCE)
    def waiting(self, obj: Referral) -> str:
        return waiting_text(obj.waits_since, timezone.now(), get_language())

    @admin.display(description="Due", ordering="due_at")
    def due(self, obj: Referral) -> str:
        return due_text(obj.due_at, obj.status, timezone.now())

    # --- list actions (call the services) ------------------------------------------------
    def response_action(
        self, request: HttpRequest, queryset: Any, *args: Any, **kwargs: Any
    ) -> Any:
        """Django's, once the selection holds only row ids: a hand-made POST selecting
        something else raised in the action's query (a 500 a review found)."""
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        # A row id: digits, and no more than a 64-bit integer holds (SQLite overflowed).
        if not all(value.isascii() and value.isdigit() and len(value) < 19 for value in selected):
            self.message_user(
                request, "The selection was not understood: please choose again.", messages.ERROR
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset, *args, **kwargs)

    def _bulk(
        self, request: HttpRequest, queryset: QuerySet[Referral], action: str, done_verb: str
    ) -> None:
        done = found = 0
        for referral in self._selected_now(request, queryset):
            found += 1
            try:
                services.referral_transition(referral=referral, action=action, actor=request.user)
                audit_record(actor=request.user, action=action, obj=referral, request=request)
                done += 1
            except ReferralError as exc:
                self.message_user(
                    request, f"{referral.intake.reference}: {exc.message}", messages.WARNING
                )
        if done:
            self.message_user(request, f"{done_verb} {counted(done, 'referral')}.")
        if not _selects_across(request):  # else the list's own rows, found as it finds them
            self._outside_queues(request, found, f"Not {done_verb.lower()}")

    def _outside_queues(self, request: HttpRequest, found: int, not_done: str) -> None:
        """Says how many of the selected referrals were not found in the user's queues (a
        hand-made selection, or a list shown before the user left a queue's team)."""
        missing = len(set(request.POST.getlist(helpers.ACTION_CHECKBOX_NAME))) - found
        if missing > 0:
            self.message_user(
                request,
                f"{not_done}: {counted(missing, 'referral')} no longer in your queues.",
                messages.WARNING,
            )

    # The case page's change permission (the actions were offered and run without it: a
    # review found a claim made by a group that could not claim on the case page). The
    # selection as it is now, not within the list's filters (_selected_now): one cancelled or
    # rerouted since the list was shown left its "open" filter and was dropped without a word.
    @admin.action(description="Claim the selected referrals", permissions=["change"])
    def claim_selected(self, request: HttpRequest, queryset: QuerySet[Referral]) -> None:
        self._bulk(request, queryset, Action.CLAIM, "Claimed")

    # A claim needs no confirmation: its one source is "new", unassigned, so a claim from a
    # list shown before a colleague's work either finds the referral as a claim must (what the
    # list showed or not, claiming it is what was asked, and takes no one's work) or is refused
    # naming who claimed it. A release acts on work in hand, whoever's and however far it got.
    @admin.action(description="Release the selected referrals to the queue", permissions=["change"])
    def release_selected(
        self, request: HttpRequest, queryset: QuerySet[Referral]
    ) -> HttpResponse | None:
        """Django's delete-confirmation pattern: the selection is listed as it is now, and
        only what that page showed is released, each referral only if it is unchanged since
        (a release from a list shown minutes ago released referrals a colleague had claimed,
        contacted or scheduled meanwhile)."""
        if request.POST.get("post") == "yes":
            self._release_confirmed(request)
            return None
        return self._release_confirmation(request, queryset)

    def _selected_now(self, request: HttpRequest, queryset: QuerySet[Referral]) -> Any:
        """The selected referrals as they are now, by their ids within the user's queues: not
        within the list's filters, so one that left them since (completed, say) is shown as it
        is, not dropped without a word. Across the whole list, the list's own."""
        if _selects_across(request):
            return queryset
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        return self.get_queryset(request).filter(pk__in=selected)

    def _release_confirmation(
        self, request: HttpRequest, queryset: QuerySet[Referral]
    ) -> HttpResponse | None:
        rows = list(self._selected_now(request, queryset)[: RELEASE_CONFIRM_MAX + 1])
        if len(rows) > RELEASE_CONFIRM_MAX:
            self.message_user(
                request,
                f"Release at most {RELEASE_CONFIRM_MAX} referrals at a time: each is listed to "
                "be checked first. Nothing was released.",
                messages.ERROR,
            )
            return None
        may_release_others = access.is_triage_lead(request.user)
        release: list[dict[str, Any]] = []
        left: list[dict[str, Any]] = []
        for referral in rows:
            why = _not_released_because(referral, request.user, may_release_others)
            row = {
                "referral": referral,
                "reference": referral.intake.reference,
                "patient": patient_name_text(
                    referral.patient.family_name, referral.patient.given_name
                ),
                "assignee": referral.assigned_to.get_username() if referral.assigned_to else "",
                "why": why,
            }
            (left if why else release).append(row)
        context = {
            **self.admin_site.each_context(request),
            "title": "Release the selected referrals",
            "subtitle": None,
            "opts": self.model._meta,
            "release": release,
            "left": left,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "here": request.get_full_path(),
            "media": self.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, RELEASE_CONFIRMATION, context)

    def _release_confirmed(self, request: HttpRequest) -> None:
        """Each referral the confirmation page listed to release, if unchanged since. Each on
        its own, not all or none: a release is one referral's, so a colleague's claim of one
        says nothing against the others, which were confirmed as they still are; refused
        together, they would all have to be chosen and confirmed again for one that changed.
        The ones that changed are named, with what they are now."""
        user = request.user
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        done: list[str] = []
        changed: list[str] = []
        unconfirmed = 0
        found = 0
        for referral in self.get_queryset(request).filter(pk__in=selected):
            found += 1
            reference = referral.intake.reference
            status = request.POST.get(f"status_shown-{referral.pk}")
            assignee = request.POST.get(f"assignee_shown-{referral.pk}")
            if status not in Status.values or assignee is None:
                unconfirmed += 1
                continue
            try:
                services.referral_transition(
                    referral=referral,
                    action=Action.RELEASE,
                    actor=user,
                    shown_status=status,
                    shown_assignee=assignee,
                )
            except ChangedSinceShown as exc:
                changed.append(f"{reference} (now {exc.now})")
                continue
            except ReferralError as exc:
                self.message_user(request, f"{reference}: {exc.message}", messages.WARNING)
                continue
            audit_record(actor=user, action=Action.RELEASE, obj=referral, request=request)
            done.append(reference)
        if done:
            self.message_user(request, f"Released {counted(len(done), 'referral')} to the queue.")
        if changed:
            self.message_user(
                request,
                "Not released: changed since the confirmation page was shown (by a colleague, "
                f"or by you elsewhere): {', '.join(changed)}. Check them and choose again.",
                messages.WARNING,
            )
        if unconfirmed:
            self.message_user(
                request,
                f"Not released: {counted(unconfirmed, 'referral')} not on a confirmation page. "
                f"Choose {'it' if unconfirmed == 1 else 'them'} in the list and confirm.",
                messages.WARNING,
            )
        self._outside_queues(request, found, "Not released")

    def change_view(
        self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        # Status and clinical data are never free edit fields: the case page is the only view.
        raise Http404("No such referral.")

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: Any = None
    ) -> HttpResponse:
        raise Http404("The case page shows the history.")

    # --- the case page -------------------------------------------------------------------
    def _may_add_note(self, request: HttpRequest) -> bool:
        """The note box and its view: a refused note shows the case page again, so viewing the
        case is needed too."""
        return self.has_view_permission(request) and request.user.has_perm(access.ADD_NOTE)

    def _require(self, allowed: bool) -> None:
        """The case page and its forms ask the model permissions the admin's own views ask
        (they checked staff status alone: a review found a claim and a note saved by staff
        whose group had neither permission). A missing permission is a 403, before the case
        is looked up, so it says nothing of which cases exist."""
        if not allowed:
            raise PermissionDenied

    def case_view(self, request: HttpRequest, public_id: Any, **kwargs: Any) -> HttpResponse:
        self._require(self.has_view_permission(request))
        referral = selectors.referral_get(user=request.user, public_id=public_id)
        return self._render_case(request, referral)

    def _render_case(
        self,
        request: HttpRequest,
        referral: Referral,
        move_form: MoveForm | None = None,
        clear_form: ClearRedFlagForm | None = None,
        note_form: StaffNoteForm | None = None,
        status: int = 200,
    ) -> HttpResponse:
        intake = referral.intake
        audit_record(actor=request.user, action="view", obj=referral, request=request)
        flags = intake.triage_result["flags"]
        later, later_more = _later_cases(referral)
        # An open review with red flags: its own case's, or a later case's that joined it.
        can_clear = (
            referral.queue == Queue.URGENT_MEDICAL_REVIEW
            and referral.is_open
            and referral.red_flag_count > 0
        )
        uncleared = [case for case in [intake, *later] if case.red_flag_uncleared]
        # A red flag standing on another of the patient's cases (one sent to urgent medical
        # review while this referral was open): told on this page before anyone treats
        # (docs/CLINICAL_DECISIONS.md, "Red-flag clearance and reroutes" 7). Read on a closed
        # page too, so that a page's statements do not change with its status.
        red_flags_elsewhere = selectors.red_flags_elsewhere(referral)
        # Each part of the page beyond the case itself is shown to whoever holds its own model
        # permission, as the views that act on them ask (docs/SECURITY.md): the actions with
        # "change referral", the notes with "view staff note" (the note box with "add staff
        # note"), the history with "view referral event".
        user = request.user
        can_act = self.has_change_permission(request)
        can_see_notes = user.has_perm(access.VIEW_NOTES)
        can_add_note = self._may_add_note(request)
        can_see_history = user.has_perm(access.VIEW_HISTORY)
        move_form = (move_form or MoveForm(prefix="move")).offer_for(referral)
        note_form = (note_form or StaffNoteForm(prefix="note")) if can_add_note else None
        # A closed referral made again shows the new one, whatever either's status since (by
        # referral_again_from_idx). It was looked for only while the closed one stood
        # completed, declined or cancelled, so once marked entered in error (as it may be
        # after being made again) the page lost the link its history names. A rerouted one is
        # never made again (refused): its page is not asked, and keeps its statements.
        referred_again_as = (
            Referral.objects.filter(referred_again_from=referral)
            .only("public_id", "status")
            .first()
            if referral.status in MADE_AGAIN_FROM
            else None
        )
        sent_clear = _with_seen(clear_form, uncleared)
        clear_offered = can_act and (
            can_clear or _cleared_on_completion(referral, referred_again_as, uncleared)
        )
        site = site_context(self.admin_site, request)
        context = {
            **site,
            # Every case page's sidebar marks the same app and model, the referrals' (an admin
            # URL can be in a case's path only at its start): one memo entry for them all.
            "nav_sidebar": nav_sidebar(
                request,
                site["available_apps"],
                page=request.path.replace(str(referral.public_id), "<public_id>"),
            ),
            "title": f"Case {intake.reference} — {referral.get_queue_display()}",
            # A form sent back with an error: the page's title says so first, as Django's change
            # form's does (the page opened at its top with no word of it but beside the field).
            "errors": any(
                form is not None and form.is_bound and bool(form.errors)
                for form in (move_form, clear_form, note_form)
            ),
            "opts": self.model._meta,
            "referral": referral,
            "intake": intake,
            "patient": referral.patient,
            "sections": case_answers(intake.answers, flags),
            "flags": case_flags(flags),
            "later_cases": [
                {
                    "reference": case.reference,
                    "submitted_at": case.submitted_at,
                    "cleared": case.red_flag_cleared_at is not None,
                    "flags": case_flags(case.triage_result["flags"]),
                    # A later case has no page of its own (its row in Submissions opens this
                    # one): its answers and what it was shown are here, or nowhere.
                    "sections": case_answers(case.answers, case.triage_result["flags"]),
                    "intake": case,
                }
                for case in later
            ],
            "later_more": later_more,
            # Queue names, as everywhere else on the page (its codes were shown: a review).
            "suggested_queues": [
                dict(Queue.choices).get(code, code) for code in referral.suggested_after_clearance
            ],
            "derived": intake.triage_result["derived"],
            "link": link_summary(intake.flag_codes, intake.answers),
            "body_map": body_map_svg(intake, staff=True),
            "disclaimer": staff_disclaimer(
                ruleset_version=intake.ruleset_version or RULESET_VERSION
            ),
            **_case_history(referral, events=can_see_history),
            "can_see_history": can_see_history,
            "can_see_notes": can_see_notes,
            # With the notes of the queues the case was rerouted from; none without "view
            # staff note" (selectors.referral_notes asks it too).
            "notes": selectors.referral_notes(user=user, referral=referral),
            "rerouted_from": selectors.rerouted_from_queues(referral),
            "can_act": can_act,
            "move_form": move_form,
            "move_fields": form_fields_html(move_form) if can_act and referral.is_open else (),
            # A form sent back with an error is drawn again only where sending it could clear
            # the red flag; elsewhere (a colleague cleared it, or cancelled or declined the
            # review) only the reason typed is shown, to copy: the form sent back could only be
            # refused again, and a fresh load offered none (a QA round).
            "clear_form": (sent_clear if clear_offered else None)
            if sent_clear is not None
            else (
                ClearRedFlagForm(
                    prefix="clear",
                    initial={
                        "release": services.suggested_after_clearance(uncleared),
                        "seen": ",".join(case.reference for case in uncleared),
                    },
                )
                if can_clear and can_act
                else None
            ),
            "clear_refused": sent_clear if sent_clear is not None and not clear_offered else None,
            "can_clear": can_clear,
            # A clearance refused because a colleague completed the review meanwhile: its red
            # flag still stands, and the form sent back clears it on its own.
            "red_flags_standing": bool(uncleared),
            "red_flags_elsewhere": red_flags_elsewhere if referral.is_open else [],
            "typed_elsewhere": _typed_elsewhere(move_form, referral, referred_again_as, uncleared),
            # The closed page's form a refused move came from: its box shows the error and
            # the reason typed.
            "closed_sent": _closed_sent(move_form),
            "referred_again_as": referred_again_as,
            "can_refer_again": can_act and _may_refer_again(referral, referred_again_as, uncleared),
            "note_form": note_form,
            "note_fields": form_fields_html(note_form) if note_form else (),
            "is_open": referral.is_open,
            # A closed referral's one move; not offered once made (it was, and always refused).
            "can_mark_in_error": referral.status in TRANSITIONS[Action.ENTERED_IN_ERROR].sources,
            "now": timezone.now(),
        }
        return TemplateResponse(request, "admin/referrals/case.html", context, status=status)

    def move_view(self, request: HttpRequest, public_id: Any) -> HttpResponse:
        self._require(self.has_change_permission(request))
        referral = selectors.referral_get(user=request.user, public_id=public_id)
        if request.method != "POST":
            return HttpResponseRedirect(_case_url(referral))
        form = MoveForm(request.POST, prefix="move")
        if not form.is_valid():
            return self._render_case(request, referral, move_form=form, status=400)
        data = form.cleaned_data
        shown_status, shown_assignee = _shown(request, "move")
        try:
            if data["action"] == OVERRIDE_URGENCY:
                # The urgency the page showed (case.html): a choice made on a page shown before
                # a colleague or a new submission changed it is refused. A page without it (from
                # before) is taken as it was.
                shown = request.POST.get("move-urgency_shown")
                result = services.referral_override_urgency(
                    referral=referral,
                    actor=request.user,
                    urgency=data["urgency"],
                    reason=data["reason"],
                    shown=shown if shown in Urgency.values else None,
                )
            elif data["action"] == REFER_AGAIN:
                result = services.referral_refer_again(
                    referral=referral, actor=request.user, reason=data["reason"]
                )
            elif data["action"] == Action.REROUTE:
                result = services.referral_reroute(
                    referral=referral,
                    actor=request.user,
                    queue=data["queue"],
                    reason=data["reason"],
                    shown_status=shown_status,
                    shown_assignee=shown_assignee,
                )
            else:
                result = services.referral_transition(
                    referral=referral,
                    action=data["action"],
                    actor=request.user,
                    reason=data["reason"],
                    shown_status=shown_status,
                    shown_assignee=shown_assignee,
                    # The closed page's: the referral made again from it that it showed.
                    shown_again=request.POST.get("move-again_shown")
                    if shown_status is not None
                    else None,
                )
        except ReferralError as exc:
            # The page sent back shows, and its forms carry, the referral as it is now: read
            # before the service's lock, it could still show a colleague's change as not made,
            # and the same choice made again was refused again.
            referral = selectors.referral_get(user=request.user, public_id=public_id)
            form.add_error(_field_left_out(exc, data["action"]), exc.message)
            # A queue or urgency left out is refused before the reason is looked at: a reason
            # left out too is said at once, not on the next try (a review found two tries).
            missing = _REASON_MISSING.get(data["action"])
            if isinstance(exc, ChoiceRequired) and missing and not data["reason"].strip():
                form.add_error("reason", missing)
            return self._render_case(request, referral, move_form=form, status=exc.status)
        audit_record(
            actor=request.user,
            action=data["action"],
            obj=referral,
            request=request,
            detail={k: v for k, v in data.items() if v and k != "reason"},
        )
        # Which move was saved ("Saved." alone left a reader to work it out from the page).
        messages.success(
            request,
            REFERRED_AGAIN
            if data["action"] == REFER_AGAIN
            else f"Saved: {dict(MOVE_CHOICES)[data['action']]}.",
        )
        target = (
            result
            if selectors.referral_list(user=request.user).filter(pk=result.pk).exists()
            else referral
        )
        return HttpResponseRedirect(_case_url(target))

    def clear_view(self, request: HttpRequest, public_id: Any) -> HttpResponse:
        self._require(self.has_change_permission(request))
        referral = selectors.referral_get(user=request.user, public_id=public_id)
        if request.method != "POST":
            return HttpResponseRedirect(_case_url(referral))
        form = ClearRedFlagForm(request.POST, prefix="clear")
        if not form.is_valid():
            return self._render_case(request, referral, clear_form=form, status=400)
        try:
            released = services.intake_clear_red_flag(
                intake=referral.intake,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                release_queues=form.cleaned_data["release"],
                seen=form.seen_references(),
                shown_status=_shown(request, "clear")[0],
                shown_review=_shown_review(request),
            )
        except ReferralError as exc:
            # The page sent back as the review is now (see move_view).
            referral = selectors.referral_get(user=request.user, public_id=public_id)
            form.add_error(None, exc.message)
            return self._render_case(request, referral, clear_form=form, status=exc.status)
        audit_record(
            actor=request.user,
            action="clear_red_flag",
            obj=referral,
            request=request,
            detail={"released": [r.queue for r in released]},
        )
        messages.success(
            request,
            "Red flag cleared. Released to: "
            + (", ".join(r.get_queue_display() for r in released) or "no other queue"),
        )
        return HttpResponseRedirect(_case_url(referral))

    def note_view(self, request: HttpRequest, public_id: Any) -> HttpResponse:
        # A refused note shows the case page again: viewing it is needed too (a review found
        # a group with "add note" alone shown the whole case on an empty note).
        self._require(self._may_add_note(request))
        referral = selectors.referral_get(user=request.user, public_id=public_id)
        if request.method != "POST":
            return HttpResponseRedirect(_case_url(referral))
        form = StaffNoteForm(request.POST, prefix="note")
        if not form.is_valid():
            return self._render_case(request, referral, note_form=form, status=400)
        note = services.referral_add_note(
            referral=referral, actor=request.user, text=form.cleaned_data["text"]
        )
        audit_record(
            actor=request.user,
            action="add_note",
            obj=referral,
            request=request,
            detail={"note": note.pk},
        )
        return HttpResponseRedirect(_case_url(referral) + "#notes")


# Under four weeks timesince's words depend only on the whole minutes waited (no calendar
# months come into it), so a queue page's fifty rows share a few hundred strings at most.
_WAITING_CACHED_BELOW: Final = dt.timedelta(weeks=4)


def waiting_text(since: dt.datetime, now: dt.datetime, language: str | None) -> str:
    """The "Waiting" column: ``timesince(since, now)`` in the active language."""
    waited = now - since
    if waited < _WAITING_CACHED_BELOW:
        return _waiting_minutes(max(int(waited.total_seconds() // 60), 0), language)
    return timesince(since, now, time_strings=_time_strings(language))


@lru_cache(maxsize=4096)
def _waiting_minutes(minutes: int, language: str | None) -> str:
    now = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    return timesince(now - dt.timedelta(minutes=minutes), now, time_strings=_time_strings(language))


def due_text(due_at: dt.datetime, status: str, now: dt.datetime, zone: str | None = None) -> str:
    """The "Due" column (escaped): the local due time, marked when open work is overdue.
    ``zone``: the current time zone's name, when the caller has it already."""
    overdue = status in OPEN_STATUSES and due_at < now
    return _due_cell(due_at, zone or timezone.get_current_timezone_name(), overdue)


@lru_cache(maxsize=4096)
def _due_cell(due_at: dt.datetime, zone: str, overdue: bool) -> str:
    # The same page of a queue is drawn again and again; its due times repeat with it.
    local = f"{timezone.localtime(due_at):%a %d %b %H:%M}"
    if overdue:
        return format_html('<strong class="overdue">Overdue since {}</strong>', local)
    return escape(local)


class _TimeUnit:
    """One of timesince's unit strings ("%(num)d days"), translated once per number: Django's
    are lazy and re-translated on every use, which cost more than the rest of a row."""

    def __init__(self, name: str, language: str | None) -> None:
        self.name, self.language = name, language

    def __mod__(self, params: dict[str, int]) -> str:
        return _time_unit(self.name, params["num"], self.language)


@lru_cache(maxsize=4096)
def _time_unit(name: str, num: int, language: str | None) -> str:
    return str(TIME_STRINGS[name] % {"num": num})


@lru_cache(maxsize=16)
def _time_strings(language: str | None) -> dict[str, Any]:
    return {name: _TimeUnit(name, language) for name in TIME_STRINGS}


def patient_name_text(family_name: str, given_name: str) -> str:
    """The "Patient" column (plain text: the caller escapes)."""
    return f"{family_name.upper()}, {given_name}"


@lru_cache(maxsize=64)
def urgency_badge_html(urgency: str, language: str | None) -> str:
    """The "Urgency" column, once per urgency and language: the label is a lazy translation
    and ``Urgency.choices`` is built anew on each call (~60 µs a row on this machine)."""
    label = dict(Urgency.choices).get(urgency, urgency)
    return format_html('<span class="urgency urgency-{}">{}</span>', urgency, label)


def flags_html(codes: list[str]) -> str:
    """The "Flags" column: one escaped chip per flag code."""
    return " ".join(_flag_chip(code) for code in codes)


# The case page's note in a few words (case.html, #red-flags-elsewhere), for the queue's narrow
# column: words, not a colour, so that it is read and heard alike.
RED_FLAG_ELSEWHERE_MARK: Final = (
    '<strong class="red-flag-elsewhere">Red flag not yet cleared on another case of this '
    "patient: check with urgent medical review first.</strong>"
)


def flags_cell(codes: list[str], red_flag_elsewhere: bool) -> str:
    """The "Flags" column: the chips, and on an open referral of §4.4's three queues whose
    patient has a red flag not cleared on a case (``selectors.red_flag_elsewhere``), the case
    page's warning in short, first: a chiropractor paging the queue sees it before opening
    the case (docs/CLINICAL_DECISIONS.md, "Red-flag clearance and reroutes" 7)."""
    chips = flags_html(codes)
    if not red_flag_elsewhere:
        return chips
    return f"{RED_FLAG_ELSEWHERE_MARK} {chips}" if chips else RED_FLAG_ELSEWHERE_MARK


@lru_cache(maxsize=512)
def _flag_chip(code: str) -> str:
    # A line may break after each underscore (<wbr>, which the text and a copy leave out): in
    # the queue's narrow column a code wraps between its words, RED_FLAG_ / CAUDA_EQUINA, not
    # at the letter where the column ends, and no code sets the column's width by itself.
    words = mark_safe("_<wbr>".join(escape(word) for word in code.split("_")))  # noqa: S308
    return format_html(
        '<code class="{}">{}</code>', "red" if code.startswith("RED_FLAG_") else "", words
    )


@lru_cache(maxsize=32)
def link_badge(kind: str) -> str:
    label, icon = KINDS[kind]
    return format_html(
        # The label is visible text, so the arrow is hidden from screen readers.
        '<span class="link-kind link-{}" title="{}"><span aria-hidden="true">{}</span> {}</span>',
        kind,
        SENTENCES[kind],
        icon,
        label,
    )


# The case page shows the newest of a referral's events and linked submissions, so that its
# cost does not grow with them (a referral that thousands of submissions joined took 8 s).
CASE_EVENTS_SHOWN = 200
CASE_LINKED_SHOWN = 50


def _case_history(referral: Referral, *, events: bool = True) -> dict[str, Any]:
    """The referral's latest events (none read when ``events`` is false: the user may not view
    them) and the submissions linked to it."""
    events_read = (
        list(
            referral.events.order_by("-created_at", "-id").values(*HISTORY_COLUMNS)[
                : CASE_EVENTS_SHOWN + 1
            ]
        )
        if events
        else []
    )
    # Newest links first by the link table's own key: sorting the linked intakes themselves
    # read every one of them (242 ms for thousands on PostgreSQL).
    linked = [
        link.intake
        for link in ReferralIntake.objects.filter(referral=referral)
        .select_related("intake")
        .only("intake__reference", "intake__submitted_at")
        .order_by("-id")[: CASE_LINKED_SHOWN + 1]
    ]
    return {
        "history": history_lines(events_read[:CASE_EVENTS_SHOWN][::-1]),
        "events_more": len(events_read) > CASE_EVENTS_SHOWN,
        "linked": linked[:CASE_LINKED_SHOWN][::-1],
        "linked_more": len(linked) > CASE_LINKED_SHOWN,
    }


def _cleared_on_completion(
    referral: Referral, referred_again_as: Referral | None, uncleared: list[Intake]
) -> bool:
    """Whether a red flag still standing on this closed review may be cleared on its account:
    a review completed (by its work, or by a colleague while the page was shown) and not
    referred again, as services.intake_clear_red_flag accepts it."""
    return (
        bool(uncleared)
        and referral.queue == Queue.URGENT_MEDICAL_REVIEW
        and referral.status == Status.COMPLETED
        and (referred_again_as is None or referred_again_as.status == Status.ENTERED_IN_ERROR)
    )


def _with_seen(form: ClearRedFlagForm | None, uncleared: list[Intake]) -> ClearRedFlagForm | None:
    """A clearance form sent back with an error, naming the cases this page now shows: the page
    shows a case that joined meanwhile, so sending it again covers it (the form kept the old
    list and was refused again: a review found it). What was typed and ticked is kept."""
    if form is None or not form.is_bound:
        return form
    data = QueryDict(mutable=True)
    data.update(form.data)
    data[form.add_prefix("seen")] = ",".join(case.reference for case in uncleared)
    redrawn = ClearRedFlagForm(data, prefix=form.prefix)
    redrawn.is_valid()
    for error in form.non_field_errors():
        redrawn.add_error(None, error)
    return redrawn


def _typed_elsewhere(
    move_form: MoveForm | None,
    referral: Referral,
    referred_again_as: Referral | None,
    uncleared: list[Intake],
) -> str:
    """The reason typed for a move refused because the referral closed meanwhile (a colleague
    cancelled it, say): the closed page's forms are "entered in error" and "refer again" (when
    offered), each keeping its own reason, so any other move's text is shown apart, to copy,
    where it was lost (a review found it)."""
    if move_form is None or not move_form.is_bound or referral.is_open:
        return ""
    sent = move_form.data.get("move-action")
    if sent == Action.ENTERED_IN_ERROR or (
        sent == REFER_AGAIN and _may_refer_again(referral, referred_again_as, uncleared)
    ):
        return ""
    return str(move_form.data.get("move-reason", "")).strip()


def _closed_sent(move_form: MoveForm | None) -> str:
    """Which of a closed page's forms sent the move form back with an error ("" for none)."""
    if move_form is None or not move_form.is_bound:
        return ""
    return str(move_form.data.get("move-action", ""))


def _may_refer_again(
    referral: Referral, referred_again_as: Referral | None, uncleared: list[Intake]
) -> bool:
    """Whether the closed page offers "Refer again" (the service says why when it refuses).
    Not where it can only be refused, whatever is done elsewhere first: for an erased patient,
    or for a review whose red flags were cleared (``uncleared``: the page's cases whose red
    flag stands, every one of a review's). Both were offered, a reason typed, and refused (a
    QA round). Refusals that a colleague's work may lift (an open referral in the queue, a red
    flag standing) are the service's to say."""
    return (
        referral.status in REFER_AGAIN_SOURCES
        and referred_again_as is None
        and referral.patient.anonymised_at is None
        and not (
            referral.queue == Queue.URGENT_MEDICAL_REVIEW
            and referral.red_flag_count > 0
            and not uncleared
        )
    )


# Later submissions whose flags and answers the case page shows: each reads its triage result
# (5 KB) and answers.
CASE_LATER_SHOWN = 10


def _later_cases(referral: Referral) -> tuple[list[Intake], bool]:
    """The latest submissions, after the one that opened it, that joined this referral (oldest
    first), and whether there are more. A later case may raise the urgency with flags of its
    own, a red flag too: the page showed only the first case's (a review found it)."""
    # The newest links by the link table's own key, as _case_history takes them: ordering the
    # intakes themselves read every linked one (a bench patient's thousands: 52 ms a page).
    links = ReferralIntake.objects.filter(referral=referral).exclude(intake_id=referral.intake_id)
    newest = links.order_by("-id").values("intake_id")
    more = newest[CASE_LATER_SHOWN : CASE_LATER_SHOWN + 1].exists()
    chosen = Q(pk__in=newest[:CASE_LATER_SHOWN])  # a subquery: the same statements however many
    if referral.queue == Queue.URGENT_MEDICAL_REVIEW:
        # Every later case whose red flag is not cleared is shown too, however many: a
        # clearance covers only cases the reviewer saw (a review found an older one cleared
        # unseen). Only a review takes red-flag cases, so other pages skip reading them.
        chosen |= Q(RED_FLAG_UNCLEARED, pk__in=links.values("intake_id"))
    later = Intake.objects.filter(chosen).only(
        "reference",
        "submitted_at",
        "triage_result",
        "red_flag_count",
        "red_flag_cleared_at",
        "answers",
        "patient_messages",
        "messages_shown_at",
        "interrupt_shown_at",
    )
    return sorted(later, key=lambda case: (case.submitted_at, case.pk)), more


# The moves that need a choice and a reason, and what the service says when the reason is left
# out.
_REASON_MISSING: Final = {
    Action.REROUTE: services.REASON_REQUIRED,
    OVERRIDE_URGENCY: services.URGENCY_REASON_REQUIRED,
}


def _field_left_out(error: ReferralError, action: str) -> str | None:
    """The move form's field a refusal is about, so the page marks it and reads the error with
    it (a reason or a choice left out was shown above the form, tied to no field: a review
    found it); None for a refusal about the referral itself."""
    if isinstance(error, ReasonRequired):
        return "reason"
    if isinstance(error, ChoiceRequired):
        return "queue" if action == Action.REROUTE else "urgency"
    return None


def _shown(request: HttpRequest, prefix: str) -> tuple[str | None, str | None]:
    """The status and assignee (its username, "" for none) the case page showed when the move
    was chosen (case.html's hidden fields): the services refuse a move made on a page shown
    before a colleague changed either. A page without them (from before) is taken as it was."""
    status = request.POST.get(f"{prefix}-status_shown")
    if status not in Status.values:
        return None, None
    return status, request.POST.get(f"{prefix}-assignee_shown")


# "Release the selected referrals": its confirmation page, and how many it lists at most.
RELEASE_CONFIRMATION: Final = "admin/referrals/referral/release_selected_confirmation.html"
RELEASE_CONFIRM_MAX: Final = 100


def _selects_across(request: HttpRequest) -> bool:
    """Whether a list action is asked for every row of the list ("Select all")."""
    return bool(forms.BooleanField(required=False).clean(request.POST.get("select_across")))


def _not_released_because(referral: Referral, user: Any, may_release_others: bool) -> str:
    """Why the confirmation page leaves a selected referral as it is ("" to release it): as
    the service would refuse it, said before anyone confirms."""
    if referral.status not in TRANSITIONS[Action.RELEASE].sources:
        return f"it is {referral.get_status_display().lower()}: nothing to release"
    if services.claimants_alone(Action.RELEASE, referral, user, is_lead=may_release_others):
        who = referral.assigned_to.get_username() if referral.assigned_to else ""
        return f"claimed by {who}: only they or a triage lead release it"
    return ""


def _shown_review(request: HttpRequest) -> str | None:
    """The review the case page's clearance form was drawn on (case.html), by its public id:
    the clearance is checked against that review, not whichever the case has now. None from a
    page without it (from before)."""
    try:
        return str(uuid.UUID(request.POST.get("clear-review_shown", "")))
    except ValueError:
        return None


# The statuses a referral made again from may have: the ones it may be made again from, and
# entered in error, which it may be marked after (referral_refer_again).
MADE_AGAIN_FROM: Final = REFER_AGAIN_SOURCES | {Status.ENTERED_IN_ERROR}

REFERRED_AGAIN: Final = (
    "Referred again: this is the new referral for the case, in the same queue. The closed "
    "referral is unchanged; its history names this one."
)


def _case_url(referral: Referral) -> str:
    return reverse("admin:referrals_referral_change", args=[referral.public_id])


# More patients than this for one search term ("s") are not listed: their referrals are found
# by a join instead, which reads more but lists them all.
SEARCH_PATIENTS_LISTED: Final = 1000


def _patient_ids(patients: Q) -> list[int] | None:
    """The ids of the patients ``patients`` selects, or None when there are too many to list."""
    found = list(
        Patient.objects.filter(patients).values_list("pk", flat=True)[: SEARCH_PATIENTS_LISTED + 1]
    )
    return found if len(found) <= SEARCH_PATIENTS_LISTED else None


def _starts_with(field: str, prefix: str) -> Q:
    """``field`` starting with ``prefix``, in the form the patient's index serves: on
    PostgreSQL a LIKE, which patient_match_idx's varchar_pattern_ops serves under any
    collation; on SQLite, whose LIKE ignores case and so takes no index, a range of the keys,
    which compare there by code point."""
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__startswith": prefix})
    after = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return Q(**{f"{field}__gte": prefix, f"{field}__lt": after})


class _ChoicesFilter(admin.SimpleListFilter):
    """A filter whose choices are constants: Django's filter for a plain text field reads
    every row's value (SELECT DISTINCT) on each page, a scan of the whole audit trail."""

    labels: dict[str, str] = {}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return sorted(self.labels.items(), key=lambda item: item[1])

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{str(self.parameter_name): value}) if value else queryset


class AuditActionFilter(_ChoicesFilter):
    title = "action"
    parameter_name = "action"
    labels = audit.ACTIONS


class AuditObjectFilter(_ChoicesFilter):
    title = "object type"
    parameter_name = "object_type"
    labels = audit.OBJECT_TYPES


@admin.register(AuditEntry)
class AuditEntryAdmin(CappedCountAdmin):
    """The audit trail, whose cost stays flat as it grows by every look at a case: filters
    of constants, and recent ranges and calendar months by the time index (a date hierarchy
    read every entry's year), and a count that stops at the queue's cap: a month, an
    action or the search narrows a longer list."""

    list_display = ["created_at", "actor", "action", "object_type", "object_id", "ip_address"]
    list_filter = [
        ("created_at", admin.DateFieldListFilter),
        month_filter("created_at"),
        AuditActionFilter,
        AuditObjectFilter,
    ]
    search_fields = ["object_id", "actor__username"]
    list_select_related = ["actor"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return access.may_view_audit(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return access.may_view_audit(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.index_template = "admin/clinic_index.html"
admin.site.login_form = StaffLoginForm
admin.site.login_template = "admin/clinic_login.html"
admin.site.logout_template = "admin/clinic_logged_out.html"
admin.site.site_header = "Clinic intake — staff"
admin.site.site_title = "Clinic staff"
admin.site.index_title = "Queues"
