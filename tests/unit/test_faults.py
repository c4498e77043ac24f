"""Faults a classroom meets, at the loader: a half-downloaded model in the Hugging Face cache, a local model
folder with a file missing, a hub that is unreachable or hangs while the local copy is broken. Each gives
a ModelUnavailable that says what is wrong and what to do, and loading works again once the files are fixed.

tests/unit/test_loading.py covers the basic search order, a folder without weights, corrupt BERT weights
and a hanging hub on its own; tests/pages/test_faults_page.py drives the same faults through the pages.
"""

from __future__ import annotations

import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from models.loading import (
    MODEL_DIR_ENV,
    PREFETCH_COMMAND,
    ModelUnavailable,
    choose_device,
    clip_hub_files,
    load_model,
    probe_hub,
)
from models.registry import get_entry
from tests.unit.test_loading import SilentServer

FAST_PROBE_S = 1.0  # the hub probe's deadline in these tests (the app's is HUB_PROBE_TIMEOUT_S)


def hub_cache_repo(repo_id: str) -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"


@contextmanager
def cached_copy(tiny_model_dir: Path, key: str, *, keep: tuple[str, ...] | None = None) -> Iterator[Path]:
    """Lay out a tiny model as huggingface_hub's cache does (models--id/snapshots/rev + refs/main), with only
    the files in `keep` (all when None): an interrupted download. Yields the snapshot folder; removes it after."""
    entry = get_entry(key)
    revision = "0123456789abcdef0123456789abcdef01234567"
    if entry.family == "clip":
        repo_id, names = clip_hub_files(entry)
        repo = hub_cache_repo(repo_id)
        snapshot = repo / "snapshots" / revision
        snapshot.mkdir(parents=True)
        shutil.copy(tiny_model_dir / key / "open_clip_model.safetensors", snapshot / names[0])
    else:
        repo = hub_cache_repo(entry.hub_id)
        snapshot = repo / "snapshots" / revision
        shutil.copytree(tiny_model_dir / key, snapshot)
        for path in snapshot.iterdir():
            if keep is not None and path.name not in keep:
                path.unlink()
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    try:
        yield snapshot
    finally:
        shutil.rmtree(repo)


def broken_copy(tiny_model_dir: Path, root: Path, key: str, missing: str) -> Path:
    """A local model folder holding `key` without the file `missing`; returns the root to point the app at."""
    shutil.copytree(tiny_model_dir / key, root / key)
    (root / key / missing).unlink()
    return root


@pytest.fixture
def hanging_hub(monkeypatch) -> Iterator[SilentServer]:
    """A hub that accepts connections and never answers."""
    server = SilentServer()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.close()


def unavailable(key: str, **options) -> ModelUnavailable:
    with pytest.raises(ModelUnavailable) as raised:
        load_model(key, choose_device("cpu"), **options)
    return raised.value


# -- a half-downloaded model in the cache ---------------------------------------------------------


def test_config_without_weights_in_the_cache_says_the_download_is_incomplete(tiny_model_dir, without_models):
    with cached_copy(tiny_model_dir, "bert-base-uncased", keep=("config.json",)):
        error = unavailable("bert-base-uncased", probe=lambda: "offline")
    assert "cache" in error.reason
    assert "interrupted download" in error.fix and PREFETCH_COMMAND in error.fix and "Retry" in error.fix


@pytest.mark.parametrize("key", ["gpt2", "bert-base-uncased"])
def test_weights_without_tokenizer_files_in_the_cache_are_refused(tiny_model_dir, without_models, key):
    """transformers builds a tokenizer of special tokens only when its files are missing; the loader refuses it."""
    with cached_copy(tiny_model_dir, key, keep=("config.json", "model.safetensors")):
        error = unavailable(key, probe=lambda: "offline")
    assert "vocabulary files are missing" in error.reason and "interrupted download" in error.fix


def test_truncated_clip_weights_in_the_cache_say_the_download_is_incomplete(tiny_model_dir, without_models):
    with cached_copy(tiny_model_dir, "clip-vit-b-32-openai") as snapshot:
        weights = next(snapshot.iterdir())
        weights.write_bytes(weights.read_bytes()[:4096])
        error = unavailable("clip-vit-b-32-openai", probe=lambda: "offline")
    assert "cache" in error.reason and "interrupted download" in error.fix


def test_completing_the_cached_download_makes_the_next_load_work(tiny_model_dir, without_models):
    with cached_copy(tiny_model_dir, "bert-base-uncased", keep=("config.json",)) as snapshot:
        unavailable("bert-base-uncased", probe=lambda: "offline")
        for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(tiny_model_dir / "bert-base-uncased" / name, snapshot / name)
        loaded = load_model("bert-base-uncased", choose_device("cpu"), probe=lambda: "offline")
    assert loaded.source.kind == "cache"


# -- a local model folder with a file missing ----------------------------------------------------


@pytest.mark.parametrize(
    "key, missing, said",
    [
        ("bert-base-uncased", "tokenizer.json", "no tokenizer files"),
        ("gpt2", "config.json", "no config.json"),
        ("clip-vit-b-32-openai", "open_clip_config.json", "no open_clip_config.json"),
        ("clip-vit-b-32-openai", "open_clip_model.safetensors", "no weights file"),
    ],
    ids=["bert-tokenizer", "gpt2-config", "clip-config", "clip-weights"],
)
def test_a_missing_file_in_the_local_folder_is_named(tiny_model_dir, tmp_path, monkeypatch, key, missing, said):
    monkeypatch.setenv(MODEL_DIR_ENV, str(broken_copy(tiny_model_dir, tmp_path, key, missing)))
    error = unavailable(key, probe=lambda: "the hub is off")
    assert "local model folder is incomplete" in error.reason and said in error.reason
    assert PREFETCH_COMMAND in error.fix


def test_putting_the_missing_file_back_makes_the_next_load_work(tiny_model_dir, tmp_path, monkeypatch):
    root = broken_copy(tiny_model_dir, tmp_path, "gpt2", "tokenizer.json")
    monkeypatch.setenv(MODEL_DIR_ENV, str(root))
    unavailable("gpt2", probe=lambda: "offline")
    shutil.copy(tiny_model_dir / "gpt2" / "tokenizer.json", root / "gpt2" / "tokenizer.json")
    assert load_model("gpt2", choose_device("cpu"), probe=lambda: "offline").source.kind == "local-dir"


# -- the hub: unreachable or hanging, with a broken local copy -----------------------------------------


def test_a_hanging_hub_and_a_broken_folder_are_both_named(tiny_model_dir, tmp_path, monkeypatch, hanging_hub):
    monkeypatch.setenv(MODEL_DIR_ENV, str(broken_copy(tiny_model_dir, tmp_path, "gpt2", "model.safetensors")))
    error = unavailable("gpt2", probe=lambda: probe_hub(timeout_s=FAST_PROBE_S))
    assert hanging_hub.accepted, "the probe never reached the hub"
    assert "no weights file" in error.reason
    assert f"did not answer within {FAST_PROBE_S:.0f} s" in error.reason


def test_an_unreachable_hub_is_named_with_its_address(monkeypatch, without_models):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    error = unavailable("clip-vit-b-32-openai", probe=lambda: probe_hub(timeout_s=FAST_PROBE_S))
    assert f"127.0.0.1:{closed}" in error.reason and "cannot be reached" in error.reason
    assert "CLIP" in str(error)
