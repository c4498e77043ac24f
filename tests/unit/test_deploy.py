"""requirements.txt resolves as Community Cloud resolves it: with uv, for Python 3.11, 3.12 and 3.13 on Linux x86_64."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import REPO_ROOT


@pytest.mark.slow
def test_requirements_resolve_with_uv_for_every_python_cloud_offers():
    run = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "check_deploy.sh"), "--resolve"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    for version in ("3.11", "3.12", "3.13"):
        line = next(line for line in run.stdout.splitlines() if line.strip().startswith(f"Python {version}:"))
        assert "torch==2.14.1" in line, line
    assert "check_deploy: OK" in run.stdout
