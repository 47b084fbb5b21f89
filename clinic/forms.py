"""Form fields shared by the patient form and the staff pages."""

from __future__ import annotations

from typing import Any

from django import forms


class TextareaField(forms.CharField):
    r"""Text from a textarea, its line breaks made "\n" before the length is checked.

    Browsers send each line break as "\r\n" but count it as one character against the
    textarea's maxlength: without this, a staff note the browser let through (4,990 characters,
    199 of them line breaks) was refused for having 5,189, and a patient's main concern could be
    refused the same way."""

    def to_python(self, value: Any) -> str | None:
        text = super().to_python(value)
        return text.replace("\r\n", "\n").replace("\r", "\n") if text else text
