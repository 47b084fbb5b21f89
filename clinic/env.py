"""Read typed settings from environment variables.

Every helper raises ImproperlyConfigured naming the variable and the value it
refused, so a typo in a deployment stops the process at start-up instead of
silently falling back to a default.
"""

import os
import re
from collections.abc import Callable, Mapping

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


def env_parsed[T](
    name: str, default: str, parse: Callable[[str], T], *, environ: Mapping[str, str] | None = None
) -> T:
    """Parse a value with a pure parser, turning its ValueError into ImproperlyConfigured."""
    value = _raw(name, environ)
    try:
        return parse(default if value is None else value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}.") from None


RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[int, int]:
    """'20/hour' -> (20, 3600): a count per second, minute, hour or day."""
    count, _, period = text.strip().lower().partition("/")
    if not count.strip().isdigit() or period.strip() not in RATE_PERIODS:
        raise ValueError(f"{text!r} is not a rate like 20/hour (per second, minute, hour or day)")
    if int(count) < 1:
        raise ValueError(f"{text!r} must allow at least one request")
    return int(count), RATE_PERIODS[period.strip()]


PHONE_NUMBER = re.compile(r"\+?[0-9 ()-]+")


def parse_phone_number(text: str) -> str:
    """'999', '+44 20 7946 0000', '(020) 7946-0000': digits, spaces, brackets, dashes, a +."""
    number = text.strip()
    digits = sum(character.isdigit() for character in number)
    if not PHONE_NUMBER.fullmatch(number) or not 2 <= digits <= 15:
        raise ValueError(
            f"{text!r} is not a phone number (digits, spaces, brackets and dashes, e.g. 999 or "
            "+44 20 7946 0000)"
        )
    return number
