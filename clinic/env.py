"""Read typed settings from environment variables.

Every helper raises ImproperlyConfigured naming the variable and the value it
refused, so a typo in a deployment stops the process at start-up instead of
silently falling back to a default.
"""

import os
import re
from collections.abc import Mapping
from datetime import date

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str, *, environ: Mapping[str, str] | None = None) -> str:
    value = _raw(name, environ)
    return default if value is None else value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean: use one of true/false, yes/no, on/off, 1/0."
    )


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below the minimum of {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is above the maximum of {maximum}.")
    return number


def env_list(
    name: str, default: list[str], *, environ: Mapping[str, str] | None = None
) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(
    name: str, default: str, choices: tuple[str, ...], *, environ: Mapping[str, str] | None = None
) -> str:
    value = env_str(name, default, environ=environ).lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def env_weekdays(
    name: str, default: str, *, environ: Mapping[str, str] | None = None
) -> tuple[int, ...]:
    """Parse "mon-fri" or "mon,wed,fri" (or a mix) into ISO weekday numbers 1..7."""
    value = env_str(name, default, environ=environ).lower()
    days: set[int] = set()
    for part in value.split(","):
        part = part.strip()
        start, _, end = part.partition("-")
        if start not in WEEKDAYS or (end and end not in WEEKDAYS):
            raise ImproperlyConfigured(
                f"{name}={value!r}: {part!r} is not a day or range of days such as 'mon-fri'."
            )
        first = WEEKDAYS.index(start)
        last = WEEKDAYS.index(end) if end else first
        if last < first:
            raise ImproperlyConfigured(f"{name}={value!r}: the range {part!r} runs backwards.")
        days.update(range(first + 1, last + 2))
    return tuple(sorted(days))


_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def env_hours(
    name: str, default: str, *, environ: Mapping[str, str] | None = None
) -> tuple[str, str]:
    """Parse "08:00-18:00" into ("08:00", "18:00"); the end must follow the start."""
    value = env_str(name, default, environ=environ).replace(" ", "")
    match = _HOURS.match(value)
    if not match:
        raise ImproperlyConfigured(f"{name}={value!r} is not a time range such as '08:00-18:00'.")
    opens, closes = value.split("-")
    if closes <= opens or (closes.startswith("24") and closes != "24:00"):
        raise ImproperlyConfigured(f"{name}={value!r}: closing time must come after opening.")
    return opens, closes


def env_dates(name: str, *, environ: Mapping[str, str] | None = None) -> tuple[date, ...]:
    """Parse comma-separated ISO dates ("2026-12-25,2026-12-26")."""
    dates = []
    for item in env_list(name, [], environ=environ):
        try:
            dates.append(date.fromisoformat(item))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an ISO date such as 2026-12-25."
            ) from None
    return tuple(sorted(set(dates)))
