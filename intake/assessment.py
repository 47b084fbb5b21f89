"""The full triage result of spec §8.1: validation, triage and routing composed.

Pure Python. ``assess`` is what the service stores with an intake; ``assess_input`` is the same
for untrusted input (the triage command, the API).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from intake.triage import RULESET_VERSION, evaluate
from intake.validation import validate_answers
from referrals.routing import route


def assess(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The §8.1 result for answers that have passed validation."""
    derived, flags = evaluate(answers)
    routing = route([flag["code"] for flag in flags], answers)
    return {
        "ruleset_version": RULESET_VERSION,
        "derived": derived,
        "flags": flags,
        "queues": list(routing.queues),
        "urgency": routing.urgency,
        "suggested_after_clearance": list(routing.suggested_after_clearance),
    }


def assess_input(data: object) -> dict[str, Any]:
    """``{"valid": False, "errors": ...}`` or ``{"valid": True, **assess(...)}``; never raises."""
    result = validate_answers(data)
    if result.answers is None:
        return {"valid": False, "errors": result.errors}
    return {"valid": True, **assess(result.answers)}
