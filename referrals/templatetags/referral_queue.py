from typing import Any

from django import template
from django.contrib.admin.templatetags.admin_list import result_headers

from referrals.admin_queue import queue_rows

register = template.Library()


@register.inclusion_tag("admin/change_list_results.html")
def queue_result_list(cl: Any) -> dict[str, Any]:
    """Django's ``result_list`` with the rows from ``queue_rows`` (no list_editable here)."""
    headers = list(result_headers(cl))
    return {
        "cl": cl,
        "result_hidden_fields": [],
        "result_headers": headers,
        "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
        "results": queue_rows(cl),
    }
