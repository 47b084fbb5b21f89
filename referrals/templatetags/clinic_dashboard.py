from typing import Any

from django import template
from django.utils.safestring import mark_safe

from referrals import access
from referrals.dashboard import CHART_TITLE, dashboard_for

register = template.Library()


@register.inclusion_tag("admin/referrals/dashboard.html", takes_context=True)
def clinic_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    user = context["request"].user
    # The queue's summary, whose rows link into it: shown to whoever may open the queue.
    if not access.may_view_cases(user):
        return {"board": None}
    board = dashboard_for(user)
    return {
        "board": board,
        "chart": mark_safe(board.chart_svg),  # noqa: S308 - built from escaped parts
        "chart_title": CHART_TITLE,
    }
