"""Prefetching writes the layout the loader reads, and a second run fetches nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from models.loading import MODEL_DIR_ENV, choose_device, find_local_source, load_model
from models.prefetch import clip_local_config, prefetch
from models.registry import get_entry
from scripts.prefetch_models import main as prefetch_main


class FakeHub:
    """Serves files from the tiny model folder, as the hub would serve the real ones."""

    def __init__(self, tiny_model_dir: Path, tmp_path: Path) -> None:
        self.tiny = tiny_model_dir
        self.cache = tmp_path / "fake-cache"
        self.calls: list[str] = []

    def snapshot(self, *, repo_id, allow_patterns, local_dir=None):
        self.calls.append(repo_id)
        source = self.tiny / repo_id  # the transformers keys equal their hub ids
        target = Path(local_dir) if local_dir else self.cache / repo_id
        target.mkdir(parents=True, exist_ok=True)
        for item in source.iterdir():
            if item.name in allow_patterns:
                shutil.copy(item, target / item.name)
        return str(target)

    def file(self, *, repo_id, filename):
        self.calls.append(f"{repo_id}/{filename}")
        if filename != "open_clip_model.safetensors":
            raise FileNotFoundError(filename)
        cached = self.cache / repo_id / filename
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.tiny / "clip-vit-b-32-openai" / filename, cached)
        return str(cached)


@pytest.fixture
def fake_hub(tiny_model_dir, tmp_path):
    return FakeHub(tiny_model_dir, tmp_path)


def test_prefetch_into_a_folder_gives_what_the_loader_reads(fake_hub, tmp_path, monkeypatch):
    target = tmp_path / "classroom"
    entries = [get_entry("gpt2"), get_entry("bert-base-uncased")]
    outcomes = prefetch(
        entries, target, download_snapshot=fake_hub.snapshot, download_file=fake_hub.file, report=lambda line: None
    )
    assert [o.action for o in outcomes] == ["downloaded", "downloaded"]
    assert all(o.bytes_on_disk > 0 for o in outcomes)
    monkeypatch.setenv(MODEL_DIR_ENV, str(target))
    for entry in entries:
        source, problem = find_local_source(entry)
        assert source is not None and source.kind == "local-dir", problem
        assert load_model(entry.key, choose_device("cpu")).source.kind == "local-dir"


def test_prefetch_twice_downloads_once(fake_hub, tmp_path):
    target = tmp_path / "classroom"
    entries = [get_entry("distilgpt2")]
    prefetch(entries, target, download_snapshot=fake_hub.snapshot, download_file=fake_hub.file, report=lambda _: None)
    calls_after_first = list(fake_hub.calls)
    again = prefetch(
        entries, target, download_snapshot=fake_hub.snapshot, download_file=fake_hub.file, report=lambda _: None
    )
    assert again[0].action == "already there"
    assert fake_hub.calls == calls_after_first


def test_clip_prefetch_writes_a_loadable_config(fake_hub, tmp_path, monkeypatch):
    import open_clip

    target = tmp_path / "classroom"
    entry = get_entry("clip-vit-b-32-openai")
    config = clip_local_config(entry)
    # The real ViT-B-32 config, with QuickGELU because OpenAI trained with it.
    assert config["model_cfg"]["quick_gelu"] is True
    assert config["model_cfg"]["vision_cfg"] == open_clip.get_model_config("ViT-B-32")["vision_cfg"]
    assert "quick_gelu" not in clip_local_config(get_entry("clip-vit-b-32-laion2b"))["model_cfg"]
    # Tried the safetensors file first, the .bin only if that is missing.
    prefetch([entry], target, download_snapshot=fake_hub.snapshot, download_file=fake_hub.file, report=lambda _: None)
    assert fake_hub.calls[0].endswith("open_clip_model.safetensors")
    monkeypatch.setenv(MODEL_DIR_ENV, str(target))
    source, problem = find_local_source(entry)
    assert source is not None and source.kind == "local-dir", problem


def test_cli_dry_run_lists_models_and_total_size(capsys):
    assert prefetch_main(["--dry-run", "--all"]) == 0
    out = capsys.readouterr().out
    assert "gpt2" in out and "clip-vit-b-32-laion2b" in out and "MB" in out


def test_cli_rejects_an_unknown_model(capsys):
    assert prefetch_main(["--only", "gpt-17"]) == 2
    assert "known models" in capsys.readouterr().err


def test_weights_a_package_ships_are_copied_not_downloaded(fake_hub, tmp_path, monkeypatch):
    target = tmp_path / "classroom"
    entry = get_entry("all-minilm-l6-v2")
    [cached] = prefetch(
        [entry], None, download_snapshot=fake_hub.snapshot, download_file=fake_hub.file, report=lambda _: None
    )
    assert cached.action == "shipped in an installed package" and fake_hub.calls == []
    [copied] = prefetch(
        [entry], target, download_snapshot=fake_hub.snapshot, download_file=fake_hub.file, report=lambda _: None
    )
    assert copied.action == "copied from an installed package" and fake_hub.calls == []
    monkeypatch.setenv(MODEL_DIR_ENV, str(target))
    source, problem = find_local_source(entry)
    assert source is not None and source.kind == "local-dir", problem
