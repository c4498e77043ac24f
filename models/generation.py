"""Zero-, one- and few-shot prompts, decoded token by token with each step's probabilities. No Streamlit.

Split like a transformers pipeline:
- preprocess: `build_prompt` assembles task description + k examples + query exactly as the model reads
  it; `prepare_prompt` tokenizes it once and left-truncates it to fit the context.
- forward: `stream_generation` yields one `GenerationStep` per new token, so a page can show each token at
  once and stop at any time; `next_token_distribution` is the prompt's next-token distribution before
  generating; `score_answers` scores expected answers (the k = 0..8 experiment). All three run on the
  model's shared engine (models/continuous_batching.py), batched with every other student's requests.
- postprocess: `collect_generation` turns steps into a `GenerationResult`; `ShotCurve` gathers the scores.

Decoding follows transformers' `generate`: the same logits processors in the same order, the same
argmax or single multinomial draw per step. So greedy equals `model.generate(do_sample=False)` token for
token, and a seeded sample equals `torch.manual_seed(seed); model.generate(do_sample=True, ...)`. Each call
draws from its own `torch.Generator`, never the global one: many students share one server, and a seeded
sample is the same text whether its request ran alone or batched with forty others.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Literal, Sequence

import numpy as np
from scipy.special import softmax
from transformers import (
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from models.continuous_batching import GenerateRequest, ScoreRequest, TokenEvent, score, stream_tokens
from models.limits import (
    MAX_FEW_SHOT_EXAMPLES,
    MAX_NEW_TOKENS,
    MAX_REPETITION_PENALTY,
    MAX_SEED,
    MAX_TEMPERATURE,
    MAX_TEXT_CHARS,
    MAX_TOP_K,
    MIN_NEW_TOKENS,
    TOP_ALTERNATIVES,
)
from models.loading import LoadedModel
from models.registry import ModelEntry
from models.remote_generation import RemoteGenerator

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets" / "few_shot"

StopReason = Literal["eos", "newline", "max_new_tokens", "stopped"]


# ---------------------------------------------------------------------------------------
# Where generation runs: this process's engine, or a vLLM server (models/remote_generation.py)


@dataclass(frozen=True, eq=False)
class InProcessGenerator:
    """A causal LM loaded in this process, generating on its shared engine with every student's requests."""

    loaded: LoadedModel

    runs_here = True
    has_whole_distribution = True

    @property
    def tokenizer(self):
        return self.loaded.tokenizer

    @property
    def entry(self) -> ModelEntry:
        return self.loaded.entry

    @property
    def context_length(self) -> int:
        return self.loaded.entry.context_length

    @property
    def identity(self) -> str:
        return self.loaded.identity

    @property
    def where(self) -> str:
        return f"this app's server ({self.loaded.device.upper()})"

    def token_events(self, request: GenerateRequest, settings: DecodingSettings) -> Iterator[TokenEvent]:
        return stream_tokens(self.loaded, request)

    def scores(self, requests: Sequence[ScoreRequest]) -> list:
        return score(self.loaded, requests)


Generator = InProcessGenerator | RemoteGenerator


def as_generator(model: LoadedModel | Generator) -> Generator:
    """The page and the tests pass a loaded model or a generator; both end up as a generator."""
    return InProcessGenerator(model) if isinstance(model, LoadedModel) else model


# ---------------------------------------------------------------------------------------
# Presets and labelled sets (assets/few_shot)


@dataclass(frozen=True)
class Example:
    """One demonstration: `input` and the `output` the task asks for."""

    input: str
    output: str


@dataclass(frozen=True)
class Preset:
    """A prompt from the course: task description, examples and a query.

    `answer` is the expected answer to `query` ("" for free generation such as the unicorn prompt);
    `few_k` is how many examples "few-shot" uses by default.
    """

    key: str
    title: str
    task: str
    separator: str
    examples: tuple[Example, ...]
    query: str
    answer: str
    few_k: int
    stop_at_newline: bool
    max_new_tokens: int
    note: str


