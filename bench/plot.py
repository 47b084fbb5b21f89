"""Latency of the list endpoints against case count, from bench/load.py's results.

Usage: python bench/plot.py [results.json ...] [--out docs/bench_latency.png]

Reads one or more result files of bench/load.py (default bench/results/load.json), and plots
p50 and p95 latency of the referral list (first and deep page) and the admin queue page against
the number of generated cases, one line per endpoint and database (log-scaled case axis), with
the p95 target as a dotted line.
Needs matplotlib (a dev dependency); without it this says so and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

from load import LIST_P95_MS_MAX  # bench/load.py

ROOT = Path(__file__).resolve().parent.parent
LIST_ENDPOINTS = ("api_referrals_first", "api_referrals_deep", "admin_queue")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", nargs="*", default=[str(ROOT / "bench/results/load.json")])
    parser.add_argument("--out", default=str(ROOT / "docs" / "bench_latency.png"))
    args = parser.parse_args()
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "bench/plot.py needs matplotlib: add it to the dev dependency group.", file=sys.stderr
        )
        return 2

    # (endpoint, db) -> {cases: (p50, p95)}
    series: dict[tuple[str, str], dict[int, tuple[float, float]]] = defaultdict(dict)
    for path in args.results:
        for row in json.loads(Path(path).read_text())["results"]:
            if row["endpoint"] in LIST_ENDPOINTS:
                series[(row["endpoint"], row["db"])][row["cases"]] = (row["p50_ms"], row["p95_ms"])
    if not series:
        print("no list endpoint results found", file=sys.stderr)
        return 1
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for axis, (index, label) in zip(axes, ((0, "p50"), (1, "p95")), strict=True):
        for (endpoint, db), points in sorted(series.items()):
            sizes = sorted(points)
            axis.plot(
                sizes,
                [points[n][index] for n in sizes],
                marker="o",
                linestyle="-" if db == "postgres" else "--",
                label=f"{endpoint} ({db})",
            )
        axis.set_xscale("log")
        axis.set_xlabel("generated cases")
        axis.set_title(f"{label} latency")
        axis.grid(True, which="both", alpha=0.3)
    # The list pages' target (p95 at 1,000,000 cases on PostgreSQL), as bench/load.py checks it.
    axes[1].axhline(
        LIST_P95_MS_MAX,
        color="black",
        linewidth=1,
        linestyle=":",
        label=f"target: p95 < {LIST_P95_MS_MAX:g} ms",
    )
    axes[0].set_ylabel("ms")
    axes[1].legend(fontsize="small")
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
