"""Random valid answer sets, for property tests, benchmarks and demo data.

Pure Python, driven by ``intake.questionnaire.FIELDS``: a new question is sampled without any
change here. Answers are valid by construction (``intake.validation`` accepts every one).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, Final

from intake.questionnaire import CORE_FIELDS, Field
from intake.triage import DERIVED_READS, leg_symptoms_reported, no_symptoms, spinal_pain

# Each set draws how often its patient answers Yes, so that both quiet and very symptomatic sets
# appear. Red-flag questions are answered Yes less often: at the same rate almost every set would
# be a red-flag case and the routing rules R1-R6 would be barely exercised.
YES_RATES: Final = (0.05, 0.15, 0.3, 0.5)
RED_FLAG_YES_FACTOR: Final = 0.25
NO_SYMPTOMS_RATE: Final = 0.1
STARTBACK_RATE: Final = 0.3
MULTI_SIZES: Final = (0, 0, 1, 1, 1, 2, 2, 3, 4)
MAIN_CONCERNS: Final = (
    "",
    "My back hurts when I get up in the morning.",
    "Pain under my heel.",
    "Shooting pain down my leg.",
)

Sampler = Callable[[random.Random, float], Any]
_SYMPTOM_INPUTS: Final = frozenset(DERIVED_READS["no_symptoms"])


def _sampler(spec: Field) -> Sampler:
    # Every draw is one ``rng.random()`` scaled to an index: ``choice``, ``randint`` and
    # ``sample`` go through ``getrandbits`` and rejection loops (and ``sample`` an ABC check),
    # about three times the cost, for the same distribution to within 2**-53 per draw.
    if spec.kind == "bool":
        if spec.must_be_true:
            return lambda rng, yes_rate: True
        factor = RED_FLAG_YES_FACTOR if spec.section == "red_flags" else 1.0
        return lambda rng, yes_rate: rng.random() < yes_rate * factor
    if spec.kind == "int":
        low, high = spec.min_value, spec.max_value
        assert low is not None  # noqa: S101 - every int field declares its range
        assert high is not None  # noqa: S101
        span = high - low + 1
        return lambda rng, yes_rate: low + int(rng.random() * span)
    codes = tuple(choice.code for choice in spec.choices)
    count = len(codes)
    if spec.kind == "single" and spec.code in _SYMPTOM_INPUTS:
        # A side or a walking test reports a symptom about as often as a Yes does.
        quiet = _quiet_value(spec)
        return lambda rng, yes_rate: (
            codes[int(rng.random() * count)] if rng.random() < yes_rate else quiet
        )
    if spec.kind == "single":
        return lambda rng, yes_rate: codes[int(rng.random() * count)]
    if spec.kind == "multi":
        return lambda rng, yes_rate: _sample(rng, codes, min(_pick(rng, MULTI_SIZES), count))
    return lambda rng, yes_rate: _pick(rng, MAIN_CONCERNS)


def _pick[T](rng: random.Random, items: tuple[T, ...]) -> T:
    """One of ``items``, uniformly."""
    return items[int(rng.random() * len(items))]


def _between(rng: random.Random, low: int, high: int) -> int:
    """An integer from ``low`` to ``high``, both included, uniformly (as the int fields')."""
    return low + int(rng.random() * (high - low + 1))


def _sample[T](rng: random.Random, items: tuple[T, ...], k: int) -> list[T]:
    """``k`` different items in random order, uniformly (a partial Fisher-Yates shuffle)."""
    pool = list(items)
    n = len(pool)
    for i in range(k):
        j = i + int(rng.random() * (n - i))
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]


def _quiet_value(spec: Field) -> Any:
    """The answer that reports no symptom for one of the ``no_symptoms`` inputs."""
    if spec.kind == "multi":
        return []
    if spec.kind == "bool":
        return False
    return "none" if "none" in spec.choice_codes else "easy"


# Fields 24-26 depend on the other answers, so they are filled in last.
_CONDITIONAL: Final = frozenset(f.code for f in CORE_FIELDS if f.show_when is not None)
_SAMPLERS: Final = tuple((f.code, _sampler(f)) for f in CORE_FIELDS if f.code not in _CONDITIONAL)
_CONDITIONAL_SAMPLERS: Final = tuple(
    (f.code, f.show_when, _sampler(f)) for f in CORE_FIELDS if f.code in _CONDITIONAL
)
_QUIET: Final = {
    f.code: _quiet_value(f) for f in CORE_FIELDS if f.code in DERIVED_READS["no_symptoms"]
}


def random_answers(rng: random.Random) -> dict[str, Any]:
    """One random set of answers that passes validation, in questionnaire order."""
    yes_rate = _pick(rng, YES_RATES)
    answers = {code: sample(rng, yes_rate) for code, sample in _SAMPLERS}
    if rng.random() < NO_SYMPTOMS_RATE:
        answers.update({code: list(v) if type(v) is list else v for code, v in _QUIET.items()})
    symptoms = not no_symptoms(answers)
    legs = leg_symptoms_reported(answers)
    for code, show_when, sample in _CONDITIONAL_SAMPLERS:
        applies = symptoms if show_when == "any_symptoms" else legs
        answers[code] = sample(rng, yes_rate) if applies else None
    if spinal_pain(answers) and rng.random() < STARTBACK_RATE:
        # Distress is items 5-9 of the total, and items 1-4 add at most 4 more.
        distress = _between(rng, 0, 5)
        answers["sbst_distress"] = distress
        answers["sbst_total"] = _between(rng, distress, min(9, distress + 4))
    return answers
