"""Who runs a management command that touches a patient's data, for its audit entry."""

from __future__ import annotations

import getpass

from django.core.management.base import CommandParser


def add_operator_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--operator",
        default="",
        help="Who is running this, for the audit trail (default: the login name).",
    )


def operator_of(options: dict[str, object]) -> str:
    given = str(options.get("operator") or "").strip()
    if given:
        return given
    try:
        return f"login:{getpass.getuser()}"
    except (OSError, KeyError):
        return "login:unknown"