@dataclass(frozen=True)
class LabelledSet:
    """A small labelled set for the k = 0..max experiment.

    The first k `demonstrations` go in the prompt; each of the `items` is then asked as the query.
    """

    key: str
    title: str
    task: str
    separator: str
    demonstrations: tuple[Example, ...]
    items: tuple[Example, ...]
    note: str


def _examples(pairs: Sequence[Sequence[str]]) -> tuple[Example, ...]:
    return tuple(Example(str(source), str(target)) for source, target in pairs)


def load_presets(path: Path = ASSETS_DIR / "presets.json") -> tuple[Preset, ...]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return tuple(
        Preset(
            key=item["key"],
            title=item["title"],
            task=item["task"],
            separator=item["separator"],
            examples=_examples(item["examples"]),
            query=item["query"],
            answer=item["answer"],
            few_k=int(item["few_k"]),
            stop_at_newline=bool(item["stop_at_newline"]),
            max_new_tokens=int(item["max_new_tokens"]),
            note=item["note"],
        )
        for item in data["presets"]
    )


def load_labelled_sets(folder: Path = ASSETS_DIR / "labelled") -> tuple[LabelledSet, ...]:
    sets = []
    for path in sorted(folder.glob("*.json")):
        item = json.loads(path.read_text(encoding="utf-8"))
        sets.append(
            LabelledSet(
                key=path.stem,
                title=item["title"],
                task=item["task"],
                separator=item["separator"],
                demonstrations=_examples(item["demonstrations"]),
                items=_examples(item["items"]),
                note=item["note"],
            )
        )
    return tuple(sets)


def examples_to_json(examples: Sequence[Example]) -> str:
    """Examples as a compact JSON list of [input, output] pairs (how a page keeps them in its URL)."""
    return json.dumps(
        [[example.input, example.output] for example in examples], ensure_ascii=False, separators=(",", ":")
    )


