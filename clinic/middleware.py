"""Request-level guards shared by the HTML pages and the API."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext

API_PREFIX = "/api/"


class RequestSizeLimitMiddleware:
    """Answer a body larger than settings.MAX_REQUEST_BYTES with 413 before anything reads it.

    Django itself only notices an oversized body when it parses it, and answers 400
    (RequestDataTooBig). This checks the declared Content-Length first: JSON under /api/, a
    friendly page elsewhere. A body without a Content-Length is still capped by Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit: int = settings.MAX_REQUEST_BYTES
        if length > limit:
            return self.too_large(request, limit)
        return self.get_response(request)

    @staticmethod
    def too_large(request: HttpRequest, limit: int) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            return JsonResponse(
                {
                    "detail": gettext("The request is too large."),
                    "max_bytes": limit,
                },
                status=413,
            )
        return render(request, "413.html", status=413)
