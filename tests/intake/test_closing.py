"""Which page may end the form's hold when it closes itself (intake.closing): no database."""

from __future__ import annotations

import pytest

from intake.closing import (
    KEPT_KEY,
    SESSION_KEY,
    held_name,
    page_drawn,
    page_is_latest,
    page_shows,
    pages_forget,
)

DRAFT = held_name(draft_token="tok-lucia", sent=None)
OTHER_DRAFT = held_name(draft_token="tok-omar", sent=None)
SENT = held_name(draft_token=None, sent="2f0c6a56-9d5e-4f47-8f0e-3a1bb0d6c001")


def test_what_is_held_has_one_name_per_form_and_none_for_nothing():
    assert held_name(draft_token=None, sent=None) is None
    assert held_name(draft_token="", sent="") is None
    assert len({DRAFT, OTHER_DRAFT, SENT}) == 3
    assert held_name(draft_token="tok-lucia", sent=None) == DRAFT
    # A draft wins over a result (they are never held together: one ends the other).
    assert held_name(draft_token="tok-lucia", sent="x") == DRAFT


def test_the_result_pages_mark_does_not_carry_the_intakes_id():
    assert SENT is not None
    session: dict[str, object] = {}
    assert "2f0c6a56" not in page_drawn(session, held=SENT)


def test_only_the_latest_page_drawn_of_what_is_held_is_the_latest():
    assert DRAFT is not None
    session: dict[str, object] = {}
    older = page_drawn(session, held=DRAFT)
    latest = page_drawn(session, held=DRAFT)
    assert older != latest
    assert session[SESSION_KEY] == latest
    assert page_is_latest(session, mark=latest, held=DRAFT)
    assert not page_is_latest(session, mark=older, held=DRAFT)
    assert page_shows(older, held=DRAFT)  # an older page of the same form
    assert not page_is_latest(session, mark=latest, held=OTHER_DRAFT)  # the hold changed
    assert not page_shows(latest, held=OTHER_DRAFT)
    assert not page_is_latest(session, mark=latest, held=None)
    pages_forget(session)
    assert not page_is_latest(session, mark=latest, held=DRAFT)


@pytest.mark.parametrize(
    "mark",
    ["", ".", "nothing", "0123456789abcdef", "0123456789abcdef.", "ü.ü", "\x00"],
)
def test_a_mark_the_server_did_not_draw_is_never_the_latest(mark):
    assert DRAFT is not None
    session: dict[str, object] = {}
    page_drawn(session, held=DRAFT)
    assert not page_is_latest(session, mark=mark, held=DRAFT)
    assert not page_is_latest({}, mark=mark, held=DRAFT)


def test_the_held_part_alone_is_not_the_latest_page():
    assert DRAFT is not None
    session: dict[str, object] = {}
    latest = page_drawn(session, held=DRAFT)
    assert not page_is_latest(session, mark=DRAFT, held=DRAFT)
    assert not page_is_latest(session, mark=f"{DRAFT}.{'0' * 16}", held=DRAFT)
    assert page_is_latest(session, mark=latest, held=DRAFT)


def test_a_page_kept_open_ends_the_hold_with_its_old_mark_until_another_page_is_drawn():
    assert DRAFT is not None
    session: dict[str, object] = {}
    before = page_drawn(session, held=DRAFT)
    kept = page_drawn(session, held=DRAFT, replacing=before)
    assert page_is_latest(session, mark=kept, held=DRAFT)
    assert page_is_latest(session, mark=before, held=DRAFT)  # its close crossed the answer
    assert not page_is_latest(session, mark=before, held=OTHER_DRAFT)
    other = page_drawn(session, held=DRAFT)
    assert KEPT_KEY not in session
    assert not page_is_latest(session, mark=before, held=DRAFT)
    assert not page_is_latest(session, mark=kept, held=DRAFT)
    assert page_is_latest(session, mark=other, held=DRAFT)
    page_drawn(session, held=DRAFT, replacing=other)
    pages_forget(session)
    assert session == {}
