"""The admin index's bar chart: each bar's parts stand apart and are named in text."""

import re
from itertools import pairwise

import pytest

from referrals.dashboard import BAR_GAP, URGENCY_COLOURS, QueueRow, bar_chart

RECT = re.compile(
    r'<rect class="bar-(\w+)" x="([\d.]+)" y="(\d+)" width="([\d.]+)" height="\d+" '
    r'fill="(#\w+)"><title>(\d+) (\w+)</title></rect>'
)


def row(queue: str, emergency: int, urgent: int, routine: int) -> QueueRow:
    counts = {"emergency": emergency, "urgent": urgent, "routine": routine}
    return QueueRow(queue=queue, label=queue.title(), counts=counts, overdue=0)


def segments(svg: str) -> dict[str, list[tuple[str, float, float, int]]]:
    """Per bar (its y): (urgency, x, width, count), left to right."""
    bars: dict[str, list[tuple[str, float, float, int]]] = {}
    for urgency, x, y, width, fill, n, named in RECT.findall(svg):
        assert (named, fill) == (urgency, URGENCY_COLOURS[urgency])
        bars.setdefault(y, []).append((urgency, float(x), float(width), int(n)))
    return bars


@pytest.mark.parametrize(
    "counts", [(3, 5, 40), (1, 1, 1), (0, 7, 2), (9, 0, 1), (500, 1, 1), (0, 0, 4)]
)
def test_the_parts_of_a_bar_stand_apart_with_the_page_between_them(counts):
    # No three colours keep 3:1 against each other and the page (WCAG 1.4.11): the gap lets
    # each part need its contrast against the page only.
    svg = bar_chart([row("chiropractic", *counts), row("podiatry", 2, 2, 2)])
    for parts in segments(svg).values():
        for (_, x, width, _), (_, next_x, _, _) in pairwise(parts):
            assert next_x - (x + width) == pytest.approx(BAR_GAP, abs=0.11)


def test_the_parts_keep_the_proportions_of_their_counts():
    parts = segments(bar_chart([row("chiropractic", 10, 20, 70)]))["0"]
    widths = {urgency: width for urgency, _, width, _ in parts}
    assert widths["urgent"] == pytest.approx(2 * widths["emergency"], abs=0.1)
    assert widths["routine"] == pytest.approx(7 * widths["emergency"], abs=0.1)


def test_the_bars_do_not_rely_on_colour_alone():
    svg = bar_chart([row("chiropractic", 1, 2, 3)])
    texts = re.findall(r"<text [^>]*>([^<]+)</text>", svg)
    # The total beside the bar, a legend naming each colour, each part's count in its title;
    # the table above the chart gives every count as text too.
    assert "6" in texts
    assert {"emergency", "urgent", "routine"} <= set(texts)
    assert [(u, n) for u, _, _, n in segments(svg)["0"]] == [
        ("emergency", 1),
        ("urgent", 2),
        ("routine", 3),
    ]
    legend = re.findall(r'<rect class="bar-(\w+)" [^>]*/><text [^>]*>(\w+)</text>', svg)
    assert legend == [("emergency", "emergency"), ("urgent", "urgent"), ("routine", "routine")]
