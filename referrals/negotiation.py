"""The API's content negotiation: the type a client prefers by ``Accept``'s weights.

Apart from referrals.api_auth: DRF reads DEFAULT_CONTENT_NEGOTIATION_CLASS as it defines its
APIView, which that module imports.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http.request import MediaType
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from referrals import accept


class QualityNegotiation(DefaultContentNegotiation):
    """DRF's negotiation (``?format=`` first, then ``Accept``) with the weights read, as RFC
    9110 has it (referrals.accept): the type the client prefers, never one it weighted 0.
    DRF's served the first type named at all: ``application/fhir+json;q=0.1,
    application/json;q=0.9`` got FHIR, ``application/json;q=0`` JSON. 406 when none is
    acceptable, as DRF's (every DRF view's: DEFAULT_CONTENT_NEGOTIATION_CLASS)."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        asked = format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE)
        if asked:
            renderers = self.filter_renderers(renderers, asked)
        ranges = accept.parse_accept(self.get_accept_list(request))
        choice = accept.choose([renderer.media_type for renderer in renderers], ranges)
        if choice is None:
            return self.none_acceptable(renderers, ranges)
        renderer = renderers[choice.index]
        return renderer, accept.with_params(renderer.media_type, choice.params)

    def none_acceptable(
        self, renderers: list[BaseRenderer], ranges: list[MediaType]
    ) -> tuple[BaseRenderer, str]:
        # DRF's words were "Could not satisfy the request Accept header.": the types it may
        # name are said (an API QA round).
        types = " or ".join(renderer.media_type for renderer in renderers)
        raise exceptions.NotAcceptable(
            f"Accept names no type this operation answers in: it answers in {types}.",
            available_renderers=renderers,
        )


class LenientNegotiation(QualityNegotiation):
    """An unknown ``?format=``, or an ``Accept`` naming none of the operation's types (a
    browser's ``text/html``), gets the operation's first type the client did not refuse, not
    404/406. Refused, every one (``q=0``): 406, the type's weight respected."""

    def filter_renderers(self, renderers: Any, format: str) -> list[BaseRenderer]:
        return [r for r in renderers if r.format == format] or list(renderers)

    def none_acceptable(
        self, renderers: list[BaseRenderer], ranges: list[MediaType]
    ) -> tuple[BaseRenderer, str]:
        for renderer in renderers:
            if not accept.refused(renderer.media_type, ranges):
                return renderer, renderer.media_type
        return super().none_acceptable(renderers, ranges)


class ErrorsOnlyNegotiation(DefaultContentNegotiation):
    """For an operation whose answer DRF does not render (the body map, an SVG): its
    renderers are for its errors, which are JSON whatever ``Accept`` says."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type
