"""The staff queue page for a plain GET: Django's changelist page, for less CPU per request.

Django's ``changelist_view`` still decides what a request may see and how (the ChangeList:
scoping, filters, search, ordering, the capped count); what changes is how the page is drawn.
Its rows are read with ``.values()`` and written by ``queue_rows_from_values`` instead of
model instances through ``items_for_result``; and the parts of the page that many requests
share (the nav sidebar, the filter panel, the search form, the actions bar, the table's head,
the paginator) are rendered by Django's own template blocks once per everything they show,
then reused; the media once per process. POSTs (the
actions), popups and any other list layout are Django's own view.
tests/referrals/test_admin_queue_page.py holds the whole page to Django's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any, Final, cast

from django.contrib.admin.options import (
    IS_POPUP_VAR,
    TO_FIELD_VAR,
    ActionLocation,
    IncorrectLookupParameters,
)
from django.contrib.admin.sites import AdminSite
from django.contrib.admin.views.main import PAGE_VAR, SEARCH_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.db import router
from django.forms import Media
from django.http import HttpRequest, HttpResponse
from django.template import Context
from django.template.base import FilterExpression, Template
from django.template.loader import get_template
from django.template.loader_tags import BlockNode, ExtendsNode
from django.template.response import TemplateResponse
from django.utils.functional import SimpleLazyObject
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext, ngettext

from clinic.memo import BoundedMemo
from clinic.prepared import preparing
from referrals import access
from referrals.admin_queue import (
    OWN_ROWS,
    default_view,
    page_rows,
    queue_body,
    queue_layout,
    queue_rows_from_values,
)
from referrals.templatetags.referral_queue import queue_result_list

PAGE_TEMPLATE: Final = "admin/referrals/referral/queue_page.html"
# The templates whose blocks draw the shared parts, as Django's changelist page would.
CHANGE_LIST: Final = "admin/referrals/referral/change_list.html"
QUEUE_PARTS: Final = "admin/referrals/referral/queue_parts.html"
FRAGMENT_MEMO_SIZE: Final = 512


FRAGMENTS: BoundedMemo[tuple[Any, ...], SafeString] = BoundedMemo(FRAGMENT_MEMO_SIZE)


def queue_changelist_view(
    model_admin: Any, request: HttpRequest, extra_context: dict[str, Any]
) -> HttpResponse | None:
    """The queue page, or None where Django's own ``changelist_view`` must answer."""
    if request.method != "GET" or IS_POPUP_VAR in request.GET or TO_FIELD_VAR in request.GET:
        return None
    if not model_admin.has_view_or_change_permission(request):
        raise PermissionDenied
    # The default page (no filter, sort, page or search chosen) runs the same two statements
    # for every request of a queue set: PostgreSQL prepares them once per connection
    # (clinic.prepared), and bench/explain.py checks their generic plans. Not any other view's:
    # a status filter gives the status as a parameter, which a generic plan cannot match to
    # the partial indexes, and each sort, page and filter would be one more statement to keep.
    with preparing(router.db_for_read(model_admin.model), when=default_view(request)):
        setattr(request, OWN_ROWS, True)  # page_rows adds the rows' computed column
        try:
            cl = model_admin.get_changelist_instance(request)
        except IncorrectLookupParameters:
            setattr(request, OWN_ROWS, False)
            return None  # Django's view redirects with ?e=1
        if cl.list_editable or model_admin.actions_on_bottom or not queue_layout(cl):
            setattr(request, OWN_ROWS, False)  # Django's own view: its queryset has it
            return None
        # The page's rows as plain values: the same query as Django's, without the instances
        # (the default view's statement compiled once per queue set).
        cl.result_list = page_rows(cl)
    actions = model_admin.get_actions(request, action_location=ActionLocation.CHANGE_LIST)
    action_form = None
    if actions:
        action_form = model_admin.action_form(auto_id=None)
        action_form.fields["action"].choices = model_admin.get_action_choices(
            request, action_location=ActionLocation.CHANGE_LIST
        )
    media = _media(model_admin, action_form is not None)
    shown = len(cl.result_list)
    context = {
        **site_context(model_admin.admin_site, request),
        "module_name": str(model_admin.opts.verbose_name_plural),
        "selection_note": gettext("0 of %(cnt)s selected") % {"cnt": shown},
        "selection_note_all": ngettext(
            "%(total_count)s selected", "All %(total_count)s selected", cl.result_count
        )
        % {"total_count": cl.result_count},
        "title": cl.title,
        "subtitle": None,
        "is_popup": cl.is_popup,
        "to_field": cl.to_field,
        "cl": cl,
        "media": media,
        "has_add_permission": model_admin.has_add_permission(request),
        "opts": cl.opts,
        "action_form": action_form,
        "actions_on_top": model_admin.actions_on_top,
        "actions_on_bottom": model_admin.actions_on_bottom,
        "actions_selection_counter": model_admin.actions_selection_counter,
        "preserved_filters": model_admin.get_preserved_filters(request),
        **extra_context,
    }
    context["queue"] = _fragments(request, cl, context)
    request.current_app = model_admin.admin_site.name
    return TemplateResponse(request, PAGE_TEMPLATE, context)


