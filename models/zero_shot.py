"""CLIP zero-shot classification, the image × caption similarity matrix, and a linear probe.

Pure compute on an open_clip model passed in as a `LoadedModel` (no Streamlit here).
Split like a transformers pipeline:
- prepare: check templates, labels and captions (duplicates, caps, CLIP's 77-token
  context) and say what was changed in `notices`;
- run: `encode_prompts` and `encode_images` turn text and pictures into unit vectors;
- finish: `zero_shot`, `similarity_matrix` and `probe_against_zero_shot` turn vectors
  into probabilities, a matrix and accuracy curves.

The zero-shot recipe is CLIP's own: probabilities = softmax(logit_scale × cosine(image, text)),
and a label's text vector is the mean of its templates' unit vectors, renormalised
(prompt ensembling, Radford et al. 2021).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from models.engine import BatchKind, engine_for
from models.limits import MAX_LABELS, MAX_TEMPLATES
from models.loading import LoadedModel

DEFAULT_TEMPLATE = "a photo of a {}"
LABEL_SLOT = "{}"
TEMPLATES_PATH = Path(__file__).resolve().parent.parent / "assets" / "clip_templates.json"

# Prompts and images per forward pass of the model's engine (bounded activation memory, and about a
# second of work at most, so other students' requests get in between); a long job is sent in chunks.
TEXT_BATCH = 256
TEXT_CHUNK = 64
IMAGE_BATCH = 16

# Linear probe: examples per class, and how many random draws of them are averaged.
PROBE_SHOTS = (1, 2, 4, 8, 16)
PROBE_REPEATS = 5
# Inverse L2 strength of the probe's logistic regression. Features are unit vectors, so the
# weights must grow large to separate classes: C = 10 regularises less than sklearn's default of 1.
# (The CLIP paper tunes C per data set on a validation split; a one-click demo uses one value.)
PROBE_C = 10.0
# 16 training + 10 test images per digit: 260 images, encoded once per model (a progress bar shows it).
DIGITS_TEST_PER_CLASS = 10

ProgressCallback = Callable[[int, int], None]  # (done, total)


# ---------------------------------------------------------------------------------------
# Prepare: templates, labels, captions


@dataclass(frozen=True)
class Notice:
    """Something the checks changed. `message` is our words; `examples` are the user's text
    it concerns, to be shown literally (never as markdown)."""

    message: str
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checked:
    """Cleaned-up inputs (`items`: templates, labels or captions) and what was done to them."""

    items: tuple[str, ...]
    notices: tuple[Notice, ...]


@dataclass(frozen=True)
class TemplateSet:
    """The templates shipped in assets/clip_templates.json."""

    templates: tuple[str, ...]
    default_ensemble: tuple[str, ...]
    digits_template: str
    source: str


def shipped_templates(path: Path = TEMPLATES_PATH) -> TemplateSet:
    data = json.loads(path.read_text(encoding="utf-8"))
    return TemplateSet(
        templates=tuple(data["templates"]),
        default_ensemble=tuple(data["default_ensemble"]),
        digits_template=data["digits_template"],
        source=data["source"],
    )


def fill(template: str, label: str) -> str:
    """The prompt for `label`. Plain replacement, so other braces in a template are harmless."""
    return template.replace(LABEL_SLOT, label)


def parse_lines(text: str) -> list[str]:
    """Items typed one per line or separated by commas, stripped, empties dropped."""
    return [part.strip() for part in re.split(r"[\n,]", text) if part.strip()]


def _token_count(tokenizer: Any, text: str) -> int:
    """Tokens CLIP reads for `text`, with its start and end tokens."""
    return len(tokenizer.encode(text)) + 2


def check_templates(
    raw: Sequence[str], tokenizer: Any, context_length: int, max_templates: int = MAX_TEMPLATES
) -> Checked:
    """Templates ready to fill: each has one "{}", fits the context with room for a label."""
    notices: list[Notice] = []
    no_slot = [t.strip() for t in raw if t.strip() and LABEL_SLOT not in t]
    if no_slot:
        notices.append(
            Notice(
                'A template needs "{}" where the label goes. It was missing, so the label is added at the end.',
                tuple(no_slot),
            )
        )
    templates = [t.strip() if LABEL_SLOT in t else f"{t.strip()} {LABEL_SLOT}" for t in raw if t.strip()]
    # Half the context for the template leaves the other half for the label.
    too_long = [t for t in templates if _token_count(tokenizer, fill(t, "")) > context_length // 2]
    if too_long:
        notices.append(
            Notice(
                f"A template may use at most {context_length // 2} of CLIP's {context_length} tokens, leaving room "
                "for the label. These were left out; shorten them.",
                tuple(too_long),
            )
        )
    templates = _unique([t for t in templates if t not in too_long], key=_clip_text_key)
    if len(templates) > max_templates:
        notices.append(Notice(f"Only the first {max_templates} templates are used (the limit per ensemble)."))
        templates = templates[:max_templates]
    if not templates:
        notices.append(Notice(f'No usable template, so the default "{DEFAULT_TEMPLATE}" is used.'))
        templates = [DEFAULT_TEMPLATE]
    return Checked(tuple(templates), tuple(notices))


def check_labels(
    raw: Sequence[str],
    tokenizer: Any,
    templates: Sequence[str],
    context_length: int,
    max_labels: int = MAX_LABELS,
) -> Checked:
    """Labels ready to classify with: stripped, duplicates merged, capped, cut to fit the context.

    Duplicates are compared the way CLIP's tokenizer reads text (case and extra spaces
    ignored), since those would be the very same prompt. An empty result is allowed: the
    page asks for labels.
    """
    notices: list[Notice] = []
    labels = [label.strip() for label in raw if label.strip()]
    unique = _unique(labels, key=_clip_text_key)
    if len(unique) < len(labels):
        merged = _duplicates(labels, key=_clip_text_key)
        notices.append(
            Notice(
                f"Merged {len(labels) - len(unique)} duplicate label(s): CLIP ignores case and extra spaces, "
                "so they would be the very same prompt.",
                tuple(merged),
            )
        )
    if len(unique) > max_labels:
        notices.append(
            Notice(
                f"Only the first {max_labels} labels are used (the limit); {len(unique) - max_labels} left out.",
                tuple(unique[max_labels:]),
            )
        )
        unique = unique[:max_labels]
    fitted = [_fit_label(label, templates, tokenizer, context_length) for label in unique]
    cut = [original for original, kept in zip(unique, fitted) if kept != original]
    if cut:
        notices.append(
            Notice(
                f"CLIP reads at most {context_length} tokens per prompt, so these labels were cut to fit "
                "(the chart shows what CLIP actually read).",
                tuple(cut),
            )
        )
    if len(fitted) == 1:
        notices.append(
            Notice(
                "With one label the probability is always 100 %: softmax over a single option is "
                "exp(z) / exp(z) = 1, whatever the image. Compare the cosine similarity instead, or add labels."
            )
        )
    return Checked(tuple(_unique(fitted, key=_clip_text_key)), tuple(notices))


def check_captions(raw: Sequence[str], tokenizer: Any, context_length: int, max_captions: int) -> Checked:
    """Captions for the similarity matrix: kept in order (duplicates allowed), capped, cut to fit."""
    notices: list[Notice] = []
    captions = [caption.strip() for caption in raw if caption.strip()]
    if len(captions) > max_captions:
        notices.append(Notice(f"Only the first {max_captions} captions are used (the limit)."))
        captions = captions[:max_captions]
    fitted = [_fit_label(caption, (LABEL_SLOT,), tokenizer, context_length) for caption in captions]
    cut = [original for original, kept in zip(captions, fitted) if kept != original]
    if cut:
        notices.append(
            Notice(f"CLIP reads at most {context_length} tokens per caption, so these were cut to fit.", tuple(cut))
        )
    return Checked(tuple(fitted), tuple(notices))


def _clip_text_key(text: str) -> str:
    return " ".join(text.lower().split())


def _unique(items: Sequence[str], key: Callable[[str], str]) -> list[str]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            kept.append(item)
    return kept


def _duplicates(items: Sequence[str], key: Callable[[str], str]) -> list[str]:
    seen: set[str] = set()
    repeated = []
    for item in items:
        if key(item) in seen:
            repeated.append(item)
        seen.add(key(item))
    return repeated


def _fit_label(label: str, templates: Sequence[str], tokenizer: Any, context_length: int) -> str:
    """`label` unchanged if every prompt made from it fits the context, else its longest prefix that does.

    A cut label is CLIP's own reading of the kept tokens (lower case), so the chart shows
    exactly what the model saw.
    """

    def fits(text: str) -> bool:
        return all(_token_count(tokenizer, fill(t, text)) <= context_length for t in templates)

    if fits(label):
        return label
    ids = tokenizer.encode(label)
    keep = min(len(ids), context_length)
    cut = tokenizer.decode(ids[:keep]).strip()
    # One token always fits: check_templates leaves half the context for the label.
    while keep > 1 and not fits(cut):
        keep -= 1
        cut = tokenizer.decode(ids[:keep]).strip()
    return cut


# ---------------------------------------------------------------------------------------
# Run: text and images to unit vectors


def encode_prompts(loaded: LoadedModel, prompts: Sequence[str]) -> np.ndarray:
    """Unit text vectors, (prompts, dim) float32, encoded on the model's engine with other students' prompts."""
    tokens = loaded.tokenizer(list(prompts))
    chunks = [tokens[start : start + TEXT_CHUNK] for start in range(0, len(tokens), TEXT_CHUNK)]
    return np.concatenate(engine_for(loaded).call_many(CLIP_TEXT, chunks))


def _text_batch(loaded: LoadedModel, chunks: list[torch.Tensor]) -> list[np.ndarray]:
    # Trimmed to the batch's longest prompt: CLIP's text tower is causal, so no prompt sees the others' length.
    vectors = F.normalize(encode_text_trimmed(loaded.model, torch.cat(chunks).to(loaded.device)).float(), dim=-1)
    return np.split(vectors.cpu().numpy(), np.cumsum([len(chunk) for chunk in chunks])[:-1])


CLIP_TEXT = BatchKind("clip text", _text_batch, max_cost=TEXT_BATCH, cost=len)


def encode_text_trimmed(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """open_clip's `encode_text`, computed only up to the longest prompt in the batch.

    CLIP pads every prompt to 77 tokens and pools the features at the end-of-text token.
    Its text transformer is causal, so the features at that position never see the padding
    after it: running positions 0..L-1 only (L = last pooled position + 1), with the
    causal mask and positional embeddings cut to L, gives the same vectors for a fraction
    of the work. Models where that does not hold (no causal mask, other pooling, a Hugging
    Face text tower) go through `model.encode_text` unchanged.
    """
    tower = _causal_text_tower(model)
    if tower is None:
        return model.encode_text(tokens)
    pool_type = getattr(tower, "text_pool_type", getattr(tower, "pool_type", "argmax"))
    if pool_type == "argmax":  # the end-of-text token has the largest id
        pooled_at = tokens.argmax(dim=-1)
    else:
        eos_id = getattr(tower, "text_eos_id", getattr(tower, "eos_id", None))
        pooled_at = (tokens == eos_id).int().argmax(dim=-1)
    length = int(pooled_at.max()) + 1
    cast_dtype = tower.transformer.get_cast_dtype()
    x = tower.token_embedding(tokens[:, :length]).to(cast_dtype)
    x = x + tower.positional_embedding[:length].to(cast_dtype)
    x = tower.transformer(x, attn_mask=tower.attn_mask[:length, :length])
    # LayerNorm acts on each position alone, so pooling before it gives the same vector.
    x = tower.ln_final(x[torch.arange(x.shape[0], device=x.device), pooled_at])
    projection = tower.text_projection
    if projection is None:
        return x
    return projection(x) if isinstance(projection, torch.nn.Linear) else x @ projection


def _causal_text_tower(model: torch.nn.Module) -> torch.nn.Module | None:
    """The module holding a causal open_clip text transformer (CLIP itself, or CustomTextCLIP's
    `.text`), or None when trimming would change the result."""
    tower = getattr(model, "text", model)
    needed = ("token_embedding", "positional_embedding", "transformer", "ln_final", "text_projection")
    if not all(hasattr(tower, name) for name in needed) or getattr(tower, "attn_mask", None) is None:
        return None
    pool_type = getattr(tower, "text_pool_type", getattr(tower, "pool_type", None))
    if pool_type not in ("argmax", "eos"):
        return None
    if getattr(tower, "cls_emb", None) is not None or getattr(tower, "use_pad_mask", False):
        return None  # CoCa-style class tokens and padding masks see the whole sequence
    return tower


def encode_images(
    loaded: LoadedModel, images: Sequence[Image.Image], progress: ProgressCallback | None = None
) -> np.ndarray:
    """Unit image vectors, (images, dim) float32, through the model's own preprocessing.

    Pictures are preprocessed here, in the student's own thread; the model's engine encodes them
    IMAGE_BATCH at a time, other students' images in the same batches and their requests in between.
    """
    chunks = [
        torch.stack([loaded.preprocess(image) for image in images[start : start + IMAGE_BATCH]])
        for start in range(0, len(images), IMAGE_BATCH)
    ]
    sizes = [len(chunk) for chunk in chunks]

    def images_done(done: int, total: int) -> None:
        if progress is not None:
            progress(sum(sizes[:done]), len(images))

    return np.concatenate(engine_for(loaded).call_many(CLIP_IMAGES, chunks, progress=images_done))


def _image_batch(loaded: LoadedModel, chunks: list[torch.Tensor]) -> list[np.ndarray]:
    features = loaded.model.encode_image(torch.cat(chunks).to(loaded.device, loaded.dtype))
    vectors = F.normalize(features.float(), dim=-1).cpu().numpy()
    return np.split(vectors, np.cumsum([len(chunk) for chunk in chunks])[:-1])


CLIP_IMAGES = BatchKind("clip images", _image_batch, max_cost=IMAGE_BATCH, cost=len)


def logit_scale(loaded: LoadedModel) -> float:
    """CLIP's learned temperature, exp(t): logits = logit_scale × cosine (about 100 when trained)."""
    with torch.inference_mode():
        return float(loaded.model.logit_scale.exp().float())


