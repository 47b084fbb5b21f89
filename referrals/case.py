"""What the staff case page shows: answers by section, each flag with why it fired."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from django.contrib.auth import get_user_model
from django.utils.dates import MONTHS_3
from django.utils.timezone import localtime

from intake.models import Urgency
from intake.questionnaire import FIELD_BY_CODE, SECTIONS, Field, answer_label, fields_in_section
from referrals.models import EventKind, Queue, Status


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
                question=answer_label(field),
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
                    answer_label(FIELD_BY_CODE[code]) if code in FIELD_BY_CODE else code,
                    display_value(FIELD_BY_CODE.get(code), value),
                )
                for code, value in flag["answers"].items()
            ),
            red=flag["code"].startswith("RED_FLAG_"),
        )
        for flag in flags
    ]
    return sorted(rows, key=lambda row: (not row.red, row.code))


# A history entry's columns, read as values() rows: a case page shows up to 200 of them, and
# model instances with their actors cost more than the page's queries.
ACTOR_NAME: Final = f"actor__{get_user_model().USERNAME_FIELD}"
HISTORY_COLUMNS: Final = (
    "created_at",
    "kind",
    "from_status",
    "to_status",
    "from_urgency",
    "to_urgency",
    "reason",
    "data",
    ACTOR_NAME,
)


def history_lines(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """One plain-text line per event (the template escapes them): when, what, the status and
    urgency it changed, who and why; e.g. "3 Dec 15:59 — Status changed: New (proposed) →
    Claimed by ana"."""
    # Translated once per page, in the request's language: get_kind_display() builds a dict of
    # every kind's translated label on each call (a third of a 200-entry page's CPU).
    labels = {kind: str(label) for kind, label in EventKind.choices}
    queues = {queue: str(label) for queue, label in Queue.choices}
    # Statuses and urgencies by their labels, as the queue shows them ("Patient contacted",
    # not "contacted"); a code no longer in the choices shows as stored.
    statuses = {status: str(label) for status, label in Status.choices}
    # Django's "j M H:i" with the month's short name looked up once: date_format() per line
    # was a seventh of a 200-entry page's CPU.
    months = {number: str(name).title() for number, name in MONTHS_3.items()}
    urgencies = {urgency: str(label) for urgency, label in Urgency.choices}
    lines = []
    for row in rows:
        kind = row["kind"]
        at = localtime(row["created_at"])
        line = (
            f"{at.day} {months[at.month]} {at.hour:02d}:{at.minute:02d} — {labels.get(kind, kind)}"
        )
        if row["from_status"] or row["to_status"]:
            from_status, to_status = row["from_status"], row["to_status"]
            # A referral's first entry has no status or urgency before it: "Created: New
            # (proposed) (Routine)", not a placeholder arrow from "·".
            line += ": "
            if from_status:
                line += f"{statuses.get(from_status, from_status)} → "
            line += statuses.get(to_status, to_status)
        # A reroute's new queue (the event's data): a colleague who may not see that queue's
        # referral had no word on the page of where the case went (a review found it).
        to_queue = (row.get("data") or {}).get("to")
        if to_queue:
            line += f" to {queues.get(to_queue, to_queue)}"
        # A reroute into the patient's open referral of a queue names the queue it came from.
        from_queue = (row.get("data") or {}).get("from")
        if from_queue:
            line += f" from {queues.get(from_queue, from_queue)}"
        if row["to_urgency"]:
            from_urgency, to_urgency = row["from_urgency"], row["to_urgency"]
            line += " ("
            if from_urgency:
                line += f"{urgencies.get(from_urgency, from_urgency)} → "
            line += f"{urgencies.get(to_urgency, to_urgency)})"
        # A referral made again from one closed by mistake (referral_refer_again) says so.
        # Who referred it again comes before the referral it came from: "referred again from
        # the referral cancelled by lead" read as if lead had cancelled it (a QA round).
        closed_as = (row.get("data") or {}).get("closed_as")
        if closed_as:
            line += ", referred again"
        if row[ACTOR_NAME]:
            line += f" by {row[ACTOR_NAME]}"
        if closed_as:
            line += f" from the {statuses.get(closed_as, closed_as).lower()} referral"
        if row["reason"]:
            line += f": “{row['reason']}”"
        lines.append(line)
    return lines