def examples_from_json(raw: str) -> tuple[Example, ...]:
    """The inverse of `examples_to_json`; raises ValueError on anything else."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as error:  # a link can nest "[[[[…" past the stack
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(data, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(text, str) for text in pair) for pair in data
    ):
        raise ValueError("expected a list of [input, output] pairs of strings")
    return _examples(data)


# ---------------------------------------------------------------------------------------
# Preprocess: the prompt


def example_line(example: Example, separator: str) -> str:
    return f"{example.input.strip()}{separator}{example.output.strip()}"


def query_line(query: str, separator: str) -> str:
    # No trailing space: GPT-2's tokens carry their leading space, so the answer brings its own.
    return f"{query.strip()}{separator.rstrip()}"


def answer_continuation(answer: str, separator: str) -> str:
    """The text that follows a query line when the answer is right (" fromage" after "cheese =>")."""
    return separator[len(separator.rstrip()) :] + answer.strip()


def build_prompt(task: str, examples: Sequence[Example], query: str, k: int, separator: str = " => ") -> str:
    """The prompt exactly as the model reads it: the task, the first `k` examples and the query, one per line.

    An empty task or query is left out, so a task description alone is a free prompt (the unicorn).
    """
    if not 0 <= k <= len(examples):
        raise ValueError(f"k = {k} examples asked for, but {len(examples)} are given")
    lines = [task.rstrip()] if task.strip() else []
    lines += [example_line(example, separator) for example in examples[:k]]
    if query.strip():
        lines.append(query_line(query, separator))
    return "\n".join(lines)


@dataclass(frozen=True)
class PreparedPrompt:
    """A prompt tokenized once and cut to fit the context, keeping its end.

    ids: np.ndarray  # (tokens,) int64, what the model reads
    pieces: the text of each token in `ids`; `text` is `ids` decoded.
    `total_tokens` were in the text; the first `dropped_tokens` were cut so that the prompt plus the new
    tokens fit the context. `dropped_chars` were cut from the start before tokenizing (MAX_TEXT_CHARS).
    `shared_tokens`: the start other students' prompts likely share (everything before the last line: the
    task and the examples; or, for a one-line prompt, all of it but the last token), computed once for all.
    """

    text: str
    ids: np.ndarray
    pieces: tuple[str, ...]
    total_tokens: int
    dropped_tokens: int
    dropped_chars: int
    shared_tokens: int = 0


def prompt_room(context_length: int, max_new_tokens: int) -> int:
    """How many prompt tokens fit next to `max_new_tokens` new ones."""
    return context_length - max_new_tokens


def prepare_prompt(tokenizer, text: str, *, max_new_tokens: int, context_length: int) -> PreparedPrompt:
    if not text.strip():
        raise ValueError("The prompt is empty: write a task description, examples or a query.")
    if not MIN_NEW_TOKENS <= max_new_tokens < context_length:
        raise ValueError(f"max new tokens must be between {MIN_NEW_TOKENS} and {context_length - 1}")
    dropped_chars = max(0, len(text) - MAX_TEXT_CHARS)
    ids = tokenizer(text[dropped_chars:], add_special_tokens=False)["input_ids"]
    dropped_tokens = max(0, len(ids) - prompt_room(context_length, max_new_tokens))
    kept = ids[dropped_tokens:]
    pieces = tuple(tokenizer.batch_decode([[token] for token in kept]))
    return PreparedPrompt(
        text=tokenizer.decode(kept) if dropped_tokens or dropped_chars else text,
        ids=np.asarray(kept, dtype=np.int64),
        pieces=pieces,
        total_tokens=len(ids),
        dropped_tokens=dropped_tokens,
        dropped_chars=dropped_chars,
        shared_tokens=shared_start(pieces),
    )


def shared_start(pieces: Sequence[str]) -> int:
    """How many leading tokens a prompt likely shares with other students': up to the last line break
    before its final token (the preset's task and examples, not the student's own query), else all but
    the last token (a free prompt such as the unicorn, continued with different seeds)."""
    for index in range(len(pieces) - 2, -1, -1):
        if "\n" in pieces[index]:
            return index + 1
    return max(0, len(pieces) - 1)


# ---------------------------------------------------------------------------------------
# Decoding settings, checked up front


@dataclass(frozen=True)
class DecodingSettings:
    """How each next token is chosen; invalid values raise ValueError saying what is allowed.

    `temperature` 0 means greedy. `top_k` 0 and `top_p` 1 switch those filters off; `top_p` 0 keeps only
    the most likely token (transformers keeps at least one). `repetition_penalty` 1 is off.
    """

    sample: bool = False
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    max_new_tokens: int = 40
    stop_at_newline: bool = False
    seed: int = 0
    alternatives: int = TOP_ALTERNATIVES

    def __post_init__(self) -> None:
        checks = [
            (
                MIN_NEW_TOKENS <= self.max_new_tokens <= MAX_NEW_TOKENS,
                f"max new tokens must be between {MIN_NEW_TOKENS} and {MAX_NEW_TOKENS}",
            ),
            (0.0 <= self.temperature <= MAX_TEMPERATURE, f"temperature must be between 0 and {MAX_TEMPERATURE:g}"),
            (0 <= self.top_k <= MAX_TOP_K, f"top-k must be between 0 (off) and {MAX_TOP_K}"),
            (0.0 <= self.top_p <= 1.0, "top-p must be between 0 and 1 (1 is off)"),
            (
                1.0 <= self.repetition_penalty <= MAX_REPETITION_PENALTY,
                f"repetition penalty must be between 1 (off) and {MAX_REPETITION_PENALTY:g}",
            ),
            (0 <= self.seed <= MAX_SEED, f"seed must be a whole number between 0 and {MAX_SEED}"),
            (1 <= self.alternatives <= MAX_TOP_K, f"alternatives must be between 1 and {MAX_TOP_K}"),
        ]
        for ok, message in checks:
            if not ok:  # NaN fails every comparison, so it lands here too
                raise ValueError(message)

    @property
    def greedy(self) -> bool:
        return not self.sample or self.temperature == 0.0


def settings_notes(settings: DecodingSettings) -> list[str]:
    """What the settings mean when they are at a special value, for the page to say out loud."""
    notes = []
    if settings.sample and settings.temperature == 0.0:
        notes.append("Temperature 0 means greedy decoding: always the most likely token (the seed plays no part).")
    if not settings.greedy and settings.top_p == 0.0:
        notes.append("Top-p 0 keeps only the single most likely token, so sampling becomes greedy.")
    if not settings.greedy and settings.top_k == 1:
        notes.append("Top-k 1 keeps only the single most likely token, so sampling becomes greedy.")
    return notes


def processors_key(settings: DecodingSettings) -> tuple:
    """Settings with equal keys get equal `logits_processors`, so the engine filters their rows together."""
    if settings.greedy:
        return ("greedy", settings.repetition_penalty)
    return ("sample", settings.repetition_penalty, settings.temperature, settings.top_k, settings.top_p)


def logits_processors(settings: DecodingSettings) -> LogitsProcessorList:
    """transformers' own processors, in the order `generate` applies them."""
    processors = LogitsProcessorList()
    if settings.repetition_penalty != 1.0:
        processors.append(RepetitionPenaltyLogitsProcessor(settings.repetition_penalty))
    if settings.greedy:
        return processors
    if settings.temperature != 1.0:
        processors.append(TemperatureLogitsWarper(float(settings.temperature)))
    if settings.top_k:
        processors.append(TopKLogitsWarper(settings.top_k))
    if settings.top_p < 1.0:
        processors.append(TopPLogitsWarper(settings.top_p))
    return processors