# ---------------------------------------------------------------------------------------
# Finish: probabilities, the similarity matrix


@dataclass(frozen=True)
class LabelEmbeddings:
    """The text side of zero-shot classification.

    vectors: (labels, dim) unit rows: for each label, the mean of the unit vectors of its
    prompts (one per template), renormalised. With one template that is just its prompt's vector.
    """

    labels: tuple[str, ...]
    templates: tuple[str, ...]
    vectors: np.ndarray


def embed_labels(loaded: LoadedModel, labels: Sequence[str], templates: Sequence[str]) -> LabelEmbeddings:
    """Every (label, template) prompt in one batched pass, then the ensemble mean per label."""
    prompts = [fill(template, label) for label in labels for template in templates]
    unit = encode_prompts(loaded, prompts).reshape(len(labels), len(templates), -1)
    return LabelEmbeddings(tuple(labels), tuple(templates), _unit_rows(unit.mean(axis=1)))


@dataclass(frozen=True)
class ZeroShotResult:
    """Zero-shot classification of some images against some labels.

    cosine: (images, labels) cosine similarity of unit image and label vectors, in [-1, 1].
    probabilities: (images, labels) softmax over labels of logit_scale × cosine; rows sum to 1.
    """

    labels: tuple[str, ...]
    cosine: np.ndarray
    probabilities: np.ndarray
    logit_scale: float


