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


def test_ci_runs_the_readmes_one_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("## Test it", 1)[1].split("\n## ", 1)[0]
    command = section.split("```bash\n", 1)[1].split("\n```", 1)[0].strip()
    ci_commands = [
        line.strip()
        for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))
    ]
    assert command == "bash scripts/test.sh"
    assert ci_commands == [command]


def test_setting_up_vllm_again_does_nothing(vllm_python_present):
    """The README's command runs the set-up every time: once done, it must go straight on (no reinstall)."""
    run = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "setup_vllm.sh")], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Setting up" not in run.stdout
    assert run.stdout == ""


@pytest.fixture
def vllm_python_present():
    from tests.conftest import IN_CI
    from tests.generation_server import SETUP_COMMAND, VLLM_PYTHON

    if not VLLM_PYTHON.exists():
        if IN_CI:
            pytest.fail(f"vLLM's environment is missing: `{SETUP_COMMAND}` did not run")
        pytest.skip(f"vLLM's environment is missing: run `{SETUP_COMMAND}`")