# ---------------------------------------------------------------------------------------
# Forward: one step at a time


@dataclass(frozen=True, eq=False)
class GenerationStep:
    """One generated token and what the model thought at that step.

    `probability` is the model's own probability of the token (softmax of the logits, before any decoding
    setting); `filtered_probability` its probability in the distribution it was actually chosen from (after
    repetition penalty, temperature, top-k, top-p). `elapsed_s` counts from the start of the call, so the
    first step's is the time to first token. `stop_reason` is set on the step that ended the generation.
    alternative_ids: np.ndarray  # (alternatives,) int64, the model's most likely tokens, best first
    alternative_probs: np.ndarray  # (alternatives,) float32, their probabilities
    """

    index: int
    token_id: int
    piece: str
    probability: float
    filtered_probability: float
    alternative_ids: np.ndarray
    alternative_pieces: tuple[str, ...]
    alternative_probs: np.ndarray
    elapsed_s: float
    stop_reason: StopReason | None


def stream_generation(
    model: LoadedModel | Generator, prompt: PreparedPrompt, settings: DecodingSettings
) -> Iterator[GenerationStep]:
    """Generate after `prompt`, yielding each token as soon as it is chosen.

    Stops at the end-of-text token, at a newline when `settings.stop_at_newline`, or after
    `settings.max_new_tokens`; the consumer may also stop early by closing the iterator, which cancels the
    request at the engine's next step (on a generation server, the closed connection aborts it). Other students'
    generations run in the same steps.
    """
    generator = as_generator(model)
    if len(prompt.ids) + settings.max_new_tokens > generator.context_length:
        raise ValueError(
            "The prompt and the new tokens do not fit the context: prepare the prompt with these settings."
        )
    tokenizer = generator.tokenizer
    request = GenerateRequest(
        prompt=tuple(int(token) for token in prompt.ids),
        shared=prompt.shared_tokens,
        max_new_tokens=settings.max_new_tokens,
        greedy=settings.greedy,
        seed=settings.seed,
        processors=logits_processors(settings),
        processors_key=processors_key(settings),
        alternatives=settings.alternatives,
        stop_at_newline=settings.stop_at_newline,
    )
    started = time.perf_counter()
    events = generator.token_events(request, settings)
    with closing(events):  # a Stop closes this stream, and with it the engine's request (or the connection)
        for index, event in enumerate(events):
            # Decoding the pieces here, in the student's own thread, keeps that work off the shared engine.
            pieces = tokenizer.batch_decode([[event.token_id], *event.alternative_ids[:, None].tolist()])
            yield GenerationStep(
                index=index,
                token_id=event.token_id,
                piece=pieces[0],
                probability=event.probability,
                filtered_probability=event.filtered_probability,
                alternative_ids=event.alternative_ids,
                alternative_pieces=tuple(pieces[1:]),
                alternative_probs=event.alternative_probs,
                elapsed_s=event.at - started,
                stop_reason=event.stop,
            )