def zero_shot(image_vectors: np.ndarray, labels: LabelEmbeddings, scale: float) -> ZeroShotResult:
    cosine = image_vectors @ labels.vectors.T
    return ZeroShotResult(labels.labels, cosine, softmax(scale * cosine, axis=1), scale)


def classify(loaded: LoadedModel, images: Sequence[Image.Image], labels: LabelEmbeddings) -> ZeroShotResult:
    """Zero-shot probabilities of `images` (PIL, RGB) against precomputed label vectors."""
    return zero_shot(encode_images(loaded, images), labels, logit_scale(loaded))


@dataclass(frozen=True)
class SimilarityMatrix:
    """Images × captions, as in CLIP's training batch: matching pairs sit on the diagonal.

    cosine: (images, captions) cosine similarities.
    image_to_text: (images, captions) softmax over captions per image (rows sum to 1).
    text_to_image: (images, captions) softmax over images per caption (columns sum to 1).
    contrastive_loss: CLIP's symmetric cross-entropy with the diagonal as targets (the mean of
    the two directions), or None unless there are as many captions as images.
    """

    image_names: tuple[str, ...]
    captions: tuple[str, ...]
    cosine: np.ndarray
    image_to_text: np.ndarray
    text_to_image: np.ndarray
    logit_scale: float
    contrastive_loss: float | None


