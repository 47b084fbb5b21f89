"""The clinic's working calendar and the due time of a referral (spec §4.2).

Pure Python: no Django, no clock. Every function takes the moment it reasons about, and every
moment must be an aware datetime. Due times are returned in UTC.

Rules (team decision, recorded in docs/CLINICAL_DECISIONS.md under "Due times"):

- ``emergency``: one hour after submission when the clinic is open at that moment (even if the
  hour runs past closing time); otherwise one hour after the next opening.
- ``urgent``: closing time of the first working day strictly after the submission's local date.
- ``routine``: closing time of the fifth working day strictly after the submission's local date.

The clinic counts as open on the half-open interval ``[opens, closes)`` of a working day.

Dates are reckoned in the clinic's time zone. "Closing time on a date" is the local wall time
converted with zoneinfo, so it follows daylight-saving changes. "One hour later" is one real
elapsed hour, so it is added in UTC. A local opening or closing time that falls inside a
daylight-saving gap or fold is resolved the PEP 495 way (``fold=0``); clinic hours never sit in
the small hours where that matters.

The settings module reads the calendar from the environment with the ``parse_*`` helpers below,
which raise ``ValueError`` with a message that names the bad value.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

URGENCIES = ("emergency", "urgent", "routine")

# Working days counted after the submission date (spec §4.2: urgent within 1 working day,
# routine within 5 working days ⚙).
URGENT_WORKING_DAYS = 1
ROUTINE_WORKING_DAYS = 5

# A clinic open for less than this could not make the one-hour emergency call inside a session,
# and the emergency due time could then fall after the urgent one.
MINIMUM_SESSION = dt.timedelta(hours=1)
EMERGENCY_RESPONSE = dt.timedelta(hours=1)

_DAY_NAMES = {
    "mon": 1,
    "monday": 1,
    "tue": 2,
    "tues": 2,
    "tuesday": 2,
    "wed": 3,
    "wednesday": 3,
    "thu": 4,
    "thur": 4,
    "thurs": 4,
    "thursday": 4,
    "fri": 5,
    "friday": 5,
    "sat": 6,
    "saturday": 6,
    "sun": 7,
    "sunday": 7,
}
_HOURS_RE = re.compile(r"^\s*(\d{2}):(\d{2})\s*-\s*(\d{2}):(\d{2})\s*$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class WorkingCalendar:
    """When the clinic is staffed: local opening hours on working weekdays, minus holidays."""

    tz: zoneinfo.ZoneInfo
    working_days: frozenset[int]  # ISO weekdays, 1 = Monday ... 7 = Sunday
    opens: dt.time
    closes: dt.time
    holidays: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.tz, zoneinfo.ZoneInfo):
            raise ValueError("tz must be a zoneinfo.ZoneInfo")
        if not self.working_days:
            raise ValueError("working_days must name at least one weekday")
        if not self.working_days <= frozenset(range(1, 8)):
            raise ValueError("working_days must be ISO weekdays from 1 (Monday) to 7 (Sunday)")
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opens and closes are local wall times and must be naive")
        session = dt.datetime.combine(dt.date.min, self.closes) - dt.datetime.combine(
            dt.date.min, self.opens
        )
        if session < MINIMUM_SESSION:
            raise ValueError(
                f"opening hours {self.opens:%H:%M}-{self.closes:%H:%M} must last at least one hour"
            )


def _require_aware(moment: dt.datetime, name: str = "moment") -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime, got naive {moment.isoformat()}")


def is_working_day(day: dt.date, calendar: WorkingCalendar) -> bool:
    """True when ``day`` is a working weekday and not a holiday."""
    return day.isoweekday() in calendar.working_days and day not in calendar.holidays


def local_date(moment: dt.datetime, calendar: WorkingCalendar) -> dt.date:
    """The date of ``moment`` on the clinic's wall calendar."""
    _require_aware(moment)
    return moment.astimezone(calendar.tz).date()


def opening_on(day: dt.date, calendar: WorkingCalendar) -> dt.datetime:
    """The instant (UTC) the clinic opens on ``day``, local time, whether or not it is working."""
    return dt.datetime.combine(day, calendar.opens, tzinfo=calendar.tz).astimezone(dt.UTC)


def closing_on(day: dt.date, calendar: WorkingCalendar) -> dt.datetime:
    """The instant (UTC) the clinic closes on ``day``, local time, whether or not it is working."""
    return dt.datetime.combine(day, calendar.closes, tzinfo=calendar.tz).astimezone(dt.UTC)


def _working_days_from(day: dt.date, calendar: WorkingCalendar) -> Iterator[dt.date]:
    # Terminates: at least one weekday works and the holidays are a finite set.
    while True:
        if is_working_day(day, calendar):
            yield day
        day += dt.timedelta(days=1)


