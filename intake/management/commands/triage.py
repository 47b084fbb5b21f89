"""``manage.py triage [PATH|-]``: validate and triage answer sets in bulk, one JSON line each."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from intake.assessment import assess_input

# Lines are written in batches: one write per answer set would dominate the run time.
BATCH = 500


def _line(result: dict[str, Any]) -> str:
    if not result["valid"]:
        return json.dumps({"valid": False, "errors": result["errors"]}, ensure_ascii=False)
    flags = result["flags"]
    return json.dumps(
        {
            "valid": True,
            "flags": [flag["code"] for flag in flags],
            "queues": result["queues"],
            "urgency": result["urgency"],
            "suggested_after_clearance": result["suggested_after_clearance"],
            "ruleset_version": result["ruleset_version"],
            "evidence": {
                flag["code"]: {"clauses": flag["clauses"], "answers": flag["answers"]}
                for flag in flags
            },
            "derived": result["derived"],
        },
        ensure_ascii=False,
    )


class Command(BaseCommand):
    help = (
        "Triage a JSON array of answer objects (or one object) from PATH or stdin ('-'). "
        "Prints one JSON result per line, in input order. Invalid answer sets give "
        '{"valid": false, "errors": ...}; the command fails only when the input is not JSON.'
    )
    # Pure computation over a file: the project checks add a second to every run.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default="-", help="JSON file, or - for stdin")

    def handle(self, *args: Any, **options: Any) -> None:
        path: str = options["path"]
        try:
            if path == "-":
                text = sys.stdin.read()
            else:
                with open(path, encoding="utf-8") as handle:
                    text = handle.read()
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {path}: {error}") from error
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CommandError(f"The input is not valid JSON: {error}") from error

        items = data if isinstance(data, list) else [data]
        out = self.stdout
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            out.write("\n".join(_line(assess_input(item)) for item in batch))
