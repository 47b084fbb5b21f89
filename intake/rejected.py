"""What a patient typed on a step the form refused, kept in their session (post/redirect/get).

A refused step answers its POST with a redirect to the step's own page (intake.views), so Back
or a refresh never asks to send the form again. That page binds the form to what is kept here
and validates it afresh: the same messages, worked out again from the patient's answers, and
every value exactly as it was sent. Only what was typed is kept, never the messages.

It lives in the session, which is stored server-side (database sessions: the cookie holds only
the session's key), so it never travels in a cookie or an address, and it ends with the session
(SESSION_IDLE_MINUTES idle). It belongs to one draft: a session that opens another draft's link
does not show it there. No Django imports: the session is a mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Final

SESSION_KEY: Final = "intake_rejected"
# The most one step holds when typed within the page's own limits is about 2,250 characters (the
# main concern's 1,000, each line break sent as two; tests/intake/test_form_refused.py). A client
# that ignores those limits gets its messages in the answer to its POST, as before (nothing it
# sent is dropped), and a session holds at most one entry per step.
MAX_CHARS: Final = 8_000

Typed = dict[str, list[str]]


def typed_size(typed: Mapping[str, list[str]]) -> int:
    """Characters in the names and values, as they are counted against MAX_CHARS."""
    return sum(len(name) + sum(len(value) for value in values) for name, values in typed.items())


def _steps(session: Mapping[str, Any], draft: str) -> dict[str, Any]:
    kept = session.get(SESSION_KEY)
    if not isinstance(kept, dict) or kept.get("draft") != draft:
        return {}
    steps = kept.get("steps")
    return dict(steps) if isinstance(steps, dict) else {}


def _store(session: MutableMapping[str, Any], draft: str, steps: dict[str, Any]) -> None:
    if steps:
        # Assigned afresh, not changed in place: the session sees the change and saves it.
        session[SESSION_KEY] = {"draft": draft, "steps": steps}
    elif SESSION_KEY in session:
        del session[SESSION_KEY]


def rejected_keep(
    session: MutableMapping[str, Any], *, draft: str, step: str, typed: Mapping[str, list[str]]
) -> bool:
    """Keep what was typed on ``step`` of ``draft`` (an id of the draft, "" before there is one).

    Returns False, and keeps nothing for the step, when it is over MAX_CHARS.
    """
    steps = _steps(session, draft)
    steps.pop(step, None)
    fits = typed_size(typed) <= MAX_CHARS
    if fits:
        steps[step] = {name: list(values) for name, values in typed.items()}
    _store(session, draft, steps)
    return fits


def rejected_typed(session: Mapping[str, Any], *, draft: str, step: str) -> Typed | None:
    """What was typed on ``step`` of ``draft`` and refused, or None."""
    typed = _steps(session, draft).get(step)
    if not isinstance(typed, dict):
        return None
    return {str(name): [str(value) for value in values] for name, values in typed.items()}


def rejected_forget(session: MutableMapping[str, Any], *, step: str | None = None) -> None:
    """Forget one step's refused input, or (``step`` None) all of it."""
    kept = session.get(SESSION_KEY)
    if step is None or not isinstance(kept, dict):
        if SESSION_KEY in session:
            del session[SESSION_KEY]
        return
    draft = str(kept.get("draft", ""))
    steps = _steps(session, draft)
    if step in steps:
        del steps[step]
        _store(session, draft, steps)
