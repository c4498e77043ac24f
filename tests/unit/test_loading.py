"""The model layer's loading: device choice, where weights come from, and failing fast offline."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import torch

from models import loading
from models.loading import (
    MODEL_DIR_ENV,
    PREFETCH_COMMAND,
    DeviceChoice,
    ModelUnavailable,
    choose_device,
    find_local_source,
    load_model,
    probe_hub,
    resolve_source,
)
from models.registry import get_entry


# -- device ------------------------------------------------------------------------------


def test_cpu_is_fp32():
    choice = choose_device("cpu")
    assert (choice.device, choice.dtype) == ("cpu", torch.float32)
    assert "CPU" in choice.label


def test_cuda_is_chosen_with_fp16_when_a_gpu_is_there(monkeypatch):
    monkeypatch.delenv("LECTURE_LAB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Test GPU 9000")
    choice = choose_device()
    assert (choice.device, choice.dtype) == ("cuda", torch.float16)
    assert "Test GPU 9000" in choice.label


def test_environment_can_force_the_cpu_even_with_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("LECTURE_LAB_DEVICE", "cpu")
    assert choose_device().device == "cpu"


def test_without_accelerators_the_choice_is_the_cpu(monkeypatch):
    monkeypatch.delenv("LECTURE_LAB_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert choose_device().device == "cpu"


def test_a_model_that_cannot_go_to_the_gpu_falls_back_to_the_cpu(with_tiny_models, monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the fallback needs a failing move")
    broken_gpu = DeviceChoice("cuda", torch.float16, "CUDA GPU: missing (fp16)")
    loaded = load_model("gpt2", broken_gpu)
    assert loaded.device == "cpu" and loaded.dtype == torch.float32
    assert loaded.notice and "CPU" in loaded.notice
    assert next(loaded.model.parameters()).device.type == "cpu"


# -- where weights come from ---------------------------------------------------------------


def _hub_must_not_be_asked():
    raise AssertionError("the hub was probed although a local copy exists")


def _populate_hf_cache(tiny_model_dir: Path, key: str) -> Path:
    """Lay out a tiny model as huggingface_hub's cache does (models--id/snapshots/rev + refs/main)."""
    from huggingface_hub import constants

    entry = get_entry(key)
    repo = Path(constants.HF_HUB_CACHE) / f"models--{entry.hub_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123456789abcdef"
    shutil.copytree(tiny_model_dir / key, snapshot, dirs_exist_ok=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text("0123456789abcdef")
    return repo


def test_local_folder_comes_first(with_tiny_models):
    source = resolve_source(get_entry("gpt2"), probe=_hub_must_not_be_asked)
    assert source.kind == "local-dir"
    assert Path(source.location) == with_tiny_models / "gpt2"


def test_hf_cache_comes_second_and_loads(tiny_model_dir, without_models):
    repo = _populate_hf_cache(tiny_model_dir, "distilgpt2")
    try:
        source = resolve_source(get_entry("distilgpt2"), probe=_hub_must_not_be_asked)
        assert source.kind == "cache"
        loaded = load_model("distilgpt2", choose_device("cpu"), probe=_hub_must_not_be_asked)
        assert loaded.source.kind == "cache"
        assert loaded.model.config.n_layer == 2
    finally:
        shutil.rmtree(repo)


def test_local_folder_beats_the_cache(tiny_model_dir, with_tiny_models):
    repo = _populate_hf_cache(tiny_model_dir, "gpt2")
    try:
        assert resolve_source(get_entry("gpt2"), probe=_hub_must_not_be_asked).kind == "local-dir"
    finally:
        shutil.rmtree(repo)


def test_hub_comes_last_and_only_when_it_answers(without_models):
    assert resolve_source(get_entry("gpt2"), probe=lambda: None).kind == "hub"
    with pytest.raises(ModelUnavailable):
        resolve_source(get_entry("gpt2"), probe=lambda: "the hub is down")


def test_incomplete_local_folder_is_reported_with_what_is_missing(tiny_model_dir, tmp_path, monkeypatch):
    broken = tmp_path / "models"
    shutil.copytree(tiny_model_dir / "gpt2", broken / "gpt2")
    (broken / "gpt2" / "model.safetensors").unlink()
    monkeypatch.setenv(MODEL_DIR_ENV, str(broken))
    source, problem = find_local_source(get_entry("gpt2"))
    assert source is None and "weights" in problem
    with pytest.raises(ModelUnavailable) as raised:
        load_model("gpt2", choose_device("cpu"), probe=lambda: "offline")
    assert "weights" in str(raised.value)


def test_corrupt_weights_become_a_clear_error_not_a_crash(tiny_model_dir, tmp_path, monkeypatch):
    broken = tmp_path / "models"
    shutil.copytree(tiny_model_dir / "bert-base-uncased", broken / "bert-base-uncased")
    (broken / "bert-base-uncased" / "model.safetensors").write_bytes(b"half a download")
    monkeypatch.setenv(MODEL_DIR_ENV, str(broken))
    with pytest.raises(ModelUnavailable) as raised:
        load_model("bert-base-uncased", choose_device("cpu"))
    assert PREFETCH_COMMAND in raised.value.fix


@pytest.mark.parametrize(
    "key",
    [
        "gpt2",
        "distilgpt2",
        "bert-base-uncased",
        "distilbert-base-uncased",
        "clip-vit-b-32-openai",
        "clip-vit-b-32-laion2b",
    ],
)
def test_every_registry_model_loads_through_the_local_folder(with_tiny_models, key):
    loaded = load_model(key, choose_device("cpu"), probe=_hub_must_not_be_asked)
    assert loaded.source.kind == "local-dir"
    assert not loaded.model.training
    if loaded.entry.family == "clip":
        assert loaded.preprocess is not None
        assert loaded.tokenizer(["a photo of a cat"]).shape == (1, 77)
    else:
        assert loaded.tokenizer("Hello world")["input_ids"]
        # Attention weights are only returned by the eager implementation.
        assert loaded.model.config._attn_implementation == "eager"


def open_clip_reference(folder: Path):
    import open_clip

    model, _, _ = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    return model


def test_clip_weights_read_in_place_equal_open_clips_own_loader(with_tiny_models, tiny_model_dir):
    ours = load_model("clip-vit-b-32-openai", choose_device("cpu"), probe=_hub_must_not_be_asked).model
    reference = open_clip_reference(tiny_model_dir / "clip-vit-b-32-openai").state_dict()
    state = ours.state_dict()
    assert set(state) == set(reference)
    assert all(torch.equal(state[name], reference[name]) for name in reference)


def test_clip_weights_in_fp16_or_another_layout_still_load_exactly(tiny_model_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "clip"
    shutil.copytree(tiny_model_dir / "clip-vit-b-32-openai", folder)
    weights = folder / "open_clip_model.safetensors"
    state = load_file(str(weights))
    save_file({name: tensor.half() for name, tensor in state.items()}, str(weights))
    model = open_clip_reference(folder)  # random init, then overwritten by ours below
    assert loading._read_safetensors_into(model.state_dict(), weights)
    assert all(torch.equal(model.state_dict()[name], tensor.half().float()) for name, tensor in state.items())
    # A renamed key is a layout only open_clip's loader can convert: ours declines and writes nothing.
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    save_file({("module." + name): tensor for name, tensor in state.items()}, str(weights))
    assert not loading._read_safetensors_into(model.state_dict(), weights)
    assert all(torch.equal(model.state_dict()[name], before[name]) for name in before)


def test_a_clip_weights_file_cut_short_is_a_clear_error(tiny_model_dir, tmp_path, monkeypatch):
    broken = tmp_path / "models" / "clip-vit-b-32-openai"
    shutil.copytree(tiny_model_dir / "clip-vit-b-32-openai", broken)
    weights = broken / "open_clip_model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    monkeypatch.setenv(MODEL_DIR_ENV, str(broken.parent))
    with pytest.raises(ModelUnavailable) as raised:
        load_model("clip-vit-b-32-openai", choose_device("cpu"), probe=_hub_must_not_be_asked)
    assert PREFETCH_COMMAND in raised.value.fix


# -- offline: fail fast, say what to do ------------------------------------------------------


class SilentServer:
    """Accepts TCP connections on localhost and never answers: a hub that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                connection, _ = self.sock.accept()
                self.accepted.append(connection)
            except OSError:
                continue

    def close(self) -> None:
        self._stop = True
        for connection in self.accepted:
            connection.close()
        self.sock.close()


@pytest.fixture
def hanging_hub(monkeypatch, without_models):
    server = SilentServer()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.close()


def test_a_hanging_hub_fails_within_3_seconds_naming_the_model_and_the_fix(hanging_hub):
    started = time.monotonic()
    with pytest.raises(ModelUnavailable) as raised:
        load_model("gpt2", choose_device("cpu"))
    elapsed = time.monotonic() - started
    assert hanging_hub.accepted, "the probe never reached the hub"
    message = str(raised.value)
    assert "GPT-2" in message and PREFETCH_COMMAND in message
    assert elapsed < 3.0, f"took {elapsed:.1f} s"


def test_a_refusing_hub_fails_fast_too(monkeypatch, without_models):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert "cannot be reached" in probe_hub()


def test_hf_hub_offline_skips_the_probe(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(loading.urllib.request, "urlopen", _hub_must_not_be_asked)
    assert "HF_HUB_OFFLINE" in probe_hub()


def test_test_models_carry_the_real_tokenizers(tiny_gpt2, tiny_bert):
    text = "Translate English to French: sea otter => loutre de mer"
    gpt2_ids = tiny_gpt2.tokenizer(text)["input_ids"]
    assert len(tiny_gpt2.tokenizer) == 50257 and len(gpt2_ids) > 5
    assert tiny_gpt2.tokenizer.decode(gpt2_ids) == text  # byte-level BPE round-trips exactly
    bert = tiny_bert.tokenizer
    assert len(bert) == 30522
    pieces = bert.convert_ids_to_tokens(bert("The man worked as a [MASK].")["input_ids"])
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and "[MASK]" in pieces


def test_a_model_with_weights_never_filled_in_is_refused():
    from models.loading import _check_filled

    model = torch.nn.Linear(4, 2)
    _check_filled(model)
    model.weight = torch.nn.Parameter(torch.empty(2, 4, device="meta"))
    with pytest.raises(RuntimeError, match="never filled in: weight"):
        _check_filled(model)


def test_a_models_identity_names_its_device_and_precision(tiny_model_dir, cpu):
    import dataclasses

    import torch

    from tests.model_factory import load_from_folder

    loaded = load_from_folder(tiny_model_dir, "gpt2", cpu)
    on_gpu = dataclasses.replace(loaded, device="cuda", dtype=torch.float16)
    in_int8 = dataclasses.replace(loaded, int8=True)
    identities = {loaded.identity, on_gpu.identity, in_int8.identity}
    assert len(identities) == 3  # a cached result from one is never served for another
    assert loaded.identity.startswith("gpt2@cpu/float32/local-dir:")
    assert loaded.identity == dataclasses.replace(loaded).identity
