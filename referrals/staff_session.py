"""Keeping a member of staff's session open while they type on a staff page.

Staff sessions end after SESSION_IDLE_MINUTES without a request (clinic.middleware). A long
reason or note typed on a case page, or one left half-typed during a phone call, was sent
after the limit to the login page and lost (a QA round). The staff pages' script
(static/js/staff-session.js) asks here while someone types, and before it sends a form
holding typed text.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from clinic.middleware import stamp_session_refresh

KEEP_ALIVE_URL_NAME = "staff-keep-alive"


@never_cache
@require_POST
def staff_keep_alive(request: HttpRequest) -> HttpResponse:
    """204 with the session's end moved to the idle limit from now, when this browser holds a
    staff session; 200 with ``{"signed_in": false}`` when it does not (ended, signed out, never
    signed in). A session that has ended is an answer the page expects, not a refusal: as a
    403 it was logged as "Forbidden" on every page left open past its limit, and the browser
    showed it as a failed request. A refused CSRF token is still a 403.

    Never the admin's redirect to the login page: the page asking is a script, and the answer
    tells it to say plainly that the session has ended, with what was typed still on the page.
    The extension is the session's own row, written by Django's session middleware like any
    other request's (every process sees it). A session still to give its second factor is
    kept too: it is signed in, and its set-up page is one of the staff pages.
    """
    if not admin.site.has_permission(request):
        return JsonResponse({"signed_in": False})
    stamp_session_refresh(sender=None, request=request)
    return HttpResponse(status=204)
