""".ci/find-python picks Python 3.12+ and refuses 3.11 with one clear sentence."""

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / ".ci" / "find-python"


def python311() -> str:
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.11*/bin/python")))
    found += [p for p in ("/usr/bin/python3.11",) if os.access(p, os.X_OK)]
    if not found:
        pytest.skip("no Python 3.11 on this machine to refuse")
    return found[0]


def find_python(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        ["/bin/sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def bare_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No pyenv, nothing but the system's bin directories (where python3 is 3.11) on PATH."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "HOME": str(home), **extra}


def test_python_pointing_at_3_11_is_refused_with_one_sentence(tmp_path):
    result = find_python(bare_env(tmp_path, PYTHON=python311()))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "is not a working Python 3.12 or newer" in lines[0]


def test_python_pointing_at_3_12_is_accepted(tmp_path):
    result = find_python(bare_env(tmp_path, PYTHON=sys.executable))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == sys.executable


def test_without_pyenv_or_a_new_python_it_refuses_rather_than_use_3_11(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3").symlink_to(python311())
    result = find_python(bare_env(tmp_path, PYENV_ROOT=str(tmp_path / "no-pyenv")))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "No Python 3.12 or newer found: install one (e.g. 'pyenv install 3.12') "
        "or set PYTHON=/path/to/python3.12."
    )


def test_it_finds_a_pyenv_interpreter_and_skips_older_ones(tmp_path):
    versions = tmp_path / "pyenv" / "versions"
    for version, target in (("3.11.7", python311()), ("3.12.9", sys.executable)):
        (versions / version / "bin").mkdir(parents=True)
        (versions / version / "bin" / "python").symlink_to(target)
    result = find_python(bare_env(tmp_path, PYENV_ROOT=str(tmp_path / "pyenv")))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(versions / "3.12.9" / "bin" / "python")


def test_it_finds_python3_12_on_path(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3.12").symlink_to(sys.executable)
    result = find_python(bare_env(tmp_path, PYENV_ROOT=str(tmp_path / "no-pyenv")))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "bin" / "python3.12")


def test_the_script_is_posix_shell():
    dash = shutil.which("dash")
    if dash is None:
        pytest.skip("dash is not installed")
    result = subprocess.run(  # noqa: S603 - a syntax check with dash
        [dash, "-n", str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
