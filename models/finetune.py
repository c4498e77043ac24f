"""The fine-tuning lab: transfer learning done live on a small pre-trained encoder. No Streamlit here.

Split like the other demos:
1. prepare: the labelled task (assets/finetune_reviews.json, test words never seen in training), a seeded
   draw of k examples per class, optionally doubled by synonym replacement, tokenised once (`prepare_task`);
2. run: each strategy trains its own copy of the encoder with a linear head on the mean-pooled tokens,
   one optimiser step at a time (`train_strategy`), and the test split is scored after every epoch;
3. result: the curves, the final test accuracy, the trainable-parameter count, and how far the encoder
   drifted from its pre-trained self (`ForgettingProbe`: paraphrase retrieval before and after).

Strategies (the course's fine-tuning flashcards):
- scratch: the same architecture with fresh random weights, everything trained (no pre-training);
- probe:   the pre-trained encoder frozen, only the linear head trained (the linear probe);
- top:     the top k layers and the head trained, the rest frozen;
- full:    everything trained, the encoder with a smaller learning rate than the head;
- lora:    the encoder frozen, low-rank adapters added to its attention (peft's LoRA) and the head trained.

Reproducible: every random draw (the examples, the head, scratch weights, adapters, batch order) comes from
generators seeded by the settings, and dropout is off (the encoder stays in eval mode while it trains), so
the same settings give the same curves bit for bit.
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, TypeVar

import torch

from models.limits import (
    MAX_FINETUNE_EPOCHS,
    MAX_FINETUNE_LR,
    MAX_FINETUNE_PER_CLASS,
    MAX_FINETUNE_STEPS,
    MIN_FINETUNE_LR,
)

Strategy = Literal["scratch", "probe", "top", "full", "lora"]
STRATEGIES: tuple[Strategy, ...] = ("scratch", "probe", "top", "full", "lora")
STRATEGY_NAMES = {
    "scratch": "From scratch (no pre-training)",
    "probe": "Frozen encoder + linear head",
    "top": "Fine-tune the top layers",
    "full": "Full fine-tuning",
    "lora": "LoRA adapters (peft)",
}
ASSETS = Path(__file__).resolve().parent.parent / "assets"
TASK_FILE = ASSETS / "finetune_reviews.json"
PAIRS_FILE = ASSETS / "paraphrase_pairs.json"
TASK_CLASSES = 2  # the course task's labels: negative, positive
MAX_TOKENS = 32  # the longest review is about 16 tokens
EVAL_BATCH = 64
CURVE_TEST_PER_CLASS = 30  # test sentences per label read after each epoch (all 100 after the last)
# A training loss this many times chance's (ln of the class count) means the run has blown up: a sane run
# only goes down from chance. Learning rates of 0.1 and up take full fine-tuning there within 3 epochs.
DIVERGED_LOSS_FACTOR = 10.0
ADAPTER_LR_FACTOR = 10.0  # LoRA's adapters learn at this × the encoder's rate (at most the head's)

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Settings and results


@dataclass(frozen=True)
class FinetuneSettings:
    """One run of the lab. `encoder_lr` applies to the encoder's own weights (top layers, full); the head and
    LoRA's adapters, which start from scratch, learn at `head_lr`."""

    strategies: tuple[Strategy, ...] = STRATEGIES
    per_class: int = 16  # labelled examples per class
    epochs: int = 5
    head_lr: float = 3e-3
    encoder_lr: float = 1e-4
    top_layers: int = 2  # layers trained by "top"
    lora_rank: int = 8
    augment: bool = False  # synonym replacement doubles the training set
    batch_size: int = 16
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.strategies or any(strategy not in STRATEGIES for strategy in self.strategies):
            raise ValueError(f"Pick one or more strategies among {', '.join(STRATEGIES)}.")
        if not 1 <= self.per_class <= MAX_FINETUNE_PER_CLASS:
            raise ValueError(
                f"Labelled examples per class must be between 1 and {MAX_FINETUNE_PER_CLASS}, "
                f"not {self.per_class}: a model cannot learn a class it has never seen."
            )
        if not 1 <= self.epochs <= MAX_FINETUNE_EPOCHS:
            raise ValueError(f"Epochs must be between 1 and {MAX_FINETUNE_EPOCHS}, not {self.epochs}.")
        for name, value in (("head", self.head_lr), ("encoder", self.encoder_lr)):
            if not (math.isfinite(value) and MIN_FINETUNE_LR <= value <= MAX_FINETUNE_LR):
                raise ValueError(
                    f"The {name} learning rate must be between {MIN_FINETUNE_LR:g} and "
                    f"{MAX_FINETUNE_LR:g}, not {value:g}."
                )
        if not 1 <= self.lora_rank <= 64 or self.top_layers < 1 or self.batch_size < 1 or self.seed < 0:
            raise ValueError("LoRA rank must be 1–64, top layers and batch size at least 1, the seed not negative.")
        if self.steps > MAX_FINETUNE_STEPS:
            raise ValueError(
                f"That run would take {self.steps} training steps per strategy; the server allows {MAX_FINETUNE_STEPS} "
                "(about half a minute each), since runs go one at a time for the whole class. Lower the epochs or the "
                "labelled examples, or turn augmentation off."
            )

    @property
    def steps(self) -> int:
        """Optimiser steps each strategy takes: epochs × batches of the training examples (doubled by augmentation)."""
        examples = TASK_CLASSES * self.per_class * (2 if self.augment else 1)
        return self.epochs * math.ceil(examples / self.batch_size)


