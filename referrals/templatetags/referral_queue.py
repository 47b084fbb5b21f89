from typing import Any

from django import template
from django.contrib.admin.templatetags.admin_list import result_headers, result_list
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from referrals.admin_queue import queue_body, queue_layout, queue_rows

register = template.Library()


@register.simple_tag
def queue_result_list(cl: Any, body: SafeString | None = None) -> SafeString:
    """Django's ``result_list``, with the rows from ``queue_rows`` joined in Python (the
    template would loop over every cell); any other layout is Django's own. The queue page
    (referrals/admin_queue_page.py) passes the ``body`` it wrote from its rows' values."""
    if body is None and not queue_layout(cl):
        return render_to_string("admin/change_list_results.html", result_list(cl))
    headers = list(result_headers(cl))
    rows = cl.result_list if body is not None else queue_rows(cl)
    return render_to_string(
        "admin/referrals/referral/queue_results.html",
        {
            "cl": cl,
            "result_headers": headers,
            "num_sorted_fields": sum(1 for h in headers if h["sortable"] and h["sorted"]),
            "results": rows,
            "body": queue_body(rows) if body is None else body,
        },
    )
