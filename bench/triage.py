"""Throughput of validation + triage + routing on one core.

Usage: python bench/triage.py [N] [--rounds R] [--seed S]. Times R passes over N answer sets
and prints the median pass's sets/second (with the slowest and fastest) and PASS/FAIL against the
target of 20,000 answer sets per second. The median, because these machines are shared: one pass
ran twice as fast as another in the same process (11,100 and 23,400 sets/s on 2026-12-03).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
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
    parser.add_argument("n", nargs="?", type=int, default=20_000, help="answer sets (20,000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes over the sets (5)")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    if args.n < 1 or args.rounds < 1:
        parser.error("N and --rounds must be at least 1")

    # One core: the target is per core, and a second core would flatter the figure.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    rng = random.Random(args.seed)
    sets = [random_answers(rng) for _ in range(args.n)]
    for answers in sets:
        result = validate_answers(answers)
        assert result.valid, result.errors  # noqa: S101 - the generator must only make valid sets

    rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        red = 0
        for answers in sets:
            result = validate_answers(answers)
            assert result.answers is not None  # noqa: S101
            if assess(result.answers)["urgency"] != "routine":
                red += 1
        rates.append(args.n / (time.perf_counter() - start))

    rate = statistics.median(rates)
    verdict = "PASS" if rate >= TARGET_PER_SECOND else "FAIL"
    print(
        f"{args.n} answer sets, {args.rounds} passes: median {rate:,.0f} sets/second "
        f"(passes {min(rates):,.0f}-{max(rates):,.0f}; {red / args.n:.0%} red-flag cases); "
        f"target {TARGET_PER_SECOND:,}/s: {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
