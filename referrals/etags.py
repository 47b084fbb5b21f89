"""Entity tags (RFC 9110 §8.8.3) for the API's referral: made, read and compared. Pure Python.

A referral's tag is strong: a digest of the JSON the detail answers with, so it changes with
anything that answer shows (a move, a note's urgency change, a case that joins, a name in its
history, its ``overdue`` turning true) and with nothing else. It must be strong: If-Match
compares with the strong function only (§13.1.1), so a weak tag could never pass it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

ANY: Final = "*"
Tags = tuple["Tag", ...] | Literal["*"]

# One element of the list and its comma: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, etagc =
# %x21 / %x23-7E / obs-text (§8.8.3), so a tag may hold a comma; empty elements are allowed.
_ELEMENT: Final = re.compile(r'[ \t]*(?:(W/)?"([\x21\x23-\x7e\x80-\xff]*)")?[ \t]*(?:,|\Z)')


class MalformedTags(ValueError):
    """An If-Match or If-None-Match value that is neither ``*`` nor a list of entity tags."""


@dataclass(frozen=True)
class Tag:
    opaque: str  # with its quotes
    weak: bool = False

    def __str__(self) -> str:
        return f"W/{self.opaque}" if self.weak else self.opaque


def tag_of(representation: Mapping[str, Any]) -> str:
    """The strong tag of a JSON answer: the same for the same content, whatever its key order."""
    canonical = json.dumps(
        representation, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return '"' + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32] + '"'


def parse_tags(value: str) -> Tags:
    """An If-Match or If-None-Match header: ``*``, or its tags (a comma-separated
    list, empty elements allowed as §5.6.1 asks). Anything else raises MalformedTags."""
    text = value.strip()
    if text == ANY:
        return ANY
    tags: list[Tag] = []
    at = 0
    while at < len(text):
        found = _ELEMENT.match(text, at)
        if found is None or found.end() == at:
            raise MalformedTags(value)
        if found.group(2) is not None:
            tags.append(Tag(f'"{found.group(2)}"', weak=found.group(1) is not None))
        at = found.end()
    if not tags:
        raise MalformedTags(value)
    return tuple(tags)


def strong_match(tags: Tags, current: str) -> bool:
    """If-Match (§13.1.1): ``*`` or a strong tag equal to ``current``."""
    return tags == ANY or any(not tag.weak and tag.opaque == current for tag in tags)


def weak_match(tags: Tags, current: str) -> bool:
    """If-None-Match (§13.1.2): ``*`` or any tag whose opaque part equals ``current``'s."""
    return tags == ANY or any(tag.opaque == current for tag in tags)