# ---------------------------------------------------------------------------------------
# Postprocess


@dataclass(frozen=True, eq=False)
class GenerationResult:
    """A finished (or stopped) generation.

    token_ids: np.ndarray  # (new tokens,) int64
    `text` is the new tokens decoded together (so characters split across tokens come out whole);
    `answer` is its first line, stripped: what a few-shot prompt asked for.
    `decode_tokens_per_s` counts the tokens after the first, which alone measure the decoding loop.
    """

    prompt: PreparedPrompt
    steps: tuple[GenerationStep, ...]
    token_ids: np.ndarray
    text: str
    answer: str
    stop_reason: StopReason
    first_token_s: float
    total_s: float
    decode_tokens_per_s: float | None


def collect_generation(tokenizer, prompt: PreparedPrompt, steps: Sequence[GenerationStep]) -> GenerationResult:
    """The result of the steps streamed so far; a stream closed early ends with stop reason "stopped"."""
    token_ids = np.array([step.token_id for step in steps], dtype=np.int64)
    text = tokenizer.decode(token_ids.tolist()) if steps else ""
    first = steps[0].elapsed_s if steps else 0.0
    total = steps[-1].elapsed_s if steps else 0.0
    return GenerationResult(
        prompt=prompt,
        steps=tuple(steps),
        token_ids=token_ids,
        text=text,
        answer=text.strip().split("\n")[0].strip(),
        stop_reason=(steps[-1].stop_reason if steps else None) or "stopped",
        first_token_s=first,
        total_s=total,
        decode_tokens_per_s=(len(steps) - 1) / (total - first) if len(steps) > 1 and total > first else None,
    )


def generate(model: LoadedModel | Generator, prompt: PreparedPrompt, settings: DecodingSettings) -> GenerationResult:
    generator = as_generator(model)
    return collect_generation(generator.tokenizer, prompt, list(stream_generation(generator, prompt, settings)))


@dataclass(frozen=True, eq=False)
class NextTokenDistribution:
    """The model's distribution over the token right after the prompt (temperature 1, no filter).

    ids: np.ndarray  # (top,) int64, most likely first
    probs: np.ndarray  # (top,) float32
    `entropy_bits` is the entropy of the whole distribution, not just the top.
    """

    ids: np.ndarray
    pieces: tuple[str, ...]
    probs: np.ndarray
    entropy_bits: float


def next_token_distribution(
    model: LoadedModel | Generator, prompt: PreparedPrompt, top: int = TOP_ALTERNATIVES
) -> NextTokenDistribution:
    """The `top` most likely next tokens; a generation server sends no entropy (NaN: not available)."""
    generator = as_generator(model)
    request = ScoreRequest(
        prompt=tuple(int(token) for token in prompt.ids), shared=prompt.shared_tokens, answer_length=0, top=top
    )
    (distribution,) = generator.scores([request])
    return NextTokenDistribution(
        ids=distribution.ids,
        pieces=tuple(generator.tokenizer.batch_decode(distribution.ids[:, None].tolist())),
        probs=distribution.probs,
        entropy_bits=distribution.entropy_bits,
    )


@dataclass(frozen=True, eq=False)
class SamplingFilter:
    """What temperature, top-k and top-p make of the next-token distribution: what sampling draws from.

    ids: (vocab,) int64, most likely first (before filtering); before: (vocab,) the model's probabilities;
    after: (vocab,) the distribution sampled from (0 for the tokens cut away); kept: (vocab,) bool.
    Entropies in bits. Greedy decoding keeps only the most likely token.
    """

    ids: np.ndarray
    before: np.ndarray
    after: np.ndarray
    kept: np.ndarray
    entropy_before_bits: float
    entropy_after_bits: float


