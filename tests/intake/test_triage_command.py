"""``manage.py triage``: bulk triage from a file or stdin, one JSON line per answer set."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.answers import EXAMPLE_BY_ID, EXAMPLES, make_answers

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, stdin: str | None = None, monkeypatch: Any = None) -> list[dict[str, Any]]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    call_command("triage", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_file_of_worked_cases_prints_one_line_each_in_input_order(tmp_path: Path):
    path = tmp_path / "cases.json"
    path.write_text(json.dumps([case["answers"] for case in EXAMPLES]), encoding="utf-8")
    lines = run(str(path))
    assert len(lines) == len(EXAMPLES)
    for line, case in zip(lines, EXAMPLES, strict=True):
        assert line["valid"] is True
        assert set(line["queues"]) == set(case["expected"]["queues"])
        assert line["urgency"] == case["expected"]["urgency"]


def test_valid_line_has_codes_evidence_and_derived(tmp_path: Path):
    path = tmp_path / "v09.json"
    path.write_text(
        json.dumps(EXAMPLE_BY_ID["V09_cauda_equina_saddle_and_bladder"]["answers"]),
        encoding="utf-8",
    )
    [line] = run(str(path))
    assert list(line) == [
        "valid",
        "flags",
        "queues",
        "urgency",
        "suggested_after_clearance",
        "ruleset_version",
        "evidence",
        "derived",
    ]
    assert line["flags"] == ["BACK_PAIN", "RED_FLAG_CAUDA_EQUINA", "SCIATIC_PATTERN"]
    assert line["queues"] == ["urgent_medical_review"]
    assert line["urgency"] == "emergency"
    assert line["suggested_after_clearance"] == ["chiropractic"]
    assert line["ruleset_version"] == "1.0.0"
    assert line["evidence"]["RED_FLAG_CAUDA_EQUINA"]["clauses"] == [
        "RED_FLAG_CAUDA_EQUINA.a",
        "RED_FLAG_CAUDA_EQUINA.b",
    ]
    assert line["evidence"]["BACK_PAIN"]["answers"] == {
        "pain_regions": ["lower_back", "buttock", "back_of_thigh", "lower_leg"]
    }
    assert line["derived"]["leg_recent"] is True


def test_reads_one_object_from_stdin(monkeypatch: pytest.MonkeyPatch):
    lines = run("-", stdin=json.dumps(make_answers()), monkeypatch=monkeypatch)
    assert [(line["valid"], line["queues"]) for line in lines] == [(True, ["general_review"])]


def test_stdin_is_the_default(monkeypatch: pytest.MonkeyPatch):
    lines = run(stdin=json.dumps([make_answers()]), monkeypatch=monkeypatch)
    assert lines[0]["valid"] is True


def test_invalid_item_gives_errors_and_the_rest_still_run(monkeypatch: pytest.MonkeyPatch):
    bad = {**make_answers(), "has_diabetes": 1, "surprise": True}
    lines = run("-", stdin=json.dumps([bad, make_answers(), 7]), monkeypatch=monkeypatch)
    assert lines[0] == {
        "valid": False,
        "errors": {
            "has_diabetes": ["Please answer Yes or No."],
            "surprise": ["This question is not part of the form."],
        },
    }
    assert lines[1]["valid"] is True
    assert lines[2]["valid"] is False
    assert list(lines[2]["errors"]) == ["non_field_errors"]


def test_empty_array_prints_nothing(monkeypatch: pytest.MonkeyPatch):
    assert run("-", stdin="[]", monkeypatch=monkeypatch) == []


def test_input_that_is_not_json_is_an_error(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(CommandError, match="not valid JSON"):
        run("-", stdin="age_years=40", monkeypatch=monkeypatch)


def test_missing_file_is_an_error(tmp_path: Path):
    with pytest.raises(CommandError, match="Cannot read"):
        run(str(tmp_path / "absent.json"))


def test_non_json_input_exits_non_zero_with_a_message_on_stderr():
    completed = subprocess.run(
        [sys.executable, "manage.py", "triage", "-"],
        input="not json",
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert completed.returncode != 0
    assert "not valid JSON" in completed.stderr
    assert completed.stdout == ""


def test_ten_thousand_answer_sets_give_one_line_each_in_input_order(tmp_path: Path):
    # Throughput is measured by bench/triage.py; here only completeness and order.
    path = tmp_path / "many.json"
    sets = [case["answers"] for case in EXAMPLES] * 834
    path.write_text(json.dumps(sets), encoding="utf-8")
    out = io.StringIO()
    call_command("triage", str(path), stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(sets)
    expected = [sorted(case["expected"]["flags"]) for case in EXAMPLES] * 834
    assert [json.loads(line)["flags"] for line in lines] == expected
