"""Which page of the patient form may end the form's hold in a browser when it closes itself.

A page left open on a shared computer closes itself after the idle limit and asks the server
to end the form's hold in that browser (intake.views.close). The hold is the browser's, not the
page's: an idle page in one window (a first step never saved, the result page of a form sent
before) ended the form a patient was filling in, in another window side by side (a review).
Each page showing what the browser holds (a step of its draft, the result page) carries a mark
drawn by the server: the name of what it showed and a random part. The session keeps the mark
of the latest such page drawn, or kept open by its patient, in the browser. A closing page ends
the hold only with that mark: a page that showed nothing carries none, and one whose form has
been replaced, or used in another window since, carries an older one. A page only hands back
what it was given, so it cannot say more than it showed.

No Django imports: the session is a mapping.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, MutableMapping
from typing import Any, Final

SESSION_KEY: Final = "intake_page"
# The mark a page had when its patient last kept it open: its close may cross the keep-open's
# answer that gives it the new one, and must still end the hold (the page is the latest).
KEPT_KEY: Final = "intake_page_kept"


def held_name(*, draft_token: str | None, sent: str | None) -> str | None:
    """A name, as pages carry it, for what a session holds: the draft it is filling in, else the
    form it sent (its result page); None for neither. A digest, so that the result page's mark
    does not carry the intake's id, which the page does not show."""
    if draft_token:
        held = f"draft:{draft_token}"
    elif sent:
        held = f"sent:{sent}"
    else:
        return None
    return hashlib.sha256(held.encode()).hexdigest()[:16]


def page_drawn(session: MutableMapping[str, Any], *, held: str, replacing: str = "") -> str:
    """The mark of a page of ``held`` drawn, or kept open, now: from now on the latest.
    ``replacing`` is the mark the page had when it was kept open: until another page is drawn
    it ends the hold too, for the page may close before the new mark reaches it."""
    mark = f"{held}.{secrets.token_hex(8)}"
    session[SESSION_KEY] = mark
    if replacing:
        session[KEPT_KEY] = replacing
    else:
        session.pop(KEPT_KEY, None)
    return mark


def page_shows(mark: str, *, held: str | None) -> bool:
    """Whether a page carrying ``mark`` showed what the session holds now (the latest page
    or an older one)."""
    return held is not None and secrets.compare_digest(
        mark.partition(".")[0].encode(), held.encode()
    )


def page_is_latest(session: Mapping[str, Any], *, mark: str, held: str | None) -> bool:
    """Whether a page carrying ``mark`` is the latest page of what the session holds now (its
    mark, or the one it had when it was last kept open)."""
    return page_shows(mark, held=held) and any(
        isinstance(latest, str) and secrets.compare_digest(mark.encode(), latest.encode())
        for latest in (session.get(SESSION_KEY), session.get(KEPT_KEY))
    )


def pages_forget(session: MutableMapping[str, Any]) -> None:
    """No page is the latest: none may end the hold (it has ended, or a page that did not say
    which it was has been in use)."""
    session.pop(SESSION_KEY, None)
    session.pop(KEPT_KEY, None)