def working_days_after(day: dt.date, count: int, calendar: WorkingCalendar) -> dt.date:
    """The ``count``-th working day strictly after ``day`` (``count`` >= 1)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    days = _working_days_from(day + dt.timedelta(days=1), calendar)
    for _ in range(count - 1):
        next(days)
    return next(days)


def is_open(moment: dt.datetime, calendar: WorkingCalendar) -> bool:
    """True when the clinic is open at ``moment``: a working day, ``opens <= time < closes``."""
    day = local_date(moment, calendar)
    if not is_working_day(day, calendar):
        return False
    return opening_on(day, calendar) <= moment < closing_on(day, calendar)


def next_opening(moment: dt.datetime, calendar: WorkingCalendar) -> dt.datetime:
    """The first opening instant (UTC) at or after ``moment``.

    Exactly at opening time this is ``moment`` itself; during a session it is the opening of the
    next session.
    """
    day = local_date(moment, calendar)
    for working_day in _working_days_from(day, calendar):
        opening = opening_on(working_day, calendar)
        if opening >= moment:
            return opening
    raise AssertionError("unreachable: the working-day iterator never ends")  # pragma: no cover


def due_at(urgency: str, submitted_at: dt.datetime, calendar: WorkingCalendar) -> dt.datetime:
    """When a referral of this urgency is due (UTC), for a case submitted at ``submitted_at``."""
    _require_aware(submitted_at, "submitted_at")
    if urgency == "emergency":
        if is_open(submitted_at, calendar):
            start = submitted_at.astimezone(dt.UTC)
        else:
            start = next_opening(submitted_at, calendar)
        return start + EMERGENCY_RESPONSE
    if urgency == "urgent":
        count = URGENT_WORKING_DAYS
    elif urgency == "routine":
        count = ROUTINE_WORKING_DAYS
    else:
        raise ValueError(f"unknown urgency {urgency!r}; expected one of {', '.join(URGENCIES)}")
    day = working_days_after(local_date(submitted_at, calendar), count, calendar)
    return closing_on(day, calendar)


# --- Parsers for settings -------------------------------------------------------------------


def _parse_weekday(token: str, text: str) -> int:
    token = token.strip().lower()
    if token.isdigit() and len(token) == 1 and 1 <= int(token) <= 7:
        return int(token)
    if token in _DAY_NAMES:
        return _DAY_NAMES[token]
    raise ValueError(
        f"working days {text!r}: {token!r} is not a weekday "
        "(use mon..sun or ISO numbers 1..7, e.g. 'mon-fri' or '1,2,3,4,5')"
    )


def parse_working_days(text: str) -> frozenset[int]:
    """Parse ``"mon-fri"``, ``"1,2,3,4,5"`` or ``"mon-wed,fri"`` into ISO weekdays."""
    if not text.strip():
        raise ValueError("working days must not be empty (e.g. 'mon-fri')")
    days: set[int] = set()
    for item in text.split(","):
        if not item.strip():
            raise ValueError(f"working days {text!r}: empty item between commas")
        if "-" in item:
            first_token, _, last_token = item.partition("-")
            first = _parse_weekday(first_token, text)
            last = _parse_weekday(last_token, text)
            if first > last:
                raise ValueError(
                    f"working days {text!r}: range {item.strip()!r} runs backwards; "
                    "write a wrapping range as two, e.g. 'fri-sun,mon'"
                )
            days.update(range(first, last + 1))
        else:
            days.add(_parse_weekday(item, text))
    return frozenset(days)


def parse_hours(text: str) -> tuple[dt.time, dt.time]:
    """Parse ``"08:00-18:00"`` into (opens, closes); opening must last at least one hour."""
    match = _HOURS_RE.match(text)
    if match is None:
        raise ValueError(f"opening hours {text!r} must look like 'HH:MM-HH:MM', e.g. '08:00-18:00'")
    hour_open, minute_open, hour_close, minute_close = (int(part) for part in match.groups())
    try:
        opens = dt.time(hour_open, minute_open)
        closes = dt.time(hour_close, minute_close)
    except ValueError:
        raise ValueError(f"opening hours {text!r}: not a valid time of day") from None
    session = dt.datetime.combine(dt.date.min, closes) - dt.datetime.combine(dt.date.min, opens)
    if session < MINIMUM_SESSION:
        raise ValueError(
            f"opening hours {text!r}: closing must be at least one hour after opening "
            "(overnight hours are not supported)"
        )
    return opens, closes


def parse_holidays(text: str) -> frozenset[dt.date]:
    """Parse ``"2026-12-25,2026-12-26"`` into dates; an empty string means no holidays."""
    if not text.strip():
        return frozenset()
    holidays: set[dt.date] = set()
    for item in text.split(","):
        token = item.strip()
        if not _DATE_RE.match(token):
            raise ValueError(f"holidays {text!r}: {token!r} is not a date in YYYY-MM-DD form")
        try:
            holidays.add(dt.date.fromisoformat(token))
        except ValueError:
            raise ValueError(f"holidays {text!r}: {token!r} is not a real date") from None
    return frozenset(holidays)


def parse_time_zone(text: str) -> zoneinfo.ZoneInfo:
    """Parse an IANA time zone name such as ``"Europe/London"``."""
    name = text.strip()
    if not name:
        raise ValueError("time zone must not be empty (e.g. 'Europe/London')")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time zone {text!r} is not a known IANA time zone name") from None
