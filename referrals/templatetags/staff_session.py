"""``{% staff_session %}``: the idle warning and its script on the signed-in staff pages."""

from typing import Any

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.http import urlencode

from referrals.staff_session import KEEP_ALIVE_URL_NAME

register = template.Library()


@register.inclusion_tag("admin/staff_session.html", takes_context=True)
def staff_session(context: template.Context) -> dict[str, Any]:
    """The limit comes from the settings (SESSION_IDLE_MINUTES), never from the script: the
    page warns and counts against the server's own limit and refresh interval."""
    request = context.get("request")
    here = request.get_full_path() if request is not None else reverse("admin:index")
    return {
        "csp_nonce": context.get("csp_nonce"),
        "keep_alive_url": reverse(KEEP_ALIVE_URL_NAME),
        "login_url": f"{reverse('admin:login')}?{urlencode({'next': here})}",
        "idle_seconds": settings.SESSION_COOKIE_AGE,
        "idle_minutes": settings.SESSION_COOKIE_AGE // 60,
        "refresh_seconds": settings.SESSION_REFRESH_SECONDS,
        # A page answering a POST is a form sent back (one saved is answered by a redirect):
        # the text in its boxes was sent, not saved (static/js/staff-session.js).
        "sent_back": request is not None and request.method == "POST",
    }