def similarity_matrix(
    image_vectors: np.ndarray,
    image_names: Sequence[str],
    caption_vectors: np.ndarray,
    captions: Sequence[str],
    scale: float,
) -> SimilarityMatrix:
    cosine = image_vectors @ caption_vectors.T
    logits = scale * cosine
    image_to_text = softmax(logits, axis=1)
    text_to_image = softmax(logits, axis=0)
    loss = None
    if cosine.shape[0] == cosine.shape[1] and cosine.shape[0] > 0:
        diagonal = np.arange(cosine.shape[0])
        loss = float(
            -(np.log(image_to_text[diagonal, diagonal]).mean() + np.log(text_to_image[diagonal, diagonal]).mean()) / 2
        )
    return SimilarityMatrix(tuple(image_names), tuple(captions), cosine, image_to_text, text_to_image, scale, loss)


def softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return (matrix / np.linalg.norm(matrix, axis=-1, keepdims=True)).astype(np.float32)


# ---------------------------------------------------------------------------------------
# Linear probe against zero-shot


@dataclass(frozen=True)
class LabelledImages:
    """A small labelled set for the probe.

    targets: (images,) class index of each image; is_test: (images,) True for the fixed
    test split, False for the pool the probe draws its k examples per class from.
    """

    images: tuple[Image.Image, ...]
    targets: np.ndarray
    is_test: np.ndarray
    class_names: tuple[str, ...]
    description: str