def full_next_token_distribution(loaded: LoadedModel, prompt: PreparedPrompt) -> tuple[np.ndarray, np.ndarray]:
    """(ids, probs) over the whole vocabulary, most likely first: what the live sampling view filters."""
    request = ScoreRequest(
        prompt=tuple(int(token) for token in prompt.ids),
        shared=prompt.shared_tokens,
        answer_length=0,
        top=len(loaded.tokenizer),
    )
    (distribution,) = score(loaded, [request])
    return distribution.ids, distribution.probs


def top_tokens(tokenizer, ids: np.ndarray, probs: np.ndarray, top: int = TOP_ALTERNATIVES) -> NextTokenDistribution:
    """The `top` most likely tokens of a whole-vocabulary distribution (from `full_next_token_distribution`),
    with the entropy of all of it: what `next_token_distribution` gives, without asking the model again."""
    return NextTokenDistribution(
        ids=ids[:top],
        pieces=tuple(tokenizer.batch_decode(ids[:top, None].tolist())),
        probs=probs[:top],
        entropy_bits=_entropy_bits(probs.astype(np.float64)),
    )


def sampling_filter(ids: np.ndarray, probs: np.ndarray, settings: DecodingSettings) -> SamplingFilter:
    """Temperature, then top-k, then top-p on the model's distribution, as transformers' warpers do (ties at
    the k-th value kept; top-p keeps the smallest set of most likely tokens reaching p, at least one). No model
    run: the page redraws this on every slider move. The repetition penalty needs the raw logits of the text
    so far, so it is left to the generation itself."""
    before = probs.astype(np.float64)
    with np.errstate(divide="ignore"):
        log_probs = np.log(before)
    kept = np.zeros(len(before), dtype=bool)
    if settings.greedy:
        kept[int(np.argmax(before))] = True
        scaled = log_probs
    else:
        scaled = log_probs / settings.temperature
        kept[:] = np.isfinite(scaled)
        if settings.top_k:
            kth = np.sort(scaled)[::-1][min(settings.top_k, len(scaled)) - 1]
            kept &= scaled >= kth
        if settings.top_p < 1.0:
            shares = softmax(np.where(kept, scaled, -np.inf))
            order = np.argsort(shares, kind="stable")  # least likely first, as TopPLogitsWarper sorts
            cumulative = np.cumsum(shares[order])
            cut = cumulative <= 1.0 - settings.top_p
            cut[-1] = False  # the most likely token always stays
            kept[order[cut]] = False
    after = softmax(np.where(kept, scaled, -np.inf))
    return SamplingFilter(
        ids=ids,
        before=before,
        after=after,
        kept=kept,
        entropy_before_bits=_entropy_bits(before),
        entropy_after_bits=_entropy_bits(after),
    )


def _entropy_bits(probs: np.ndarray) -> float:
    positive = probs[probs > 0]
    return max(0.0, float(-(positive * np.log2(positive)).sum()))  # one token left: 0 bits, never "-0.0"


# ---------------------------------------------------------------------------------------
# Scoring expected answers: the shot comparison and the k = 0..max experiment


@dataclass(frozen=True, eq=False)
class AnswerScores:
    """How each prompt's expected answer fares.

    probabilities: np.ndarray  # (items,) P(all answer tokens | prompt), teacher-forced
    correct: np.ndarray  # (items,) bool: each answer token is the argmax, i.e. greedy decoding writes the answer
    `first_guesses` are the model's most likely first token after each prompt.
    """

    probabilities: np.ndarray
    correct: np.ndarray
    first_guesses: tuple[str, ...]

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean())

    @property
    def mean_probability(self) -> float:
        return float(self.probabilities.mean())


def _shared_prefix_length(sequences: Sequence[Sequence[int]]) -> int:
    """Tokens every sequence starts with, leaving at least one of each to run after the shared part."""
    shortest = min(len(ids) for ids in sequences)
    length = 0
    while length < shortest - 1 and all(ids[length] == sequences[0][length] for ids in sequences):
        length += 1
    return length


