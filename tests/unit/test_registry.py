"""The catalogue agrees with itself and with the libraries that define the architectures."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from models.registry import MODELS, default_model, get_entry, models_of
from tests.conftest import REPO_ROOT


def test_keys_are_unique_and_usable_as_folder_names():
    keys = [entry.key for entry in MODELS]
    assert len(keys) == len(set(keys))
    assert all(key == key.lower() and "/" not in key and " " not in key for key in keys)


@pytest.mark.parametrize("family", ["causal-lm", "masked-lm", "clip"])
def test_each_family_has_exactly_one_default_listed_first(family):
    entries = models_of(family)
    assert len(entries) >= 2
    assert sum(entry.is_default for entry in entries) == 1
    assert entries[0].is_default and default_model(family) is entries[0]


def test_design_catalogue_is_complete():
    expected = {"gpt2", "distilgpt2", "bert-base-uncased", "distilbert-base-uncased"}
    assert expected <= {entry.hub_id for entry in MODELS}
    clip_tags = {(e.hub_id, e.pretrained) for e in models_of("clip")}
    assert clip_tags == {("ViT-B-32", "openai"), ("ViT-B-32", "laion2b_s34b_b79k")}


def test_unknown_key_names_the_known_ones():
    with pytest.raises(KeyError) as raised:
        get_entry("gpt5")
    assert "gpt2" in str(raised.value)


def test_context_lengths_match_the_architectures():
    import open_clip
    from transformers import BertConfig, DistilBertConfig, GPT2Config

    assert get_entry("gpt2").context_length == GPT2Config().n_positions
    assert get_entry("bert-base-uncased").context_length == BertConfig().max_position_embeddings
    assert get_entry("distilbert-base-uncased").context_length == DistilBertConfig().max_position_embeddings
    for entry in models_of("clip"):
        assert entry.context_length == open_clip.get_model_config(entry.hub_id)["text_cfg"]["context_length"]
        assert open_clip.get_pretrained_cfg(entry.hub_id, entry.pretrained).get("hf_hub")


def test_sizes_match_parameter_counts():
    # fp32 weights take 4 bytes a parameter; allow for buffers and rounding.
    for entry in MODELS:
        assert entry.size_mb == pytest.approx(entry.params_millions * 4.0 * 1.048576 * 1.05, rel=0.12), entry.key


def _python_files(folder: str) -> list[Path]:
    return sorted((REPO_ROOT / folder).glob("*.py"))


@pytest.mark.parametrize("path", _python_files("models"), ids=lambda p: p.name)
def test_models_never_import_streamlit(path):
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "streamlit" not in imported


def test_importing_every_models_module_loads_no_streamlit():
    modules = [f"models.{path.stem}" for path in _python_files("models") if path.stem != "__init__"]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('streamlit' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("path", _python_files("demos"), ids=lambda p: p.name)
def test_pages_hold_no_torch_code(path):
    source = path.read_text()
    assert "import torch" not in source and "torch." not in source
