"""`make env` builds .venv from the lock with its packages compiled to bytecode."""

import importlib.util
import sys
from pathlib import Path

import django
import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"


@pytest.mark.skipif(
    VENV.is_symlink()
    or Path(sys.prefix).resolve() != VENV.resolve()
    or not (VENV / ".clinic-lock-stamp").exists(),
    reason="the suite runs in an environment that .ci/bootstrap did not build",
)
def test_the_locked_packages_are_compiled_once_at_install():
    # With PYTHONDONTWRITEBYTECODE set, as on these machines, nothing else would write them,
    # and every process would compile each module it imports again.
    assert (VENV / ".clinic-lock-stamp").read_text().split()[-1] == "bytecode"
    assert Path(importlib.util.cache_from_source(django.__file__)).is_file()
