"""What the staff case page shows: answers by section, each flag with why it fired."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intake.questionnaire import FIELD_BY_CODE, SECTIONS, Field, fields_in_section


@dataclass(frozen=True)
class AnswerRow:
    code: str
    question: str
    answer: str
    flagged_by: tuple[str, ...]


@dataclass(frozen=True)
class SectionRows:
    title: str
    rows: tuple[AnswerRow, ...]


@dataclass(frozen=True)
class FlagRow:
    code: str
    explanation: str
    clauses: tuple[str, ...]
    answers: tuple[tuple[str, str], ...]
    red: bool


def display_value(field: Field | None, value: Any) -> str:
    """Answer text for staff: choice labels with their staff-only wording (nerve-root patterns)."""
    if value is None:
        return "— (not asked)"
    if field is None:
        return str(value)
    if field.kind == "bool":
        return "Yes" if value else "No"
    labels = {
        c.code: f"{c.label} [{c.staff_label}]" if c.staff_label else c.label for c in field.choices
    }
    if field.kind == "multi":
        return "; ".join(labels.get(v, str(v)) for v in value) or "None of these"
    if field.kind == "single":
        return labels.get(value, str(value))
    if field.kind == "text":
        return value or "(left empty)"
    return str(value)


def case_answers(
    answers: Mapping[str, Any], flags: Sequence[Mapping[str, Any]]
) -> list[SectionRows]:
    readers: dict[str, list[str]] = {}
    for flag in flags:
        for code in flag["answers"]:
            readers.setdefault(code, []).append(flag["code"])
    out = []
    for section in SECTIONS:
        rows = tuple(
            AnswerRow(
                code=field.code,
                question=field.label,
                answer=display_value(field, answers.get(field.code)),
                flagged_by=tuple(readers.get(field.code, ())),
            )
            for field in fields_in_section(section.code)
            if field.code in answers
        )
        if rows:
            out.append(SectionRows(section.title, rows))
    return out


def case_flags(flags: Sequence[Mapping[str, Any]]) -> list[FlagRow]:
    rows = [
        FlagRow(
            code=flag["code"],
            explanation=flag["explanation"],
            clauses=tuple(flag["clauses"]),
            answers=tuple(
                (
                    FIELD_BY_CODE[code].label if code in FIELD_BY_CODE else code,
                    display_value(FIELD_BY_CODE.get(code), value),
                )
                for code, value in flag["answers"].items()
            ),
            red=flag["code"].startswith("RED_FLAG_"),
        )
        for flag in flags
    ]
    return sorted(rows, key=lambda row: (not row.red, row.code))
