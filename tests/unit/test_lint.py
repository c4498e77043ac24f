"""The code passes ruff's lint and is ruff-formatted (settings in ruff.toml), so CI fails on either."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    # A missing ruff fails too: it is in requirements-dev.txt.
    assert result.returncode == 0, result.stdout + result.stderr + "\n(run: ruff check --fix . && ruff format .)"
