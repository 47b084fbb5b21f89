"""The sampler's draws: every value reachable, none out of range, about uniform."""

import collections
import random

import pytest

from intake.questionnaire import CORE_FIELDS
from intake.sampling import _pick, _sample, random_answers
from intake.validation import validate_answers


def test_sample_gives_k_different_items_each_equally_likely_in_each_place():
    rng = random.Random(7)
    items = ("a", "b", "c", "d")
    places: list[collections.Counter[str]] = [collections.Counter() for _ in range(3)]
    for _ in range(8000):
        drawn = _sample(rng, items, 3)
        assert len(drawn) == len(set(drawn)) == 3
        assert set(drawn) <= set(items)
        for place, item in zip(places, drawn, strict=True):
            place[item] += 1
    for place in places:
        assert set(place) == set(items)
        assert all(place[item] == pytest.approx(2000, abs=200) for item in items)
    assert _sample(rng, items, 0) == []
    assert sorted(_sample(rng, items, 4)) == sorted(items)


def test_pick_reaches_every_item_about_as_often():
    rng = random.Random(8)
    counts = collections.Counter(_pick(rng, (1, 2, 3)) for _ in range(6000))
    assert all(counts[n] == pytest.approx(2000, abs=200) for n in (1, 2, 3))


def test_random_answers_are_valid_and_reach_both_ends_of_every_range_and_every_choice():
    rng = random.Random(9)
    sets = [random_answers(rng) for _ in range(3000)]
    for answers in sets[:300]:
        assert validate_answers(answers).errors == {}
    seen: dict[str, set[object]] = collections.defaultdict(set)
    for answers in sets:
        for code, value in answers.items():
            for one in value if isinstance(value, list) else [value]:
                seen[code].add(one)
    for field in CORE_FIELDS:
        if field.kind == "int":
            assert {field.min_value, field.max_value} <= seen[field.code], field.code
        elif field.kind in {"single", "multi"}:
            assert set(field.choice_codes) <= seen[field.code], field.code
