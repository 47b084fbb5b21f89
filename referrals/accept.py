"""Choosing a response's media type by the request's ``Accept``, as RFC 9110 (12.5.1) has it.

The ranges are read by Django's own ``MediaType`` (django.http.request: the type, the
parameters, the weight ``q``, 1 when not given or not a weight, and how specific the range is).
What is ours is the choice: the weight of a type offered is that of the most specific range that
covers it (``application/json`` over ``application/*`` over ``*/*``), and a weight of 0 means
"not acceptable". Django's ``HttpRequest.get_preferred_type`` drops the ranges weighted 0 before
it matches, so ``application/fhir+json;q=0, */*`` would still choose FHIR through ``*/*``; DRF's
negotiation reads no weights at all: it served the first type the client named, so
``Accept: application/fhir+json;q=0.1, application/json`` got FHIR, and ``application/json;q=0``
got JSON. Pure: strings in, an index out (referrals.negotiation.QualityNegotiation asks).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from django.http.request import MediaType


@dataclass(frozen=True)
class Choice:
    index: int  # of the type chosen among those offered
    params: Mapping[str, str]  # of the range that chose it, its weight left out (``indent``)


def parse_accept(elements: Iterable[str]) -> list[MediaType]:
    """The media ranges of an ``Accept`` list already split at its commas (DRF's bounded
    split); an element that is not ``type/subtype``, ``type/*`` or ``*/*`` is left out."""
    ranges = (MediaType(element) for element in elements)
    return [
        media_range
        for media_range in ranges
        if media_range.sub_type and (media_range.main_type != "*" or media_range.sub_type == "*")
    ]


def weigh(offer: str, ranges: Sequence[MediaType]) -> tuple[float, int, MediaType] | None:
    """The weight the client gives a type offered, how specific the range that gave it is, and
    that range; None when no range covers the type."""
    covering = [media_range for media_range in ranges if media_range.match(offer)]
    if not covering:
        return None
    best = max(media_range.specificity for media_range in covering)
    # The most specific applies; two as specific (a range repeated): the higher weight.
    chosen = max(
        (media_range for media_range in covering if media_range.specificity == best),
        key=_weight,
    )
    return _weight(chosen), best, chosen


def _weight(media_range: MediaType) -> float:
    """Django's reading of ``q`` (1 where it is not a weight from 0 to 1), and 1 for ``nan``,
    which Django gives as it is: a weight that is no number compared with none, and a range
    weighted ``nan`` outranked every other (``application/fhir+json;q=nan, application/json``
    got FHIR: a review found it)."""
    quality = float(media_range.quality)
    return quality if math.isfinite(quality) else 1.0


def choose(offers: Sequence[str], ranges: Sequence[MediaType]) -> Choice | None:
    """The type to answer with, among those offered in the server's order of preference: the
    highest weight; at equal weights, the one the client named more specifically (``Accept:
    application/json, */*`` is JSON where FHIR comes first), then the server's order. None
    when no type offered is acceptable (not covered, or weighted 0)."""
    best: tuple[float, int, int] | None = None
    choice = None
    for index, offer in enumerate(offers):
        weight = weigh(offer, ranges)
        if weight is None or weight[0] <= 0:
            continue
        q, specificity, media_range = weight
        rank = (q, specificity, -index)
        if best is None or rank > best:
            best, choice = rank, Choice(index, _params(media_range.range_params))
    return choice


def refused(offer: str, ranges: Sequence[MediaType]) -> bool:
    """The client said the type is not acceptable: weighted 0 by the range that applies."""
    weight = weigh(offer, ranges)
    return weight is not None and weight[0] <= 0


def with_params(media_type: str, params: Mapping[str, str]) -> str:
    """``application/json; indent=2``: the type offered (the renderers' carry no parameters)
    with the chosen range's, as DRF hands the renderer its accepted media type."""
    return "; ".join([media_type, *(f"{name}={value}" for name, value in params.items())])


def _params(params: Mapping[str, Any]) -> Mapping[str, str]:
    """A range's parameters: str, as django.utils.http.parse_header_parameters makes them
    (django-stubs types them bytes)."""
    return cast(Mapping[str, str], params)
