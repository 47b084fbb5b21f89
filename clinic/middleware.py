"""Request-level guards shared by the HTML pages and the API."""

from __future__ import annotations

import io
import ipaddress
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext

API_PREFIX = "/api/"


def api_error(message: str, status: int, headers: dict[str, str] | None = None) -> JsonResponse:
    """The API's one error shape (referrals/api_auth.py), for answers made outside DRF."""
    return JsonResponse({"errors": {"non_field_errors": [message]}}, status=status, headers=headers)


class HeadWithoutBodyMiddleware:
    """Answer HEAD with the headers GET would have, and no body.

    Django's WSGI handler sends a page's body for HEAD too (only its development server and
    test client drop it). gunicorn drops it and logs a warning for every such request, so a
    monitor or load balancer probing with HEAD wrote a warning line a probe.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.method != "HEAD":
            return response
        if response.streaming:
            response.streaming_content = iter(())  # type: ignore[attr-defined]
        elif response.content:
            response.headers.setdefault("Content-Length", str(len(response.content)))
            response.content = b""
        return response


class HealthCheckMiddleware:
    """Answer ``/healthz`` and ``/livez`` before anything reads the request's host.

    Load balancers and container probes ask each server by its own address (``Host:
    10.0.0.5:8000``), not by a public name in ALLOWED_HOSTS. Django's CommonMiddleware refused
    them with 400 and logged a DisallowedHost traceback on every probe, so a healthy server
    read as down (or ALLOWED_HOSTS was widened to ``*``, which lets any host name into the
    links emailed to patients). The answer names no host and tells only the database's state.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from clinic.views import healthz, livez  # clinic.views imports this module

        self.get_response = get_response
        self.probes = {"/healthz": healthz, "/livez": livez}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = self.probes.get(request.path_info)
        if probe is not None:
            return probe(request)
        return self.get_response(request)


class RequestSizeLimitMiddleware:
    """Answer a body larger than the limit with 413 before anything reads it.

    The limit is API_MAX_REQUEST_BYTES under /api/ and MAX_REQUEST_BYTES elsewhere.

    Django itself only notices an oversized body when it parses it, and answers 400
    (RequestDataTooBig). This checks the declared Content-Length first: JSON under /api/, a
    friendly page elsewhere. A body sent chunked is given its length by ChunkedBodyMiddleware
    (clinic/wsgi.py) first; one without either is still capped by Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        api = request.path.startswith(API_PREFIX)
        limit: int = settings.API_MAX_REQUEST_BYTES if api else settings.MAX_REQUEST_BYTES
        if length > limit:
            return self.too_large(request, limit)
        return self.get_response(request)

    @staticmethod
    def too_large(request: HttpRequest, limit: int) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            return api_error(gettext("The request body is too large."), 413)
        return render(request, "413.html", status=413)


class ChunkedBodyMiddleware:
    """WSGI: a body sent chunked (no Content-Length) read up to the larger body limit, and given
    to Django with its length.

    Django reads as many bytes of a request's body as CONTENT_LENGTH says, and none without it.
    gunicorn passes a chunked body on without one (saying so with ``wsgi.input_terminated``),
    so a client streaming its JSON straight to gunicorn (or through a proxy that does not
    buffer bodies) was answered as if it had sent nothing: "This field is required." for a
    body sent in full, a move's optional reason dropped without a word. A body longer than
    both limits is given a length past them without being read further:
    RequestSizeLimitMiddleware answers it with 413 as it does a declared one.
    """

    def __init__(self, application: Callable[..., Iterable[bytes]]) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ.get("wsgi.input_terminated")
            and not environ.get("CONTENT_LENGTH")
            and "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower()
        ):
            limit = max(settings.API_MAX_REQUEST_BYTES, settings.MAX_REQUEST_BYTES)
            body = environ["wsgi.input"].read(limit + 1)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.application(environ, start_response)


class ApiNeverCacheMiddleware:
    """Every answer under /api/ is ``private, no-store`` (Django's never_cache headers).

    The API answers with patients' names, answers and flags. HTTP keeps shared caches from
    storing what was asked with an Authorization header, but not what a staff session asked
    (a cookie), and a browser wrote either to its disk cache. The patient pages and the staff
    site are never_cache already; an answer that sets its own Cache-Control keeps it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX) and not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response


class NulQueryMiddleware:
    """Answer a query string holding a NUL character (``%00``) with 400.

    No page means one: PostgreSQL refuses NUL in text, so a filter value carrying it (the
    admin's list filters, Django's own among them) failed the page's query with a 500 (a review
    found it). Forms already refuse NUL in what they read; the query string is read by many
    hands, so it is checked once here. Not under /api/: there every parameter read is
    validated (a NUL is not a choice, a time or a cursor: 400 per field), the rest are
    ignored, and each operation's schema lists the answers it gives.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if "%00" in request.META.get("QUERY_STRING", "") and any(
            "\x00" in key or any("\x00" in value for value in values)
            for key, values in request.GET.lists()
        ):
            return bad_request(request, gettext("The address holds a character it may not."))
        return self.get_response(request)


def bad_request(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "bad_request.html", {"message": message}, status=400)


def client_address(request: HttpRequest) -> str:
    """The client's IP address, for per-address limits.

    Behind TRUSTED_PROXY_HOPS reverse proxies, REMOTE_ADDR is the nearest proxy: the client is
    the entry that many places from the right of X-Forwarded-For (entries further left are
    whatever the client sent, so they are never trusted).
    """
    hops: int = settings.TRUSTED_PROXY_HOPS
    remote = str(request.META.get("REMOTE_ADDR") or "unknown")
    if hops <= 0:
        return remote
    forwarded = [
        part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")
    ]
    forwarded = [part for part in forwarded if part]
    return forwarded[-hops] if len(forwarded) >= hops else remote


def client_ip(request: HttpRequest) -> str | None:
    """client_address() when it is a real IP address, else None, for IP-typed columns.

    PostgreSQL's inet type refuses anything but an address, so a missing or malformed one
    (a request built in a test, a proxy passing junk) is recorded as unknown (NULL) instead of
    turning a staff login or an audit entry into a server error. Used by the audit log and
    django-axes.
    """
    address = client_address(request)
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


SESSION_REFRESHED_KEY = "_refreshed_at"


def stamp_session_refresh(sender: Any, request: HttpRequest, **kwargs: Any) -> None:
    """On sign-in (user_logged_in): the new session starts fresh, so the first page after it
    writes nothing more (connected in ReferralsConfig.ready)."""
    request.session[SESSION_REFRESHED_KEY] = int(time.time())


class IdleSessionMiddleware:
    """Push a session's expiry to the idle time from now, at most once a minute.

    Replaces SESSION_SAVE_EVERY_REQUEST, which wrote the session row on every request: each
    page a member of staff opens was a database write (and on SQLite, a write lock). Here the
    session is only marked modified when SESSION_REFRESH_SECONDS have passed since the last
    refresh, so the idle limit holds to within that interval. Sessions without data (anonymous
    visitors) are left alone, as Django does.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or session.is_empty() or session.modified:
            return response
        now = int(time.time())
        last = session.get(SESSION_REFRESHED_KEY)
        if not isinstance(last, int) or now - last >= settings.SESSION_REFRESH_SECONDS:
            session[SESSION_REFRESHED_KEY] = now
        return response