def digits_dataset(
    train_per_class: int = max(PROBE_SHOTS), test_per_class: int = DIGITS_TEST_PER_CLASS, seed: int = 0
) -> LabelledImages:
    """scikit-learn's 8 × 8 handwritten digits (shipped offline), as dark ink on white."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(seed)
    chosen, is_test = [], []
    for digit in range(10):
        indices = rng.permutation(np.flatnonzero(digits.target == digit))[: train_per_class + test_per_class]
        chosen.extend(indices)
        is_test.extend([False] * train_per_class + [True] * test_per_class)
    pictures = tuple(
        Image.fromarray((255 - digits.images[i] * (255 / 16)).round().astype(np.uint8), mode="L").convert("RGB")
        for i in chosen
    )
    return LabelledImages(
        images=pictures,
        targets=digits.target[chosen].astype(np.int64),
        is_test=np.array(is_test),
        class_names=tuple(str(digit) for digit in range(10)),
        description=f"scikit-learn's handwritten digits: {train_per_class} training and {test_per_class} test "
        "images per digit (8 × 8 pixels, upscaled by CLIP's preprocessing)",
    )


def labelled_from_names(images: Sequence[Image.Image], names: Sequence[str]) -> LabelledImages:
    """The user's own photos, labelled by file name: "cat_01.jpg" and "cat-2.png" are class "cat".

    Half of each class (at least one image) is the test split, the rest the training pool.
    Raises ValueError (a sentence for people) unless there are 2 classes with 2 photos each.
    """
    class_of = [_label_from_file_name(name) for name in names]
    class_names = tuple(sorted(set(class_of)))
    targets = np.array([class_names.index(c) for c in class_of], dtype=np.int64)
    counts = np.bincount(targets, minlength=len(class_names)) if len(targets) else np.zeros(0, dtype=int)
    if len(class_names) < 2 or counts.min() < 2:
        raise ValueError(
            f"The probe needs at least 2 classes with at least 2 photos each (one to train on, one to test); "
            f"these file names give {len(class_names)} class(es), {int((counts < 2).sum())} of them with fewer "
            "than 2 photos. Name files like cat_1.jpg, cat_2.jpg, dog_1.jpg, dog_2.jpg."
        )
    is_test = np.zeros(len(targets), dtype=bool)
    for index in range(len(class_names)):
        members = np.flatnonzero(targets == index)
        is_test[members[: max(1, len(members) // 2)]] = True
    return LabelledImages(
        tuple(images),
        targets,
        is_test,
        class_names,
        f"your {len(targets)} photos in {len(class_names)} classes (labels from the file names)",
    )


def _label_from_file_name(name: str) -> str:
    stem = Path(name).stem
    return re.split(r"[_\-\s.]|\d", stem, maxsplit=1)[0].strip().lower() or stem


@dataclass(frozen=True)
class ProbeResult:
    """Linear probe on frozen CLIP image features against zero-shot, on the same test split.

    accuracy: (repeats, shots) test accuracy of logistic regression trained on k random
    examples per class, one row per random draw. shots: the k values that the training
    pool allowed.
    """

    shots: tuple[int, ...]
    accuracy: np.ndarray
    zero_shot_accuracy: float
    chance: float
    n_test: int
    class_names: tuple[str, ...]

    @property
    def mean_accuracy(self) -> np.ndarray:
        """(shots,) accuracy averaged over the random draws."""
        return self.accuracy.mean(axis=0)

    def shots_to_beat_zero_shot(self) -> int | None:
        """The fewest examples per class at which the probe's mean accuracy beats zero-shot."""
        for k, accuracy in zip(self.shots, self.mean_accuracy):
            if accuracy > self.zero_shot_accuracy:
                return k
        return None