def score_answers(model: LoadedModel | Generator, prompts: Sequence[str], continuations: Sequence[str]) -> AnswerScores:
    """Teacher-forced scores of `continuations` (e.g. " fromage") after `prompts`.

    Prompts that share a start (the task and the same k demonstrations) compute it once: the engine caches
    it, and runs the items with everyone else's requests, a few of one student's at a time.
    """
    if len(prompts) != len(continuations) or not prompts:
        raise ValueError("give one expected answer per prompt, and at least one prompt")
    generator = as_generator(model)
    tokenizer = generator.tokenizer
    prompt_ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in prompts]
    answer_ids = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in continuations]
    if any(not ids for ids in prompt_ids) or any(not ids for ids in answer_ids):
        raise ValueError("every prompt and every expected answer needs some text")
    shared = _shared_prefix_length(prompt_ids) if len(prompt_ids) > 1 else 0
    requests = [
        ScoreRequest(prompt=tuple(ids + answer), shared=shared, answer_length=len(answer))
        for ids, answer in zip(prompt_ids, answer_ids)
    ]
    scores = generator.scores(requests)
    return AnswerScores(
        probabilities=np.array([math.exp(result.log_probability) for result in scores], dtype=np.float32),
        correct=np.array([result.all_argmax for result in scores], dtype=bool),
        first_guesses=tuple(tokenizer.batch_decode([[result.first_argmax] for result in scores])),
    )


def labelled_prompts(labelled: LabelledSet, k: int) -> tuple[list[str], list[str]]:
    """Each item asked after the first `k` demonstrations, and the continuation that answers it."""
    prompts = [
        build_prompt(labelled.task, labelled.demonstrations, item.input, k, labelled.separator)
        for item in labelled.items
    ]
    answers = [answer_continuation(item.output, labelled.separator) for item in labelled.items]
    return prompts, answers


def score_shots(model: LoadedModel | Generator, labelled: LabelledSet, k: int) -> AnswerScores:
    """Score every item of `labelled` with `k` demonstrations in the prompt (no gradient step: only the prompt changes)."""
    if not 0 <= k <= min(len(labelled.demonstrations), MAX_FEW_SHOT_EXAMPLES):
        raise ValueError(f"k must be between 0 and {len(labelled.demonstrations)} for this set")
    return score_answers(model, *labelled_prompts(labelled, k))


@dataclass(frozen=True, eq=False)
class ShotCurve:
    """Accuracy and mean probability of the right answer against the number of examples k.

    ks: np.ndarray  # (points,) int64
    accuracy: np.ndarray  # (points,) float32, fraction of items answered right by greedy decoding
    mean_probability: np.ndarray  # (points,) float32, mean P(right answer)
    item_probabilities: np.ndarray  # (points, items) float32
    item_correct: np.ndarray  # (points, items) bool
    """

    ks: np.ndarray
    accuracy: np.ndarray
    mean_probability: np.ndarray
    item_probabilities: np.ndarray
    item_correct: np.ndarray

    @property
    def accuracy_error(self) -> np.ndarray:
        """(points,) standard error of each accuracy over the items: the items are a sample of the task."""
        return _standard_error(self.item_correct.astype(np.float64))

    @property
    def probability_error(self) -> np.ndarray:
        """(points,) standard error of each mean probability over the items."""
        return _standard_error(self.item_probabilities.astype(np.float64))

    @classmethod
    def from_scores(cls, ks: Sequence[int], scores: Sequence[AnswerScores]) -> ShotCurve:
        return cls(
            ks=np.asarray(ks, dtype=np.int64),
            accuracy=np.array([score.accuracy for score in scores], dtype=np.float32),
            mean_probability=np.array([score.mean_probability for score in scores], dtype=np.float32),
            item_probabilities=np.stack([score.probabilities for score in scores]),
            item_correct=np.stack([score.correct for score in scores]),
        )


def _standard_error(values: np.ndarray) -> np.ndarray:
    """(points, items) -> (points,): sample standard deviation over the items / √items (0 with one item)."""
    items = values.shape[1]
    if items < 2:
        return np.zeros(values.shape[0])
    return values.std(axis=1, ddof=1) / np.sqrt(items)