@dataclass(frozen=True)
class EpochRecord:
    strategy: Strategy
    epoch: int  # 1 … epochs
    train_loss: float
    train_accuracy: float
    test_loss: float
    test_accuracy: float


@dataclass(frozen=True)
class ForgettingProbe:
    """The encoder's pre-trained skill (finding each sentence's paraphrase among 24) before and after training.

    retrieval_*: share of the first sentences whose nearest second sentence is their own paraphrase
    drift:       1 − mean cosine between each probe sentence's embedding before and after (0: unchanged)
    weight_change: ‖θ_after − θ_before‖ / ‖θ_before‖ over the encoder's own weights (adapters excluded)
    """

    retrieval_before: float
    retrieval_after: float
    drift: float
    weight_change: float


@dataclass(frozen=True)
class StrategyResult:
    strategy: Strategy
    trainable_params: int
    total_params: int
    history: tuple[EpochRecord, ...]
    forgetting: ForgettingProbe | None  # None for scratch (nothing pre-trained to forget)
    diverged_at: int | None = None  # the epoch whose loss exploded (not a number, or far above chance), if any
    stopped: bool = False
    seconds: float = 0.0

    @property
    def test_accuracy(self) -> float:
        return self.history[-1].test_accuracy if self.history else float("nan")


@dataclass(frozen=True)
class FinetuneResult:
    settings: FinetuneSettings
    results: tuple[StrategyResult, ...]
    train_size: int
    test_size: int
    stopped: bool = False

    def by_strategy(self) -> dict[Strategy, StrategyResult]:
        return {result.strategy: result for result in self.results}


# ---------------------------------------------------------------------------------------------
# 1. The task


@dataclass(frozen=True)
class Task:
    labels: tuple[str, ...]
    train_pool: tuple[tuple[str, int], ...]  # (text, label index)
    test: tuple[tuple[str, int], ...]
    train_words: dict[str, tuple[str, ...]]
    things: tuple[str, ...]
    licence: str
    name: str


def load_task(path: Path = TASK_FILE) -> Task:
    data = json.loads(path.read_text(encoding="utf-8"))
    labels = tuple(data["labels"])
    index = {label: i for i, label in enumerate(labels)}
    return Task(
        labels=labels,
        train_pool=tuple((row["text"], index[row["label"]]) for row in data["train"]),
        test=tuple((row["text"], index[row["label"]]) for row in data["test"]),
        train_words={label: tuple(words["train"]) for label, words in data["words"].items()},
        things=tuple(data["things"]),
        licence=data["licence"],
        name=data["name"],
    )


