"""Choosing a response's media type by the request's ``Accept``, as RFC 9110 (12.5.1) has it.

Each media range carries a weight, ``q`` from 0 to 1 (1 when not given); the weight of a type
offered is that of the most specific range that matches it (``application/json`` over
``application/*`` over ``*/*``), and a weight of 0 means "not acceptable". DRF's own
negotiation read no weights: it served the first type the client named at all, so
``Accept: application/fhir+json;q=0.1, application/json`` got FHIR, and ``application/json;q=0``
got JSON. Pure: strings in, an index out (referrals.negotiation.QualityNegotiation asks).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

# RFC 9110 12.4.2: "0" to "1", at most three decimals.
_QVALUE: Final = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")
_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

Params = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class MediaRange:
    type: str
    subtype: str
    params: Params  # other than q, names lower-cased, in the order given
    q: float

    @property
    def precedence(self) -> int:
        """How specific the range is: ``*/*`` 0, ``type/*`` 1, ``type/subtype`` 2, and 3
        with parameters (DRF's order, which a weight does not change)."""
        if self.type == "*":
            return 0
        if self.subtype == "*":
            return 1
        return 3 if self.params else 2

    def matches(self, offer: MediaRange) -> bool:
        """The range covers the type offered. A parameter of the offer must be in the range
        with its value; one only in the range (``indent=2``) is an instruction to the
        renderer, as DRF reads it, not a condition."""
        if self.type != "*" and self.type != offer.type:
            return False
        if self.subtype != "*" and self.subtype != offer.subtype:
            return False
        return all(item in self.params for item in offer.params)


@dataclass(frozen=True)
class Choice:
    index: int  # of the type chosen among those offered
    params: Params  # of the range that chose it (``indent``), for the renderer


def parse_media_range(text: str) -> MediaRange | None:
    """One element of an ``Accept`` list, or None when it is not a media range with a valid
    weight (it is then left out: a malformed weight says nothing about the client's wish)."""
    kind, *parameters = text.split(";")
    type_, slash, subtype = kind.strip().lower().partition("/")
    if not (slash and _TOKEN.fullmatch(type_) and _TOKEN.fullmatch(subtype)):
        return None
    if type_ == "*" and subtype != "*":
        return None
    params: list[tuple[str, str]] = []
    q = 1.0
    for parameter in parameters:
        name, equals, value = parameter.strip().partition("=")
        name, value = name.strip().lower(), value.strip()
        if not (equals and _TOKEN.fullmatch(name)):
            return None
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name == "q":
            if not _QVALUE.fullmatch(value):
                return None
            q = float(value)
        else:
            params.append((name, value))
    return MediaRange(type_, subtype, tuple(params), q)


def parse_accept(elements: Iterable[str]) -> list[MediaRange]:
    """The media ranges of an ``Accept`` list already split at its commas (DRF's bounded
    split), the malformed left out."""
    ranges = (parse_media_range(element) for element in elements)
    return [media_range for media_range in ranges if media_range is not None]


def weigh(offer: str, ranges: Sequence[MediaRange]) -> tuple[float, int, Params] | None:
    """The weight the client gives a type offered, the precedence of the range that gave it
    and that range's parameters; None when no range covers the type."""
    offered = parse_media_range(offer)
    if offered is None:
        return None
    covering = [media_range for media_range in ranges if media_range.matches(offered)]
    if not covering:
        return None
    best = max(media_range.precedence for media_range in covering)
    # The most specific applies; two as specific (a range repeated): the higher weight.
    chosen = max(
        (media_range for media_range in covering if media_range.precedence == best),
        key=lambda media_range: media_range.q,
    )
    return chosen.q, best, chosen.params


def choose(offers: Sequence[str], ranges: Sequence[MediaRange]) -> Choice | None:
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
        q, precedence, params = weight
        rank = (q, precedence, -index)
        if best is None or rank > best:
            best, choice = rank, Choice(index, params)
    return choice


def refused(offer: str, ranges: Sequence[MediaRange]) -> bool:
    """The client said the type is not acceptable: weighted 0 by the range that applies."""
    weight = weigh(offer, ranges)
    return weight is not None and weight[0] <= 0


def with_params(media_type: str, params: Params) -> str:
    """``application/json; indent=2``: the type offered with the chosen range's parameters,
    as DRF hands the renderer its accepted media type."""
    offered = parse_media_range(media_type)
    own = offered.params if offered is not None else ()
    extra = [f"{name}={value}" for name, value in params if (name, value) not in own]
    return "; ".join([media_type, *extra])
