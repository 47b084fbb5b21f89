"""What a patient typed on a step the form refused, kept in their session (post/redirect/get).

A refused step answers its POST with a redirect to the step's own page (intake.views), so Back
or a refresh never asks to send the form again. That page binds the form to what is kept here
and validates it afresh: the same messages, worked out again from the patient's answers, and
every value exactly as it was sent. Only what was typed is kept, never the messages.

It lives in the session, which is stored server-side (database sessions: the cookie holds only
the session's key), so it never travels in a cookie or an address, and it ends with the session
(SESSION_IDLE_MINUTES idle). It belongs to one draft: a session that opens another draft's link
does not show it there, and nothing is kept before there is a draft (the first step's refusal
is answered on its POST, as before: kept under no draft, one patient's name, birth date and
contact details were shown to whoever opened the form next in that browser, a kiosk say, and
every refused first step from a client without a session made a session row; a review found
both). No Django imports: the session is a mapping.
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
    session: MutableMapping[str, Any],
    *,
    draft: str,
    step: str,
    typed: Mapping[str, list[str]],
    saved: str = "",
) -> bool:
    """Keep what was typed on ``step`` of ``draft`` (an id of the draft), refused while the
    draft held ``saved`` for that step (a mark of its saved values).

    Returns False, and keeps nothing for the step, when it is over MAX_CHARS.
    """
    steps = _steps(session, draft)
    steps.pop(step, None)
    fits = typed_size(typed) <= MAX_CHARS
    if fits:
        steps[step] = {
            "saved": saved,
            "typed": {name: list(values) for name, values in typed.items()},
        }
    _store(session, draft, steps)
    return fits


def rejected_typed(
    session: Mapping[str, Any], *, draft: str, step: str, saved: str = ""
) -> Typed | None:
    """What was typed on ``step`` of ``draft`` and refused, or None: also when the draft's
    saved values for the step are no longer those it was refused over (``saved``): the step
    was saved since, in another browser, and what was saved is newer than what was typed."""
    kept = _steps(session, draft).get(step)
    if not isinstance(kept, dict) or kept.get("saved") != saved:
        return None
    typed = kept.get("typed")
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
