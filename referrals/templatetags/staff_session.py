"""``{% staff_session %}``: the idle warning and its script on the signed-in staff pages."""

from typing import Any, Final

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


# The one reason the login page names, chosen by ?ended=idle (staff-session.js adds it to its
# "Sign in again" links once the idle limit has passed): the parameter only selects this
# fixed text, and nothing it carries is shown.
ENDED_IDLE: Final = "idle"


@register.simple_tag(takes_context=True)
def signed_out_because(context: template.Context) -> str:
    """What the login page says of a session that ended by inactivity ("" otherwise)."""
    request = context.get("request")
    if request is None or request.GET.get("ended") != ENDED_IDLE:
        return ""
    minutes = settings.SESSION_COOKIE_AGE // 60
    unit = "minute" if minutes == 1 else "minutes"
    return f"You were signed out after {minutes} {unit} without activity."
