"""bench/plot.py: the list endpoints' latency against case count, with the p95 target."""

from __future__ import annotations

import json
import sys

from tests.helpers import load_bench_script


def _plot(monkeypatch):
    # bench/plot.py reads the target from bench/load.py, as the scripts import each other.
    monkeypatch.setitem(sys.modules, "load", load_bench_script("load", monkeypatch))
    return load_bench_script("plot", monkeypatch)


def _results(path, rows):
    path.write_text(json.dumps({"results": rows}))
    return str(path)


def test_the_plot_has_a_line_per_list_endpoint_and_database_and_the_target(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    plot = _plot(monkeypatch)
    rows = [
        {"endpoint": endpoint, "db": db, "cases": cases, "p50_ms": 10.0, "p95_ms": p95}
        for endpoint in plot.LIST_ENDPOINTS
        for db in ("sqlite", "postgres")
        for cases, p95 in ((10_000, 40.0), (1_000_000, 45.0))
    ]
    rows.append({"endpoint": "baseline", "db": "sqlite", "cases": 10_000, "p50_ms": 1, "p95_ms": 2})
    drawn = []
    save = Figure.savefig

    def keep(figure, *args, **kwargs):
        drawn.append(figure)
        return save(figure, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    out = tmp_path / "latency.png"
    monkeypatch.setattr(
        sys, "argv", ["plot.py", _results(tmp_path / "r.json", rows), "--out", str(out)]
    )

    assert plot.main() == 0

    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    (figure,) = drawn
    p50, p95 = figure.axes
    assert len(p50.lines) == 2 * len(plot.LIST_ENDPOINTS)  # no baseline
    target = [line for line in p95.lines if line.get_label().startswith("target")]
    assert [line.get_label() for line in target] == ["target: p95 < 50 ms"]
    assert list(target[0].get_ydata()) == [plot.LIST_P95_MS_MAX] * 2
    assert {tuple(line.get_ydata()) for line in p95.lines if line not in target} == {(40.0, 45.0)}


def test_results_without_list_endpoints_draw_nothing(tmp_path, monkeypatch, capsys):
    plot = _plot(monkeypatch)
    rows = [{"endpoint": "baseline", "db": "sqlite", "cases": 10_000, "p50_ms": 1, "p95_ms": 2}]
    out = tmp_path / "latency.png"
    monkeypatch.setattr(
        sys, "argv", ["plot.py", _results(tmp_path / "r.json", rows), "--out", str(out)]
    )

    assert plot.main() == 1

    assert not out.exists()
    assert "no list endpoint results" in capsys.readouterr().err