class RenderedMedia:
    """A ``Media`` part (``.css`` or ``.js``) rendered once per process, for the page's
    ``{% csp_nonce_attr media.css %}``: the nonce, new for every request, is put in on use."""

    # Stands for the nonce in the rendered tags: no static path or attribute contains it.
    _NONCE: Final = "queue-page-nonce"

    def __init__(self, render: Callable[..., Any]) -> None:
        self._plain = str(render(attrs=None))
        self._with_nonce = str(render(attrs={"nonce": self._NONCE}))

    def render(self, *, attrs: dict[str, str] | None = None) -> SafeString:
        if not attrs:
            return SafeString(self._plain)
        (nonce,) = attrs.values()  # csp.nonce_attr passes the nonce alone
        return SafeString(self._with_nonce.replace(self._NONCE, escape(nonce)))


class _PageMedia:
    def __init__(self, media: Media) -> None:
        self.css = RenderedMedia(media["css"].render)
        self.js = RenderedMedia(media["js"].render)


@cache
def _media(model_admin: Any, with_actions: bool) -> _PageMedia:
    """The admin's media (and its action form's): the same for every request of a process."""
    media = model_admin.media
    if with_actions:
        media += model_admin.action_form(auto_id=None).media
    return _PageMedia(media)


def site_context(site: AdminSite, request: HttpRequest) -> dict[str, Any]:
    """``site.each_context(request)``, with the sidebar's list of apps made only when the
    sidebar is drawn (not when it comes from the memo)."""
    if type(site).each_context is not AdminSite.each_context:
        return site.each_context(request)
    script_name = request.META["SCRIPT_NAME"]
    return {
        "site_title": site.site_title,
        "site_header": site.site_header,
        "site_url": script_name if site.site_url == "/" and script_name else site.site_url,
        "has_permission": site.has_permission(request),
        "available_apps": SimpleLazyObject(lambda: site.get_app_list(request)),
        "is_popup": False,
        "is_nav_sidebar_enabled": site.enable_nav_sidebar,
        "log_entries": site.get_log_entries(request),
    }