def load_pairs(path: Path = PAIRS_FILE) -> tuple[tuple[str, str], ...]:
    return tuple((first, second) for first, second in json.loads(path.read_text(encoding="utf-8"))["pairs"])


def draw_examples(task: Task, per_class: int, seed: int) -> list[tuple[str, int]]:
    """`per_class` training examples of each label, drawn without replacement from the pool, seeded."""
    rng = random.Random(seed)
    drawn = []
    for label in range(len(task.labels)):
        pool = [example for example in task.train_pool if example[1] == label]
        if per_class > len(pool):
            raise ValueError(f"The pool holds {len(pool)} examples per class: ask for at most that many.")
        drawn += rng.sample(pool, per_class)
    rng.shuffle(drawn)
    return drawn


def synonym_replacement(task: Task, examples: list[tuple[str, int]], seed: int) -> list[tuple[str, int]]:
    """One new example per example: its describing word swapped for another of the same label, and the thing
    reviewed swapped for another (synonym replacement, label-preserving). Only words the training pool uses are
    swapped in: augmentation must not leak the test split's words."""
    rng = random.Random(seed + 1)
    label_of_word = {word: label for label, words in task.train_words.items() for word in words}
    augmented = []
    for text, label in examples:
        words = text.rstrip(".!?").replace(",", "").split()
        new_text = text
        for word in words:
            bare = word.lower()
            if bare in label_of_word:
                choices = [w for w in task.train_words[label_of_word[bare]] if w != bare]
                replacement = rng.choice(choices)
                new_text = new_text.replace(word, replacement.capitalize() if word[0].isupper() else replacement, 1)
                break
        for thing in sorted(task.things, key=len, reverse=True):
            if thing in new_text:
                new_text = new_text.replace(thing, rng.choice([t for t in task.things if t != thing]), 1)
                break
        augmented.append((new_text, label))
    return augmented


@dataclass
class Batch:
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor


def tokenize(tokenizer: Any, examples: list[tuple[str, int]] | tuple[tuple[str, int], ...]) -> Batch:
    encoded = tokenizer(
        [text for text, _ in examples], padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
    )
    return Batch(encoded["input_ids"], encoded["attention_mask"], torch.tensor([label for _, label in examples]))


def _rows(batch: Batch, rows: torch.Tensor | slice) -> Batch:
    return Batch(batch.input_ids[rows], batch.attention_mask[rows], batch.labels[rows])


# ---------------------------------------------------------------------------------------------
# 2. The models


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """all-MiniLM-L6-v2's pooling: the mean of the token vectors, padding left out."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def encode(encoder: torch.nn.Module, batch: Batch) -> torch.Tensor:
    output = encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    return mean_pool(output.last_hidden_state, batch.attention_mask)


def _scratch_init(model: torch.nn.Module, generator: torch.Generator, std: float) -> None:
    """BERT's own initialisation (normal(0, 0.02) weights, zero biases, unit LayerNorms), from `generator`
    rather than torch's global one, so another student's work can never change this run's start."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                if isinstance(module, torch.nn.Linear) and module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, torch.nn.LayerNorm):
                module.weight.fill_(1.0)
                module.bias.zero_()


def build_encoder(
    pretrained: torch.nn.Module, strategy: Strategy, settings: FinetuneSettings, generator: torch.Generator
) -> torch.nn.Module:
    """This strategy's copy of the encoder, with exactly the parameters it trains left trainable."""
    encoder = copy.deepcopy(pretrained).float().cpu()
    encoder.eval()  # no dropout: the same settings give the same curves
    for parameter in encoder.parameters():
        parameter.requires_grad_(False)
    if strategy == "scratch":
        _scratch_init(encoder, generator, getattr(encoder.config, "initializer_range", 0.02))
        for parameter in encoder.parameters():
            parameter.requires_grad_(True)
    elif strategy == "full":
        for parameter in encoder.parameters():
            parameter.requires_grad_(True)
    elif strategy == "top":
        layers = encoder.encoder.layer
        for layer in layers[max(0, len(layers) - settings.top_layers) :]:
            for parameter in layer.parameters():
                parameter.requires_grad_(True)
    elif strategy == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=settings.lora_rank,
            lora_alpha=2 * settings.lora_rank,
            lora_dropout=0.0,
            target_modules=["query", "value"],
            bias="none",
        )
        encoder = get_peft_model(encoder, config)
        with torch.no_grad():  # adapters drawn from this run's generator (B stays 0: training starts at the encoder)
            for name, parameter in encoder.named_parameters():
                if "lora_A" in name:
                    bound = 1.0 / math.sqrt(parameter.shape[1])
                    parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * bound)
        encoder.eval()
    return encoder


