"""intake.rejected: what a refused step kept in the session (pure: a dict stands in for it)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from intake.rejected import (
    MAX_CHARS,
    SESSION_KEY,
    rejected_forget,
    rejected_keep,
    rejected_typed,
    typed_size,
)

TYPED = {"main_concern": ["Line one\r\nLine two"], "pain_regions": ["heel", "toes"]}


def test_what_was_kept_comes_back_for_its_draft_and_step_only():
    session: dict[str, Any] = {}
    assert rejected_keep(session, draft="d1", step="pain_character", typed=TYPED)
    assert rejected_typed(session, draft="d1", step="pain_character") == TYPED
    assert rejected_typed(session, draft="d1", step="neuro") is None
    assert rejected_typed(session, draft="d2", step="pain_character") is None
    assert rejected_typed(session, draft="", step="pain_character") is None


def test_each_step_keeps_its_own_and_a_new_refusal_replaces_the_old():
    session: dict[str, Any] = {}
    rejected_keep(session, draft="d1", step="neuro", typed={"numbness_areas": ["sole"]})
    rejected_keep(session, draft="d1", step="pain_character", typed=TYPED)
    rejected_keep(session, draft="d1", step="neuro", typed={"numbness_areas": []})
    assert rejected_typed(session, draft="d1", step="neuro") == {"numbness_areas": []}
    assert rejected_typed(session, draft="d1", step="pain_character") == TYPED


def test_a_refusal_for_another_draft_replaces_everything_kept_for_the_first():
    session: dict[str, Any] = {}
    rejected_keep(session, draft="d1", step="neuro", typed=TYPED)
    rejected_keep(session, draft="d2", step="timing", typed={"onset_type": ["sudden"]})
    assert rejected_typed(session, draft="d1", step="neuro") is None
    assert session[SESSION_KEY] == {
        "draft": "d2",
        "steps": {"timing": {"saved": "", "typed": {"onset_type": ["sudden"]}}},
    }


def test_forgetting_one_step_keeps_the_others_and_the_last_empties_the_session():
    session: dict[str, Any] = {"intake_draft_token": "t"}
    rejected_keep(session, draft="d1", step="neuro", typed=TYPED)
    rejected_keep(session, draft="d1", step="timing", typed=TYPED)
    rejected_forget(session, step="neuro")
    assert rejected_typed(session, draft="d1", step="neuro") is None
    assert rejected_typed(session, draft="d1", step="timing") == TYPED
    rejected_forget(session, step="timing")
    assert session == {"intake_draft_token": "t"}


def test_forgetting_everything_or_nothing_kept_is_harmless():
    session: dict[str, Any] = {}
    rejected_forget(session)
    rejected_forget(session, step="neuro")
    assert session == {}
    rejected_keep(session, draft="", step="identity", typed=TYPED)
    rejected_forget(session)
    assert session == {}


@pytest.mark.parametrize(
    ("size", "kept"),
    [(MAX_CHARS, True), (MAX_CHARS + 1, False)],
)
def test_nothing_over_the_limit_is_kept_and_the_steps_older_refusal_goes(size, kept):
    session: dict[str, Any] = {}
    rejected_keep(session, draft="d1", step="pain_character", typed=TYPED)
    rejected_keep(session, draft="d1", step="neuro", typed=TYPED)
    big = {"main_concern": ["x" * (size - len("main_concern"))]}
    assert typed_size(big) == size
    assert rejected_keep(session, draft="d1", step="pain_character", typed=big) is kept
    expected = big if kept else None
    assert rejected_typed(session, draft="d1", step="pain_character") == expected
    assert rejected_typed(session, draft="d1", step="neuro") == TYPED


def test_a_changed_session_value_is_assigned_afresh_so_the_session_saves_it():
    session: dict[str, Any] = {}
    rejected_keep(session, draft="d1", step="neuro", typed=TYPED)
    first = session[SESSION_KEY]
    rejected_keep(session, draft="d1", step="timing", typed=TYPED)
    assert session[SESSION_KEY] is not first
    assert "timing" not in first["steps"]


@pytest.mark.parametrize(
    "stored",
    [None, "text", {"draft": "d1"}, {"draft": "d1", "steps": []}, {"steps": {"neuro": {}}}],
)
def test_a_session_value_of_another_shape_is_read_as_nothing_kept(stored):
    session: dict[str, Any] = {SESSION_KEY: stored}
    assert rejected_typed(session, draft="d1", step="neuro") is None
    assert rejected_keep(session, draft="d1", step="neuro", typed=TYPED)
    assert rejected_typed(session, draft="d1", step="neuro") == TYPED


typed_values = st.dictionaries(
    st.text(min_size=1, max_size=20),
    st.lists(st.text(max_size=200), max_size=5),
    max_size=8,
)


@given(typed=typed_values)
def test_what_is_kept_survives_the_sessions_json_exactly(typed: dict[str, list[str]]):
    session: dict[str, Any] = {}
    assert rejected_keep(session, draft="d1", step="neuro", typed=typed)
    stored = json.loads(json.dumps(session))  # as Django's JSON session serializer does
    assert rejected_typed(stored, draft="d1", step="neuro") == typed


def test_input_refused_over_other_saved_values_is_not_shown():
    session: dict[str, Any] = {}
    rejected_keep(session, draft="d1", step="neuro", typed=TYPED, saved="before")
    assert rejected_typed(session, draft="d1", step="neuro", saved="before") == TYPED
    assert rejected_typed(session, draft="d1", step="neuro", saved="after") is None
    # A session holding the shape before the mark (a step's input alone) shows nothing.
    session[SESSION_KEY] = {"draft": "d1", "steps": {"neuro": TYPED}}
    assert rejected_typed(session, draft="d1", step="neuro") is None