def _fragments(request: HttpRequest, cl: ChangeList, context: dict[str, Any]) -> dict[str, Any]:
    """The page's parts, each from the memo when a request like this one drew it already.

    A part is keyed by everything it shows: the language, the query string (the page number
    only where the part shows it), the counts and page size, for the filter panel the user's
    queues, for the sidebar what the user may see.
    A search is never memoised: its term is in every link, and terms hardly ever repeat.
    """
    language = get_language()
    query = tuple(sorted((k, tuple(v)) for k, v in request.GET.lists() if k != PAGE_VAR))
    paginator: Any = cl.paginator
    counts = (
        cl.result_count,
        len(cl.result_list),
        cl.list_per_page,
        getattr(paginator, "cap", None),
        getattr(paginator, "capped", False),
    )
    searching = bool(request.GET.get(SEARCH_VAR))

    def part(name: str, key: tuple[Any, ...], block: str, values: dict[str, Any]) -> SafeString:
        if searching:
            return _render_block(block, values)
        return FRAGMENTS.get((name, language, *key), lambda: _render_block(block, values))

    queues = tuple(sorted(access.queues_for(request.user)))
    actions = context["action_form"]
    action_key = tuple(actions.fields["action"].choices) if actions else None
    page = (cl.page_num, cl.show_all)
    return {
        "nav_sidebar": nav_sidebar(request, context["available_apps"], page=request.path),
        "filters": part("filters", (queues, query), "filters", {"cl": cl, "opts": cl.opts}),
        "search": part("search", (query, counts), "search", {"cl": cl, "opts": cl.opts}),
        "actions": part("actions", (action_key, counts), "queue-actions", context),
        "table": _table(cl, searching, (language, query, bool(cl.result_list))),
        "pagination": part(
            "pagination", (query, page, counts), "pagination", {"cl": cl, "opts": cl.opts}
        ),
    }


def nav_sidebar(request: HttpRequest, available_apps: Any, *, page: str) -> SafeString:
    """Django's nav sidebar block, from the memo when it was drawn for this language, page and
    viewer. ``page`` stands for the request's path: the sidebar marks as current each model
    whose admin URL is in the path, so pages whose paths mark the same models may share it."""
    user: Any = request.user
    # The sidebar lists what the user's permissions (and, for the audit trail and the
    # integrations, its groups and superuser flag) let it see, and marks the current page.
    permissions = frozenset() if user.is_superuser else frozenset(user.get_all_permissions())
    viewer = (user.is_active, user.is_staff, user.is_superuser, permissions)
    return FRAGMENTS.get(
        ("nav-sidebar", get_language(), page, viewer, access.group_names(user)),
        lambda: _render_block(
            "nav-sidebar", {"request": request, "available_apps": available_apps}
        ),
    )


# Where the rows go in the table as memoised: the head shows the ordering and the query.
_ROWS: Final = "<!-- queue rows -->"


def _table(cl: ChangeList, searching: bool, key: tuple[Any, ...]) -> SafeString:
    """The result table: its head (sort links, column titles) from the memo, its rows new."""
    body = queue_body(queue_rows_from_values(cl, cl.result_list))
    if searching:
        return queue_result_list(cl, body)
    table = FRAGMENTS.get(("table", *key), lambda: queue_result_list(cl, SafeString(_ROWS)))
    return SafeString(table.replace(_ROWS, body, 1))


def _render_block(name: str, values: dict[str, Any]) -> SafeString:
    """One block of Django's changelist page, rendered alone by its own template code."""
    template, node = _blocks()[name]
    context = Context(values, autoescape=template.engine.autoescape)
    with context.render_context.push_state(template), context.bind_template(template):
        return mark_safe(node.nodelist.render(context))  # noqa: S308 - Django's template output


@cache
def _blocks() -> dict[str, tuple[Template, BlockNode]]:
    """The changelist page's blocks that the queue page draws as parts, each from the most
    derived template that defines it (as template inheritance picks it)."""
    found: dict[str, tuple[Template, BlockNode]] = {}
    for template in (*_lineage(QUEUE_PARTS), *_lineage(CHANGE_LIST)):
        for node in template.nodelist.get_nodes_by_type(BlockNode):
            if isinstance(node, BlockNode):
                found.setdefault(node.name, (template, node))
    return found


def _lineage(template_name: str) -> list[Template]:
    """The template and each one it extends, most derived first, found as ``{% extends %}``
    finds them: an override extends the template of its own name that it overrides
    (templates/admin/change_list.html extends Django's), which a look-up by name never
    reaches."""
    template: Template = get_template(template_name).template  # type: ignore[attr-defined]
    lineage = [template]
    seen = [template.origin]
    while extends := next((n for n in template.nodelist if isinstance(n, ExtendsNode)), None):
        parent = cast(FilterExpression, extends.parent_name).resolve(Context())
        template, origin = template.engine.find_template(parent, skip=seen)
        lineage.append(template)
        seen.append(origin)
    return lineage