def count_trainable(*modules: torch.nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters over `modules`."""
    parameters = [p for module in modules for p in module.parameters()]
    return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)


def encoder_weights(encoder: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The encoder's own weights (LoRA's adapters left out), by their names in the plain model."""
    weights = {}
    for name, parameter in encoder.named_parameters():
        if "lora_" in name:
            continue
        plain = name.replace("base_model.model.", "").replace(".base_layer", "")
        weights[plain] = parameter.detach()
    return weights


# ---------------------------------------------------------------------------------------------
# 3. Training, one step at a time


def _direct(work: Callable[[], T]) -> T:
    return work()


@torch.no_grad()
def evaluate(
    reader: "Reader", head: torch.nn.Module, labels: torch.Tensor, rows: torch.Tensor | slice = slice(None)
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) on `rows` of the reader's batch."""
    index = torch.arange(len(labels))[rows]
    losses, correct = 0.0, 0
    for start in range(0, len(index), EVAL_BATCH):
        chunk = index[start : start + EVAL_BATCH]
        logits = head(reader.pooled(chunk))
        losses += float(torch.nn.functional.cross_entropy(logits, labels[chunk], reduction="sum"))
        correct += int((logits.argmax(-1) == labels[chunk]).sum())
    return losses / len(index), correct / len(index)


@torch.no_grad()
def sentence_embeddings(encoder: torch.nn.Module, tokenizer: Any, sentences: list[str]) -> torch.Tensor:
    batch = tokenize(tokenizer, [(sentence, 0) for sentence in sentences])
    return torch.nn.functional.normalize(encode(encoder, batch), dim=-1)


def paraphrase_retrieval(first: torch.Tensor, second: torch.Tensor) -> float:
    """Share of first sentences whose most similar second sentence is their own paraphrase."""
    return float((first @ second.T).argmax(-1).eq(torch.arange(len(first))).float().mean())


def forgetting_probe(
    pretrained: torch.nn.Module, trained: torch.nn.Module, tokenizer: Any, pairs: tuple[tuple[str, str], ...]
) -> ForgettingProbe:
    firsts, seconds = [first for first, _ in pairs], [second for _, second in pairs]
    before = [sentence_embeddings(pretrained, tokenizer, part) for part in (firsts, seconds)]
    after = [sentence_embeddings(trained, tokenizer, part) for part in (firsts, seconds)]
    drift = 1.0 - float(torch.cat([(b * a).sum(-1) for b, a in zip(before, after)]).mean())
    old, new = encoder_weights(pretrained), encoder_weights(trained)
    change = math.sqrt(sum(float((new[name] - old[name]).pow(2).sum()) for name in old))
    size = math.sqrt(sum(float(weight.pow(2).sum()) for weight in old.values()))
    return ForgettingProbe(paraphrase_retrieval(*before), paraphrase_retrieval(*after), drift, change / size)


def frozen_layers(encoder: torch.nn.Module, strategy: Strategy, settings: FinetuneSettings) -> int | None:
    """How many bottom layers never change in this strategy (their output can be computed once), or None
    when the whole encoder is frozen (the pooled vectors themselves can be computed once)."""
    if strategy == "probe":
        return None
    if strategy == "top":
        return max(0, len(encoder.encoder.layer) - settings.top_layers)
    return 0


@torch.no_grad()
def layer_inputs(encoder: torch.nn.Module, batch: Batch, layer: int) -> torch.Tensor:
    """The hidden states entering layer `layer` (0: the embeddings' output)."""
    return torch.cat(
        [
            encoder(
                input_ids=rows.input_ids, attention_mask=rows.attention_mask, output_hidden_states=True
            ).hidden_states[layer]
            for rows in (
                _rows(batch, slice(start, start + EVAL_BATCH)) for start in range(0, len(batch.labels), EVAL_BATCH)
            )
        ]
    )


def encode_from(encoder: torch.nn.Module, hidden: torch.Tensor, mask: torch.Tensor, layer: int) -> torch.Tensor:
    """Run layers `layer`… on cached hidden states and pool: the same vectors as `encode`, without recomputing
    the frozen layers below."""
    additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    for block in encoder.encoder.layer[layer:]:
        output = block(hidden, additive)
        hidden = output[0] if isinstance(output, tuple) else output
    return mean_pool(hidden, mask)


class Reader:
    """Pooled sentence vectors for rows of one batch, reusing what the frozen part of the encoder computed once."""

    def __init__(self, encoder: torch.nn.Module, batch: Batch, frozen: int | None) -> None:
        self.encoder, self.batch, self.frozen = encoder, batch, frozen
        if frozen is None:
            self.cache = _features(encoder, batch)
        elif frozen > 0:
            self.cache = layer_inputs(encoder, batch, frozen)
        else:
            self.cache = None

    def pooled(self, rows: torch.Tensor | slice) -> torch.Tensor:
        if self.frozen is None:
            return self.cache[rows]
        if self.cache is None:
            return encode(self.encoder, _rows(self.batch, rows))
        return encode_from(self.encoder, self.cache[rows], self.batch.attention_mask[rows], self.frozen)


def _test_for_curves(test: Batch, per_class: int) -> torch.Tensor:
    """The first `per_class` test sentences of each label: the per-epoch curve reads these, the final score all."""
    picked = [torch.nonzero(test.labels == label).flatten()[:per_class] for label in test.labels.unique()]
    return torch.cat(picked).sort().values


def train_strategy(
    pretrained: torch.nn.Module,
    tokenizer: Any,
    strategy: Strategy,
    settings: FinetuneSettings,
    train: Batch,
    test: Batch,
    *,
    pairs: tuple[tuple[str, str], ...] = (),
    on_epoch: Callable[[EpochRecord], None] = lambda record: None,
    should_stop: Callable[[], bool] = lambda: False,
    step: Callable[[Callable[[], Any]], Any] = _direct,
    keep: list | None = None,
) -> StrategyResult:
    """Train one strategy for `settings.epochs` epochs (`keep`, when given, receives the trained encoder and head,
    for inspection). Each optimiser step goes through `step` (the shared
    engine runs it between other students' work); `should_stop` is asked between steps. The test curve reads
    CURVE_TEST_PER_CLASS sentences of each label after every epoch; the last epoch reads the whole test split."""
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(settings.seed * 1_000 + STRATEGIES.index(strategy))
    encoder = build_encoder(pretrained, strategy, settings, generator)
    head = torch.nn.Linear(pretrained.config.hidden_size, int(max(train.labels.max(), test.labels.max())) + 1)
    with torch.no_grad():
        head.weight.copy_(torch.randn(head.weight.shape, generator=generator) * 0.02)
        head.bias.zero_()
    trainable, total = count_trainable(encoder, head)
    frozen = frozen_layers(encoder, strategy, settings)
    train_reader = step(lambda: Reader(encoder, train, frozen))
    test_reader = step(lambda: Reader(encoder, test, frozen))
    curve_rows = _test_for_curves(test, CURVE_TEST_PER_CLASS)
    encoder_parameters = [p for p in encoder.parameters() if p.requires_grad]
    groups = [{"params": list(head.parameters()), "lr": settings.head_lr}]
    if encoder_parameters:
        # Adapters start at zero and need a faster rate than pre-trained weights, but not the head's: at the
        # head's rate they were seen to move the encoder's sentence vectors further than full fine-tuning.
        rate = (
            min(settings.head_lr, ADAPTER_LR_FACTOR * settings.encoder_lr)
            if strategy == "lora"
            else settings.encoder_lr
        )
        groups.append({"params": encoder_parameters, "lr": rate})
    optimiser = torch.optim.AdamW(groups, weight_decay=0.0)
    history: list[EpochRecord] = []
    diverged_at = None
    stopped = False
    for epoch in range(1, settings.epochs + 1):
        order = torch.randperm(len(train.labels), generator=generator)
        losses, correct = [], 0
        for start in range(0, len(order), settings.batch_size):
            if should_stop():
                stopped = True
                break
            rows = order[start : start + settings.batch_size]
            loss, right = step(lambda rows=rows: _train_step(train_reader, head, optimiser, rows, train.labels[rows]))
            losses.append(loss * len(rows))
            correct += right
        if stopped:
            break
        train_loss = sum(losses) / len(train.labels)
        if not math.isfinite(train_loss) or train_loss > DIVERGED_LOSS_FACTOR * math.log(head.out_features):
            diverged_at = epoch  # the loss exploded: the model now says nonsense with confidence
            break
        rows = slice(None) if epoch == settings.epochs else curve_rows
        test_loss, test_accuracy = step(lambda rows=rows: evaluate(test_reader, head, test.labels, rows))
        record = EpochRecord(strategy, epoch, train_loss, correct / len(train.labels), test_loss, test_accuracy)
        history.append(record)
        on_epoch(record)
    if keep is not None:
        keep.extend([encoder, head])
    forgetting = None
    if strategy != "scratch" and not stopped and diverged_at is None and pairs:
        forgetting = step(lambda: forgetting_probe(pretrained, encoder, tokenizer, pairs))
    return StrategyResult(
        strategy, trainable, total, tuple(history), forgetting, diverged_at, stopped, time.perf_counter() - started
    )


@torch.no_grad()
def _features(encoder: torch.nn.Module, batch: Batch) -> torch.Tensor:
    return torch.cat(
        [
            encode(encoder, _rows(batch, slice(start, start + EVAL_BATCH)))
            for start in range(0, len(batch.labels), EVAL_BATCH)
        ]
    )


def _train_step(
    reader: Reader, head: torch.nn.Module, optimiser: torch.optim.Optimizer, rows: torch.Tensor, labels: torch.Tensor
) -> tuple[float, int]:
    logits = head(reader.pooled(rows))
    loss = torch.nn.functional.cross_entropy(logits, labels)
    optimiser.zero_grad(set_to_none=True)
    if torch.isfinite(loss):
        loss.backward()
        optimiser.step()
    return float(loss.detach()), int((logits.argmax(-1) == labels).sum())


def prepare_task(tokenizer: Any, settings: FinetuneSettings, task: Task | None = None) -> tuple[Batch, Batch, int]:
    """(train batch, test batch, training examples) for `settings`: the draw, augmentation, tokenisation."""
    task = task or load_task()
    examples = draw_examples(task, settings.per_class, settings.seed)
    if settings.augment:
        examples = examples + synonym_replacement(task, examples, settings.seed)
    return tokenize(tokenizer, examples), tokenize(tokenizer, task.test), len(examples)


def run_finetune(
    pretrained: torch.nn.Module,
    tokenizer: Any,
    settings: FinetuneSettings,
    *,
    on_epoch: Callable[[EpochRecord], None] = lambda record: None,
    should_stop: Callable[[], bool] = lambda: False,
    step: Callable[[Callable[[], Any]], Any] = _direct,
) -> FinetuneResult:
    """Every strategy of `settings`, one after the other, on the same examples."""
    with torch.inference_mode(False):
        train, test, size = prepare_task(tokenizer, settings)
        pairs = load_pairs()
        results = []
        for strategy in settings.strategies:
            result = train_strategy(
                pretrained,
                tokenizer,
                strategy,
                settings,
                train,
                test,
                pairs=pairs,
                on_epoch=on_epoch,
                should_stop=should_stop,
                step=step,
            )
            results.append(result)
            if result.stopped:
                break
    return FinetuneResult(settings, tuple(results), size, len(test.labels), stopped=any(r.stopped for r in results))
