from typing import Any

from django import template
from django.utils.safestring import mark_safe

from referrals.dashboard import dashboard_for

register = template.Library()


@register.inclusion_tag("admin/referrals/dashboard.html", takes_context=True)
def clinic_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    board = dashboard_for(context["request"].user)
    return {"board": board, "chart": mark_safe(board.chart_svg)}  # noqa: S308 - built from escaped parts
