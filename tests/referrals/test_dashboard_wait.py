"""The dashboard's median wait to claim, as staff read a wait: "1 minutes" and "3080 minutes"
were shown (a QA round)."""

from __future__ import annotations

import pytest

from referrals.dashboard import wait_text


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (0.2, "under a minute"),
        (0.6, "1 minute"),
        (1, "1 minute"),
        (2, "2 minutes"),
        (59.4, "59 minutes"),
        (60, "1 h"),
        (200, "3 h 20 min"),
        (61, "1 h 1 min"),
        (24 * 60 - 1, "23 h 59 min"),
        (24 * 60, "1 day"),
        (24 * 60 + 59, "1 day"),
        (25 * 60, "1 day 1 h"),
        (52 * 60, "2 days 4 h"),
        (3 * 24 * 60, "3 days"),
    ],
)
def test_a_wait_reads_in_minutes_hours_or_days(minutes, text):
    assert wait_text(minutes) == text
