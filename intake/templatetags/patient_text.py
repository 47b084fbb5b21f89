"""The spec's bold words on the patient's pages (``intake.messages.EMPHASIS``)."""

from __future__ import annotations

import re
from typing import Any

from django import template
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe

from intake.messages import EMPHASIS

register = template.Library()

# Each phrase as it reads once escaped, and the same phrase with its word in <strong>.
_MARKED = tuple(
    (
        escape(phrase),
        re.sub(rf"\b{word}\b", f"<strong>{word}</strong>", escape(phrase), count=1),
    )
    for phrase, word in EMPHASIS
)


@register.filter(is_safe=True)
def emphasised(text: Any) -> SafeString:
    """``text`` escaped, with the spec's bold words in <strong> where the spec has them."""
    html = str(conditional_escape(text))
    for phrase, marked in _MARKED:
        html = html.replace(phrase, marked)
    return mark_safe(html)  # noqa: S308 - escaped above; only our own tags added
