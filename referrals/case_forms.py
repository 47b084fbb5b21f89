"""The case page's move and note forms, each field drawn by Django's own form rendering once
per what it offers, then reused.

A case page drew the move form's three selects option by option, each option through two
included templates: about a tenth of the page's CPU, the same markup for every referral in the
same status, queue and urgency. A form that is not bound and has no initial values shows
nothing but its fields and their choices, so its fields' HTML is kept per form class, prefix,
language and the choices offered (at most FIELDS_KEPT entries per process). A bound form (sent
back with errors, or with what was typed) is drawn anew every time.
tests/referrals/test_case_page_html.py holds the page and the fields to the markup drawn inline.
"""

from __future__ import annotations

from typing import Any, Final

from django import forms
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from clinic.memo import BoundedMemo

FIELD_TEMPLATE: Final = "admin/referrals/case_field.html"
# The move form's offers: its status, queue and urgency pick them, a few hundred at most.
FIELDS_KEPT: Final = 256

FIELDS: BoundedMemo[tuple[Any, ...], tuple[SafeString, ...]] = BoundedMemo(FIELDS_KEPT)


def form_fields_html(form: forms.Form) -> tuple[SafeString, ...]:
    """Each field of ``form`` as FIELD_TEMPLATE draws it, in the form's order."""
    if form.is_bound or form.initial:
        return _drawn(form)
    key = (type(form), form.prefix, form.auto_id, get_language(), _offered(form))
    return FIELDS.get(key, lambda: _drawn(form))


def _drawn(form: forms.Form) -> tuple[SafeString, ...]:
    return tuple(SafeString(field.render(FIELD_TEMPLATE)) for field in form)


def _offered(form: forms.Form) -> tuple[Any, ...]:
    """The form's fields by name, with the choices each offers (labels in the active
    language: some are lazy translations)."""
    return tuple(
        (
            name,
            type(field),
            tuple((value, str(label)) for value, label in getattr(field, "choices", ())),
        )
        for name, field in form.fields.items()
    )