def linear_probe(
    features: np.ndarray,
    targets: np.ndarray,
    is_test: np.ndarray,
    shots: Sequence[int] = PROBE_SHOTS,
    repeats: int = PROBE_REPEATS,
    seed: int = 0,
) -> tuple[tuple[int, ...], np.ndarray]:
    """Test accuracy of logistic regression on k examples per class, for each feasible k.

    features: (n, dim); targets: (n,); is_test: (n,). Returns (the k values used,
    accuracy of shape (repeats, len(k values))).
    """
    from sklearn.linear_model import LogisticRegression

    train_pool = np.flatnonzero(~is_test)
    classes = np.unique(targets)
    per_class = min(int(np.sum(targets[train_pool] == c)) for c in classes)
    usable = tuple(k for k in shots if k <= per_class)
    rng = np.random.default_rng(seed)
    accuracy = np.zeros((repeats, len(usable)))
    for r in range(repeats):
        for j, k in enumerate(usable):
            picked = np.concatenate(
                [rng.choice(train_pool[targets[train_pool] == c], size=k, replace=False) for c in classes]
            )
            probe = LogisticRegression(C=PROBE_C, max_iter=2000)
            probe.fit(features[picked], targets[picked])
            accuracy[r, j] = probe.score(features[is_test], targets[is_test])
    return usable, accuracy


def probe_against_zero_shot(
    image_vectors: np.ndarray, data: LabelledImages, labels: LabelEmbeddings, seed: int = 0
) -> ProbeResult:
    """Linear probe accuracy curve, and zero-shot accuracy (argmax cosine) on the same test split.

    `labels` must hold one vector per class of `data`, in `data.class_names` order.
    """
    shots, accuracy = linear_probe(image_vectors, data.targets, data.is_test, seed=seed)
    test = data.is_test
    predicted = np.argmax(image_vectors[test] @ labels.vectors.T, axis=1)
    return ProbeResult(
        shots=shots,
        accuracy=accuracy,
        zero_shot_accuracy=float(np.mean(predicted == data.targets[test])),
        chance=1.0 / len(data.class_names),
        n_test=int(test.sum()),
        class_names=data.class_names,
    )
