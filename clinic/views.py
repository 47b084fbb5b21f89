import logging
import sys
from typing import Final

from django.conf import settings
from django.core.exceptions import DisallowedHost, TooManyFieldsSent
from django.db import DatabaseError, InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import Resolver404, resolve
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from django.views.defaults import bad_request as django_bad_request
from django.views.defaults import server_error as django_server_error

from clinic.middleware import API_PREFIX, api_error

logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying while the database is away.
RETRY_AFTER = "30"


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database answers a query, 503 with Retry-After when it does not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("Health check: the database did not answer: %s", error)
        return JsonResponse(
            {"status": "unavailable", "database": "unavailable"},
            status=503,
            headers={"Retry-After": RETRY_AFTER},
        )
    return JsonResponse({"status": "ok", "database": "ok"})


@require_safe
@never_cache
def livez(request: HttpRequest) -> JsonResponse:
    """200 while this process answers requests, whatever the database's state: a container
    platform's liveness probe. /healthz, which asks the database, is for readiness: as the
    liveness probe, a database outage had every web process killed and started again, which
    brings the database back no sooner."""
    return JsonResponse({"status": "ok"})


@require_safe
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers ask for /favicon.ico on pages without an icon link (the admin's)."""
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a lost database is a 503 with Retry-After, not a 500.

    Django calls this inside its exception handler, for errors raised by views and middleware
    alike, so ``sys.exception()`` is the error. The pages here touch no database.
    """
    if isinstance(sys.exception(), OperationalError | InterfaceError):
        return service_unavailable(request)
    if request.path.startswith(API_PREFIX):
        # The API's one error shape, not Django's HTML page.
        message = gettext(
            "Something went wrong on our side. Please retry: a submission sent again with the "
            "same Idempotency-Key is never stored twice."
        )
        return api_error(message, 500)
    return django_server_error(request)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400 (a request Django refuses before any view, as suspicious): the API's one error
    shape under /api/, not Django's "<h1>Bad Request (400)</h1>" page, which an integrator
    behind a proxy that does not pass the client's Host on was answered with (an API QA round).
    """
    if request.path.startswith(API_PREFIX):
        if isinstance(exception, DisallowedHost):
            message = gettext(
                "The Host header names a host this server does not answer to: send the "
                "clinic's own host name."
            )
        elif isinstance(exception, TooManyFieldsSent):
            # The API reads JSON bodies only: the fields counted are the query string's.
            message = gettext(
                "The address holds more than %(limit)s query parameters: send only those the "
                "operation reads."
            ) % {"limit": settings.DATA_UPLOAD_MAX_NUMBER_FIELDS}
        else:
            message = gettext("The request was refused as malformed.")
        return api_error(message, 400)
    return django_bad_request(request, exception)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    headers = {"Retry-After": RETRY_AFTER}
    if request.path.startswith(API_PREFIX):
        message = gettext("The service is briefly unavailable. Please retry shortly.")
        return api_error(message, 503, headers)
    response = render(request, "503.html", status=503)
    response["Retry-After"] = RETRY_AFTER
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: the API's error shape under /api/, the site's page elsewhere (with the
    emergency numbers), where Django's bare "Not Found" page had neither."""
    if request.path.startswith(API_PREFIX):
        message = gettext("There is nothing at this address.")
        return api_error(message, 404)
    return render(request, "404.html", status=404)


API_NOT_FOUND: Final = "api-not-found"


@csrf_exempt
def api_not_found(request: HttpRequest) -> HttpResponse:
    """Any other address under /api/ (another version, say): handler404's JSON with DEBUG on too,
    where Django's debug page answered in HTML (``make run`` serves so; an API QA round).

    A route matching every address under /api/ leaves CommonMiddleware's APPEND_SLASH nothing
    to redirect (it redirects only an address that resolves nowhere), so that is done here
    as it does it: a GET or HEAD of ``/api/docs`` goes to ``/api/docs/`` (a review found it a
    404 without)."""
    path = request.path_info
    if settings.APPEND_SLASH and request.method in ("GET", "HEAD") and not path.endswith("/"):
        try:
            match = resolve(path + "/", getattr(request, "urlconf", None))
        except Resolver404:
            match = None
        # A named route: the catch-alls (this one, /api/v1/'s) answer every address.
        if match is not None and match.url_name not in (None, API_NOT_FOUND):
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
    return not_found(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a page that says what to do (a page left open very long, or cookies
    blocked), where Django's bare 403 page lost the patient with no way back."""
    if request.path.startswith(API_PREFIX):
        message = gettext("The request was refused: sign in again, or use an API token.")
        return api_error(message, 403)
    return render(request, "csrf_failure.html", status=403)
