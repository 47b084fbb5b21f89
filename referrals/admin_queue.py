"""The staff queue page's cost kept flat: a bounded count and rows built without the generic
changelist machinery.

Django's changelist counts every matching row for its paginator (a full index scan that grows
with the table) and renders each cell through ``items_for_result``: a field lookup, a display
function and a template-rendered checkbox per cell, which cost more than the query. Here the
count stops at ``COUNT_CAP`` rows, and ``queue_rows`` writes the same HTML directly from the
ReferralAdmin's own display methods (tests/referrals/test_admin.py holds the two to the same
output, and any other list layout falls back to Django's).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from functools import lru_cache
from typing import Any, Final, Literal

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_list import ResultList, results
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, ChangeList
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Choices, F, QuerySet
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.functional import cached_property
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString
from django.utils.text import smart_split
from django.utils.translation import get_language, gettext

from clinic.compiled import compiled_values, statements_sent
from clinic.memo import BoundedMemo
from referrals import selectors
from referrals.links import LINKED_KINDS
from referrals.models import Queue, Referral, ReferralIntake, Status

COUNT_CAP: Final = 1000
# How deep a capped list pages on (CappedCountAdmin): a page's count reads this many rows at most.
MAX_DEPTH: Final = 100_000
# The list_display queue_rows knows how to write; anything else is rendered by Django.
COLUMNS: Final = (
    "action_checkbox",
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
)
# Only what a row shows (and str(referral), the checkbox's label; the ruleset version, which
# the page's disclaimer names): an intake row is mostly
# its answers and triage result, and every column loaded is converted for every row.
ROW_FIELDS: Final = (
    "public_id",
    "queue",
    "status",
    "urgency",
    "priority",
    "due_at",
    "created_at",
    "waiting_since",
    "intake__reference",
    "intake__flag_codes",
    "intake__link_kind",
    "intake__ruleset_version",
    "patient__family_name",
    "patient__given_name",
    "assigned_to__username",
)
_PLACEHOLDER: Final = "00000000-0000-0000-0000-000000000000"


# The default view's statements (no filter, sort, page or search chosen), kept per queue set:
# building and compiling them through the ORM was a tenth of the page's CPU.
STATEMENTS: BoundedMemo[tuple[Any, ...], Any] = BoundedMemo(256)


def default_view(request: Any) -> bool:
    """Whether the request asks for the queue's default view: no filter, sort, page or search
    chosen, nothing posted."""
    return request.method in ("GET", "HEAD") and not request.GET


def default_view_key(request: Any, queryset: QuerySet[Any]) -> tuple[Any, ...] | None:
    """What the default queue view's statements depend on (the database and the user's
    queues: selectors.referral_list_key), or None for any other view, whose are built anew."""
    if not default_view(request):
        return None
    return (queryset.db, *selectors.referral_list_key(user=request.user))


class CappedCountPaginator(Paginator):
    """Counts no further than ``cap`` rows past the first row of the page asked for
    (``first_row``, which ``CappedCountAdmin`` sets): the pages up to there, and whether there
    are more (``capped``). A long list is narrowed with the filters or the search, or paged on:
    each page reached offers ``cap`` rows more, so every row stays reachable and a count costs
    about what reading the page at that depth does, whatever the history behind it.
    With a ``statement_key`` (the default view's) the first page's count statement is kept."""

    cap = COUNT_CAP
    first_row = 0
    statement_key: tuple[Any, ...] | None = None

    @property
    def limit(self) -> int:
        """The rows counted at most, less one (the one that tells there are more)."""
        return self.first_row + self.cap

    @cached_property
    def count(self) -> int:
        object_list: Any = self.object_list
        # The key alone: a column the rows annotate (the queue's red_flag_elsewhere, a
        # correlated subquery) was otherwise computed for every row counted.
        limited = object_list.order_by().values("pk")[: self.limit + 1]
        if self.statement_key is None or self.first_row:
            return int(limited.count())
        counted: list[int] = []  # the count, when this request is the one that keeps it

        def count_and_keep() -> tuple[str, tuple[Any, ...]] | None:
            count, statement = _counted(limited)
            counted.append(count)
            return statement

        statement = STATEMENTS.get(("count", *self.statement_key), count_and_keep)
        if counted:
            return counted[0]
        if statement is None:  # no queue: nothing can match, and the ORM sends nothing
            return 0
        with connections[limited.db].cursor() as cursor:
            cursor.execute(*statement)
            (count,) = cursor.fetchone()
        return int(count)

    @property
    def capped(self) -> bool:
        return self.count > self.limit


def refuse_once(request: HttpRequest, model_admin: Any, message: str) -> None:
    """An error message about the request, once: refused, the queue page leaves the request to
    Django's view, which builds the list again and is refused again."""
    refused: set[str] = request.__dict__.setdefault("_clinic_refused", set())
    if message not in refused:
        refused.add(message)
        model_admin.message_user(request, message, messages.ERROR)


# The most words a list's search takes: Django's admin search ANDs a condition per word, and
# about 1,000 went past SQLite's expression depth, answered 503 as if the database were away (a
# review pasted a letter into the audit trail's box).
MAX_SEARCH_WORDS: Final = 100


class ListedFiltersChangeList(ChangeList):
    """A list filtered by the filters it offers, and nothing else in the address; searched by
    up to MAX_SEARCH_WORDS words.

    Django applies any other lookup on the model's own fields named in the query string
    (``?created_at__year=0``, ``?id__regex=(``), and only a lookup it fails to build is its
    "?e=1": a year out of range, a regular expression that does not compile or a range of one
    value failed in the database's hands, a 500 (on SQLite a 503, as if the database were
    away). No page links to such a lookup: it is refused as since= is (referrals.admin)."""

    def get_filters(self, request: Any) -> Any:
        if len(list(smart_split(self.query))) > MAX_SEARCH_WORDS:
            refuse_once(
                request,
                self.model_admin,
                f"The search takes up to {MAX_SEARCH_WORDS} words: the list is shown without "
                "it, or any filter in the address.",
            )
            raise IncorrectLookupParameters("search")
        filters = super().get_filters(request)
        unoffered = filters[2]  # what no filter of the list took
        if unoffered:
            refuse_once(
                request,
                self.model_admin,
                f"The address asks for a filter this list does not offer "
                f"({', '.join(sorted(unoffered))}): the list is shown without it, or any other "
                "filter or search in the address.",
            )
            raise IncorrectLookupParameters(", ".join(unoffered))
        return filters


class ListedFiltersAdmin(admin.ModelAdmin):
    """An admin whose list is filtered only as it offers (``ListedFiltersChangeList``)."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ListedFiltersChangeList


class CappedCountAdmin(ListedFiltersAdmin):
    """A list counted by ``CappedCountPaginator``, from the page the request asks for, and
    filtered only as it offers (``ListedFiltersChangeList``)."""

    paginator = CappedCountPaginator
    # Counting on a big table costs a scan that grows with it: no full count either.
    show_full_result_count = False

    def get_paginator(self, request: HttpRequest, queryset: Any, *args: Any, **kwargs: Any) -> Any:
        paginator = super().get_paginator(request, queryset, *args, **kwargs)
        if isinstance(paginator, CappedCountPaginator):
            try:  # as ChangeList reads it; a page that does not exist is its error to give
                page = int(request.GET.get(PAGE_VAR, 1))
            except ValueError:
                page = 1
            first_row = max(page - 1, 0) * paginator.per_page
            # Deeper than MAX_DEPTH rows a list is narrowed, not paged: the count stays at
            # the cap and Django answers such a page as one that does not exist (a number
            # past what the database's integers hold was a 500; a review found it).
            paginator.first_row = first_row if first_row <= MAX_DEPTH else 0
        return paginator


def _counted(limited: QuerySet[Any]) -> tuple[int, tuple[str, tuple[Any, ...]] | None]:
    """``limited.count()``, and the statement it sent or None when it sent none."""
    with statements_sent(limited.db) as sent:
        count = int(limited.count())
    return count, (sent[-1] if sent else None)


# Set on a request whose queue page reads its rows itself (page_rows): the change list's
# queryset is then left without the rows' computed column, which page_rows adds only when it
# compiles the page's statement (resolving it cost about a tenth of the page's CPU).
OWN_ROWS: Final = "queue_reads_own_rows"


def with_rows_columns(referrals: QuerySet[Referral]) -> QuerySet[Referral]:
    """``referrals`` with the queue's computed column (``red_flag_elsewhere``), once."""
    if "red_flag_elsewhere" in referrals.query.annotations:
        return referrals
    return selectors.with_red_flag_elsewhere(referrals)


def page_rows(cl: ChangeList) -> list[dict[str, Any]]:
    """``list(cl.result_list.values(*ROW_VALUES))``; for the default view (its paginator has
    a ``statement_key``) the statement compiled once per queue set and page shape."""
    result_list: Any = cl.result_list
    key = getattr(cl.paginator, "statement_key", None)
    if key is None:
        return list(with_rows_columns(result_list).values(*ROW_VALUES))
    shape = ("page", *key, cl.list_per_page, cl.multi_page)
    try:
        statement = STATEMENTS.get(
            shape,
            lambda: compiled_values(with_rows_columns(result_list).values(*ROW_VALUES), {}),
        )
    except EmptyResultSet:  # no queue: the ORM reads nothing either
        return []
    return statement.rows(connections[result_list.db])


# The queue's filters by foot-and-back link and by the day referred (referrals.admin).
LINK_VAR: Final = "link"
SINCE_VAR: Final = "since"

# A day as the dashboard's links write it: 2026-09-06 (ASCII digits; \d takes any script's).
_SINCE_DAY: Final = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def since_day(value: str) -> dt.date | None:
    """``?since=``'s day, or None for anything but a YYYY-MM-DD date. The years at the ends
    of the calendar are refused too: their midnight moved to UTC is outside what a datetime
    holds (an error in the query, not a value)."""
    match = _SINCE_DAY.fullmatch(value)
    if match is None:
        return None
    try:
        day = dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        return None
    return day if dt.MINYEAR < day.year < dt.MAXYEAR else None


def link_window(request: Any) -> bool:
    """Whether the queue is asked for the cases a foot-and-back number of the dashboard counts:
    one of its link kinds since a day (``?link=&since=``), which referral_link_idx holds."""
    return request.GET.get(LINK_VAR) in LINKED_KINDS and (
        since_day(request.GET.get(SINCE_VAR, "")) is not None
    )


class QueueChangeList(ListedFiltersChangeList):
    def get_ordering_field_columns(self) -> dict[int, Literal["asc", "desc"]]:
        """The columns the default ordering sorts by, in its order. Django marks a column only
        when it sorts by a term without the term's sign; Urgency sorts by "-priority" (most
        urgent first, as its first click gives), so the queue's head marked Due alone and read
        as ordered by due time (a QA round). Such a column is marked as sorted its own way."""
        columns = super().get_ordering_field_columns()
        if ORDER_VAR in self.params:
            return columns
        ordered: dict[int, Literal["asc", "desc"]] = {}
        for term in self.model_admin.ordering or ():
            if not isinstance(term, str):
                continue
            for index, attr in enumerate(self.list_display):
                field = self.get_ordering_field(attr)
                if field == term and term.startswith("-"):
                    ordered.setdefault(index, "asc")
                    break
                if field == term.lstrip("-") and index in columns:
                    ordered.setdefault(index, columns[index])
                    break
        return {**ordered, **columns}

    def url_for_result(self, result: Any) -> str:
        assert isinstance(result, Referral)  # noqa: S101 - this change list lists referrals only
        return reverse("admin:referrals_referral_change", args=[result.public_id])

    def get_queryset(self, request: Any, exclude_parameters: Any = None) -> QuerySet[Referral]:
        queryset = super().get_queryset(request, exclude_parameters).only(*ROW_FIELDS)
        # In the page's own statement: a column of the rows read, not a statement more; added
        # by page_rows where the queue page reads its rows itself (OWN_ROWS), here for Django's
        # own rendering of them (popups, actions).
        if not getattr(request, OWN_ROWS, False):
            queryset = selectors.with_red_flag_elsewhere(queryset)
        if link_window(request):
            queryset = queryset.order_by(*(unindexed(term) for term in queryset.query.order_by))
        return queryset


def unindexed(term: Any) -> Any:
    """An ordering term (``"-priority"``) as an expression that no index serves, for a list
    whose rows its filter finds by their own index (``link_window``).

    Asked for the queue's 90 days of one foot-and-back link in page order, PostgreSQL walked the
    page-order index until the page was full, trusting that the window's rows lie spread
    through it; they lie at its end (they are the newest, so the latest due), and it read
    almost every referral ever made: 4.3 s at 1,000,000 cases, against 26 ms to read the
    window by referral_link_idx and sort it. ``COALESCE(x, x)`` is ``x`` to every row and, to
    the planners of both databases, an expression no index holds."""
    if not isinstance(term, str):
        return term
    name = term.lstrip("-")
    expression = Coalesce(F(name), F(name))
    return expression.desc() if term.startswith("-") else expression.asc()


def queue_layout(cl: ChangeList) -> bool:
    """Whether ``queue_rows`` writes this list itself (the queue's columns, no forms)."""
    return not (cl.formset or cl.is_popup or cl.to_field or tuple(cl.list_display) != COLUMNS)


def queue_body(rows: list[ResultList]) -> SafeString:
    """The ``<tbody>`` content admin/change_list_results.html writes for rows without forms,
    whitespace and all: one template loop iteration per cell costs more than the cell."""
    return SafeString("".join(f"\n\n<tr>{''.join(row)}</tr>\n" for row in rows))


def queue_rows(cl: ChangeList) -> list[ResultList]:
    """``admin_list.results(cl)`` for the referral queue, cell for cell."""
    if not queue_layout(cl):
        return list(results(cl))
    return queue_rows_from_values(cl, [row_values(obj) for obj in cl.result_list])


def row_values(obj: Referral) -> dict[str, Any]:
    """A referral as the ``.values(*ROW_VALUES)`` row the queue page reads."""
    intake, patient, assignee = obj.intake, obj.patient, obj.assigned_to
    return {
        "pk": obj.pk,
        "public_id": obj.public_id,
        "queue": obj.queue,
        "status": obj.status,
        "urgency": obj.urgency,
        "due_at": obj.due_at,
        "created_at": obj.created_at,
        "waiting_since": obj.waiting_since,
        "intake__reference": intake.reference,
        "intake__flag_codes": intake.flag_codes,
        "intake__link_kind": intake.link_kind,
        "intake__ruleset_version": intake.ruleset_version,
        "patient__family_name": patient.family_name,
        "patient__given_name": patient.given_name,
        "assigned_to__username": None if assignee is None else str(assignee),
        "red_flag_elsewhere": getattr(obj, "red_flag_elsewhere", False),
    }


# What one row of the page needs, read without making model instances; red_flag_elsewhere is
# the change list's annotation (selectors.red_flag_elsewhere).
ROW_VALUES: Final = (
    "pk",
    *(name for name in ROW_FIELDS if name != "priority"),
    "red_flag_elsewhere",
)


@lru_cache(maxsize=64)
def choice_labels(choices: type[Choices], language: str | None) -> tuple[tuple[str, str], ...]:
    """``choices.choices`` with each label as plain text in ``language``, translated once: a
    lazy translation is translated again at every use, through every catalogue in turn
    (40,000-90,000 instructions a label; the queue page used some thirty a request)."""
    with translation.override(language):
        return tuple((value, str(label)) for value, label in choices.choices)


@lru_cache(maxsize=16)
def _row_labels(
    language: str | None,
) -> tuple[dict[str, str], dict[str, str], dict[str, str], str]:
    """The rows' labels in ``language``, once: status labels escaped, queue labels plain and
    escaped (html.escape is what Django's escape() calls), the checkbox's title."""
    queues = choice_labels(Queue, language)
    with translation.override(language):
        select = str(gettext("Select this object for an action - {}"))
    return (
        {value: html.escape(label) for value, label in choice_labels(Status, language)},
        dict(queues),
        {value: html.escape(label) for value, label in queues},
        select,
    )


def _with_later(row: dict[str, Any], later: dict[int, list[str]]) -> list[str]:
    codes: list[str] = row["intake__flag_codes"]
    extra = later.get(row["pk"])
    if not extra:
        return codes
    seen = set(codes)
    return [*codes, *sorted({c for c in extra if c not in seen})]


def later_red_flags(values: list[dict[str, Any]]) -> dict[int, list[str]]:
    """The red flags of later cases that joined the page's urgent medical reviews, by referral
    (one statement, only on a page with such reviews). A later red-flag case joins the open
    review and may raise it to emergency; the row showed the first case's flags alone (a
    review found a CES red flag shown nowhere). Only reviews take such cases: a red flag
    routes nowhere else."""
    reviews = [row["pk"] for row in values if row["queue"] == Queue.URGENT_MEDICAL_REVIEW]
    if not reviews:
        return {}
    found: dict[int, list[str]] = {}
    links = (
        ReferralIntake.objects.filter(referral_id__in=reviews, intake__red_flag_count__gt=0)
        .exclude(intake_id=F("referral__intake_id"))
        .values_list("referral_id", "intake__flag_codes")
    )
    for referral_id, codes in links:
        found.setdefault(referral_id, []).extend(c for c in codes if c.startswith("RED_FLAG_"))
    return found


def queue_rows_from_values(cl: ChangeList, values: list[dict[str, Any]]) -> list[ResultList]:
    """The rows of ``queue_rows`` from ``ROW_VALUES`` rows: the same cells, escaped alike."""
    from referrals import admin as columns  # the admin's column helpers (it imports this)

    later = later_red_flags(values)

    empty = str(conditional_escape(cl.model_admin.get_empty_value_display()))
    language = get_language()
    status_labels, queue_labels, queue_cells, select = _row_labels(language)
    link = add_preserved_filters(
        {"preserved_filters": cl.preserved_filters, "opts": cl.opts},
        reverse("admin:referrals_referral_change", args=[_PLACEHOLDER]),
    )
    path, mark, query = link.partition("?")
    path, query = escape(path), escape(mark + query)
    now = timezone.now()
    zone = timezone.get_current_timezone_name()
    rows = []
    for row in values:
        reference, assignee = row["intake__reference"], row["assigned_to__username"]
        title = select.format(html.escape(f"{reference} → {queue_labels[row['queue']]}"))
        patient = columns.patient_name_text(row["patient__family_name"], row["patient__given_name"])
        urgency = columns.urgency_badge_html(row["urgency"], language)
        # Referral.waits_since: a rerouted case waits from its first queue.
        since = row["waiting_since"] or row["created_at"]
        waiting = html.escape(columns.waiting_text(since, now, language))
        due = columns.due_text(row["due_at"], row["status"], now, zone)
        href = path.replace(_PLACEHOLDER, str(row["public_id"])) + query
        cells = [
            '<td class="action-checkbox"><input type="checkbox" name="_selected_action" '
            f'value="{row["pk"]}" class="action-select" aria-label="{title}"></td>',
            f'<th class="field-reference"><a href="{href}">{html.escape(reference)}</a></th>',
            f'<td class="field-patient_name">{html.escape(patient)}</td>',
            f'<td class="field-urgency_badge">{urgency}</td>',
            '<td class="field-flags">'
            f"{columns.flags_cell(_with_later(row, later), row['red_flag_elsewhere'])}</td>",
            f'<td class="field-link">{columns.link_badge(row["intake__link_kind"])}</td>',
            f'<td class="field-waiting">{waiting}</td>',
            f'<td class="field-due">{due}</td>',
            '<td class="field-assigned_to nowrap">'
            f"{empty if assignee is None else html.escape(assignee)}</td>",
            f'<td class="field-status">{status_labels.get(row["status"], empty)}</td>',
            f'<td class="field-queue">{queue_cells.get(row["queue"], empty)}</td>',
        ]
        # Every part above is escaped or already safe HTML.
        rows.append(ResultList(None, [SafeString(cell) for cell in cells]))
    return rows
