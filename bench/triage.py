"""Throughput of validation + triage + routing on one core.

Usage: python bench/triage.py [N] [--seed S]. Prints sets/second and PASS/FAIL against the
target of 20,000 answer sets per second.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from intake.assessment import assess
from intake.sampling import random_answers
from intake.validation import validate_answers

TARGET_PER_SECOND = 20_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("n", nargs="?", type=int, default=50_000, help="answer sets (50,000)")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()

    # One core: the target is per core, and a second core would flatter the figure.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    rng = random.Random(args.seed)
    sets = [random_answers(rng) for _ in range(args.n)]
    for answers in sets:
        result = validate_answers(answers)
        assert result.valid, result.errors  # noqa: S101 - the generator must only make valid sets

    start = time.perf_counter()
    red = 0
    for answers in sets:
        result = validate_answers(answers)
        assert result.answers is not None  # noqa: S101
        if assess(result.answers)["urgency"] != "routine":
            red += 1
    elapsed = time.perf_counter() - start

    rate = args.n / elapsed
    verdict = "PASS" if rate >= TARGET_PER_SECOND else "FAIL"
    print(
        f"{args.n} answer sets in {elapsed:.3f} s: {rate:,.0f} sets/second "
        f"({red / args.n:.0%} red-flag cases); target {TARGET_PER_SECOND:,}/s: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
