"""bench/triage.py runs and prints its one line: the median of its passes against the target."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers import ROOT


def _triage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "bench/triage.py", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_triage_benchmark_reports_the_median_of_its_passes():
    done = _triage("200", "--rounds", "3")
    assert done.returncode in {0, 1}, done.stderr
    assert re.fullmatch(
        r"200 answer sets, 3 passes: median [\d,]+ sets/second \(passes [\d,]+-[\d,]+; "
        r"\d+% red-flag cases\); target 20,000/s: (PASS|FAIL)\n",
        done.stdout,
    ), done.stdout
    assert done.returncode == (0 if done.stdout.endswith("PASS\n") else 1)


def test_the_triage_benchmark_refuses_an_empty_run():
    done = _triage("0")
    assert done.returncode == 2
    assert "at least 1" in done.stderr
