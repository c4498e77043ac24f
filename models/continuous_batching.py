"""GPT-2 for a whole class at once: continuous batching at the token step. No Streamlit here.

Every step of the decode lane runs ONE forward pass of the model over
- the next token of every generation that is decoding (one row each),
- a chunk of the prompt of each request that has just joined (prefill), and
- the prompts of scoring requests (the k-shot experiment, the next-token distribution).
Requests join between steps and leave as soon as they finish or are cancelled. The linear layers,
which are most of the work, see all those tokens as one matrix; attention is computed here rather
than by transformers, because each sequence has its own length and its own past.

Keys and values live in two places:
- `Prefix`: the start of a prompt that many students share (the task and the few-shot examples of
  a preset), computed once, kept in a small LRU cache keyed by its token ids;
- `TailBuffer`: everything after the prefix, one row per sequence, for all sequences on one prefix:
  (rows, heads, tokens, head_dim) per layer, so a decode step attends to all rows in two matrix
  products instead of one small product per student.

Exactness: a batched request computes the same sums as the request alone, in a different order of
floating-point operations, so probabilities agree to about 1e-6 and tokens are the same unless the
two best logits are closer than that. Each generation draws from its own seeded generator with the
same calls `model.generate` makes, and the logits processors are transformers' own.
"""

from __future__ import annotations

import math
import queue
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence as Seq

import numpy as np
import torch
from transformers import LogitsProcessorList

from models.engine import (
    WAIT_POLL_S,
    Engine,
    QueueStatus,
    RequestCancelled,
    Ticket,
    current_requester,
    engine_for,
    request_failed,
)
from models.limits import (
    ENGINE_ABANDON_S,
    ENGINE_KV_BUDGET_MB,
    ENGINE_MAX_SEQUENCES,
    ENGINE_PREFIX_CACHE_MB,
    ENGINE_SESSION_SEQUENCES,
    ENGINE_STEP_TOKENS,
    MIN_SHARED_PREFIX_TOKENS,
)
from models.memory import release_freed_memory

_END = object()  # the last item of a generation's event queue


# ---------------------------------------------------------------------------------------
# What callers ask for


@dataclass(frozen=True, eq=False)
class GenerateRequest:
    """Continue `prompt` (token ids) for up to `max_new_tokens`.

    `shared`: how many leading tokens other students' prompts are likely to share (the preset's task and
    examples); they are computed once and cached. `processors` are transformers' logits processors in
    generate's order; requests with the same `processors_key` have equal processors and are filtered
    together. `greedy` takes the argmax, else one multinomial draw from a generator seeded with `seed`.
    """

    prompt: tuple[int, ...]
    shared: int
    max_new_tokens: int
    greedy: bool
    seed: int
    processors: LogitsProcessorList
    processors_key: tuple
    alternatives: int
    stop_at_newline: bool


@dataclass(frozen=True, eq=False)
class ScoreRequest:
    """Teacher-forced scores of the last `answer_length` tokens of `prompt`, or, with `answer_length`
    0, the distribution of the token after `prompt` (its `top` most likely tokens and its entropy)."""

    prompt: tuple[int, ...]
    shared: int
    answer_length: int
    top: int = 10


@dataclass(frozen=True, eq=False)
class TokenEvent:
    """One token chosen for a generation, and what the model thought at that step.

    alternative_ids: (alternatives,) int64, the model's most likely tokens; alternative_probs: their
    probabilities (float32). `at` is time.perf_counter() when it was chosen; `stop` is set on the last.
    """

    token_id: int
    probability: float
    filtered_probability: float
    alternative_ids: np.ndarray
    alternative_probs: np.ndarray
    at: float
    stop: str | None


@dataclass(frozen=True)
class AnswerScore:
    """log P(answer | prompt), whether every answer token is the argmax, and the argmax at the first one."""

    log_probability: float
    all_argmax: bool
    first_argmax: int


@dataclass(frozen=True, eq=False)
class Distribution:
    """The next-token distribution: ids, probs (top, best first) and the entropy of all of it, in bits."""

    ids: np.ndarray
    probs: np.ndarray
    entropy_bits: float


class GenerationTicket(Ticket):
    """A generation's place in the lane; the worker puts TokenEvents on `events`, the consumer takes them."""

    def __init__(self, request: GenerateRequest, *, session: str) -> None:
        super().__init__(request, session=session, cost=len(request.prompt) + request.max_new_tokens)
        self.events: queue.SimpleQueue = queue.SimpleQueue()
        self.last_seen = time.perf_counter()

    def seen(self) -> None:
        self.last_seen = time.perf_counter()

    def finish(self, result: Any = None) -> None:
        super().finish(result)
        self.events.put(_END)

    def fail(self, error: BaseException) -> None:
        super().fail(error)
        self.events.put(error)


# ---------------------------------------------------------------------------------------
# Keys and values


@dataclass(eq=False)
class Prefix:
    """A shared prompt start: keys and values per layer, (heads, tokens, head_dim)."""

    ids: tuple[int, ...]
    keys: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*self.keys, *self.values))


class PrefixCache:
    """Shared prompt starts by token ids, least recently used let go past `max_bytes`.

    A prefix still used by a running sequence stays alive through that sequence; it is only
    forgotten here, and freed when the sequence ends.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[int, ...], Prefix] = OrderedDict()

    def get(self, ids: tuple[int, ...]) -> Prefix | None:
        found = self._entries.get(ids)
        if found is not None:
            self._entries.move_to_end(ids)
        return found

    def add(self, prefix: Prefix) -> None:
        self._entries[prefix.ids] = prefix
        self._entries.move_to_end(prefix.ids)
        while len(self._entries) > 1 and self.nbytes > self.max_bytes:
            self._entries.popitem(last=False)

    @property
    def nbytes(self) -> int:
        return sum(entry.nbytes for entry in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()


# A buffer's length: sequences are grouped by how many tokens they may need, so one student's
# 200-token request does not make every short answer's row 200 tokens long.
TOKEN_BUCKETS = tuple(sorted({2**k for k in range(5, 12)} | {3 * 2**k for k in range(4, 10)}))


def token_bucket(tokens: int) -> int:
    """The smallest bucket that holds `tokens` (32, 48, 64, 96, 128, …)."""
    return next((bucket for bucket in TOKEN_BUCKETS if bucket >= tokens), tokens)


class TailBuffer:
    """The keys and values after one prefix, for every sequence on it that needs at most `tokens`:
    (rows, heads, tokens, head_dim) per layer.

    Rows are packed: a sequence that leaves is replaced by the last row, so rows 0..n-1 are always the
    n sequences, and a decode step reads them as one slice, without copying.
    """

    def __init__(
        self, prefix: Prefix | None, shape: tuple[int, int, int], tokens: int, dtype: torch.dtype, device: str
    ) -> None:
        self.prefix = prefix
        self.layers, self.heads, self.head_dim = shape
        self.tokens = tokens
        self.dtype, self.device = dtype, device
        self.rows: list[Sequence] = []
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.row_capacity = 0

    def _bytes(self, rows: int) -> int:
        element = torch.empty((), dtype=self.dtype).element_size()
        return 2 * self.layers * rows * self.heads * self.tokens * self.head_dim * element

    @property
    def nbytes(self) -> int:
        return self._bytes(self.row_capacity)

    def growth_for(self, room: int) -> int | None:
        """Bytes this buffer grows by to hold one more sequence, within `room` bytes; None if it cannot.

        Rows double while that fits (fewer copies as a class arrives), else grow by exactly one.
        """
        needed = len(self.rows) + 1
        if needed <= self.row_capacity:
            return 0
        for rows in (max(2 * self.row_capacity, 1), needed):
            growth = self._bytes(rows) - self.nbytes
            if growth <= room:
                return growth
        return None

    def add(self, sequence: Sequence, room: int) -> None:
        if len(self.rows) + 1 > self.row_capacity:
            doubled = max(2 * self.row_capacity, 1)
            self._grow(doubled if self._bytes(doubled) - self.nbytes <= room else len(self.rows) + 1)
        sequence.buffer, sequence.row = self, len(self.rows)
        self.rows.append(sequence)

    def remove(self, sequence: Sequence) -> None:
        last = self.rows.pop()
        if last is not sequence:
            # The whole row: a step may already have written past `last.filled` (a fault isolated mid-step).
            for store in (*self.keys, *self.values):
                store[sequence.row] = store[last.row]
            last.row = sequence.row
            self.rows[sequence.row] = last
        sequence.buffer = None

    def _grow(self, rows: int) -> None:
        shape = (rows, self.heads, self.tokens, self.head_dim)
        kept = len(self.rows)
        grown = []
        for index in range(2 * self.layers):
            new = torch.zeros(shape, dtype=self.dtype, device=self.device)
            if self.keys:
                old = (*self.keys, *self.values)[index]
                new[:kept] = old[:kept]
            grown.append(new)
        self.keys, self.values = grown[: self.layers], grown[self.layers :]
        self.row_capacity = rows


# ---------------------------------------------------------------------------------------
# Sequences: one request's state inside the lane


class Sequence:
    """A request admitted to the lane: its prompt after the prefix (`tokens`), how much of it has its keys
    and values in its buffer (`filled`), and for a generation the tokens chosen so far."""

    def __init__(self, ticket: Ticket, prefix: Prefix | None, publish: int) -> None:
        request = ticket.payload
        self.ticket = ticket
        self.request = request
        self.prefix = prefix
        self.offset = len(prefix.ids) if prefix is not None else 0
        self.tokens = list(request.prompt[self.offset :])
        self.prompt_tail = len(self.tokens)
        self.filled = 0
        self.publish = publish  # publish the first `publish` tokens as a shared prefix once they are filled
        self.buffer: TailBuffer | None = None
        self.row = -1
        self.is_generation = isinstance(request, GenerateRequest)
        self.capacity = self.prompt_tail + (request.max_new_tokens if self.is_generation else 0)
        self.generated = 0
        self.generator: torch.Generator | None = None
        self.history: torch.Tensor | None = None  # prompt + generated ids, for the repetition penalty
        self.scores: list[AnswerScore] | list[Distribution] = []
        self.answer_log_probs: list[float] = []
        self.answer_argmax: list[bool] = []
        self.first_argmax = -1

    @property
    def decoding(self) -> bool:
        return self.is_generation and self.filled >= self.prompt_tail

    def wanted(self, start: int, end: int) -> list[int]:
        """Tail positions in [start, end) whose logits this sequence needs (each predicts the token after it)."""
        last = self.prompt_tail - 1
        answer = 0 if self.is_generation else self.request.answer_length
        positions = range(last - answer, last) if answer else (last,)
        return [position for position in positions if start <= position < end]

    def remaining_work(self) -> int:
        new = self.request.max_new_tokens - self.generated if self.is_generation else 0
        return self.prompt_tail - self.filled + new


@dataclass
class _DecodeGroup:
    buffer: TailBuffer
    rows: torch.Tensor  # buffer rows decoding this step, in row order
    tokens: slice  # their token indices in the step's input
    write_at: torch.Tensor  # tail position each row's new key goes to
    length: int  # tail positions read (max over rows)
    mask: torch.Tensor | None  # additive (rows in buffer, 1, length); None when every row reads `length`
    every_row: bool  # all the buffer's rows decode this step (no rows to skip)


@dataclass
class _Chunk:
    sequence: Sequence
    start: int  # index of the chunk's first token in the step's input
    size: int
    mask: torch.Tensor  # additive causal mask (size, filled + size)


@dataclass
class _Plan:
    ids: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    decode: list[tuple[TailBuffer, list[Sequence]]] = field(default_factory=list)
    chunks: list[tuple[Sequence, int]] = field(default_factory=list)  # (sequence, chunk length)
    outputs: list[tuple[Sequence, int, int]] = field(default_factory=list)  # (sequence, input index, tail position)

    def sequences(self) -> list[Sequence]:
        seen: dict[int, Sequence] = {}
        for _, group in self.decode:
            for sequence in group:
                seen[id(sequence)] = sequence
        for sequence, _ in self.chunks:
            seen[id(sequence)] = sequence
        return list(seen.values())


# ---------------------------------------------------------------------------------------
# The forward pass over a step's tokens


def check_supported(model: torch.nn.Module) -> None:
    config = model.config
    if getattr(config, "model_type", "") != "gpt2" or not hasattr(model, "transformer"):
        raise TypeError(f"continuous batching runs GPT-2-style models, not {type(model).__name__}")
    if getattr(config, "reorder_and_upcast_attn", False) or getattr(config, "add_cross_attention", False):
        raise TypeError("continuous batching does not run GPT-2 variants with reordered or cross attention")


def _step_forward(model: torch.nn.Module, plan: _Plan, device: str) -> torch.Tensor:
    """Logits (outputs, vocab) in float32 for the plan's output rows, writing every new key and value."""
    transformer = model.transformer
    config = model.config
    heads = config.n_head
    width = config.n_embd
    head_dim = width // heads
    ids = torch.tensor(plan.ids, dtype=torch.long, device=device)
    positions = torch.tensor(plan.positions, dtype=torch.long, device=device)
    hidden = transformer.wte(ids) + transformer.wpe(positions)
    count = len(plan.ids)
    dtype = hidden.dtype
    minimum = torch.finfo(dtype).min

    groups: list[_DecodeGroup] = []
    index = 0
    for buffer, members in plan.decode:
        rows = [sequence.row for sequence in members]
        writes = [sequence.filled for sequence in members]
        every_row = len(members) == len(buffer.rows)
        length = max(writes) + 1
        mask = None
        if not every_row or min(writes) != max(writes):
            # Rows not decoding this step (still reading their prompt) see one position, so their
            # softmax stays finite; their output is thrown away.
            lengths = torch.ones(len(buffer.rows), dtype=torch.long)
            lengths[rows] = torch.tensor(writes) + 1
            mask = torch.zeros((len(buffer.rows), length), dtype=dtype)
            mask.masked_fill_(torch.arange(length)[None, :] >= lengths[:, None], minimum)
            mask = mask.unsqueeze(1).to(device)  # (rows, 1, length)
        groups.append(
            _DecodeGroup(
                buffer=buffer,
                rows=torch.tensor(rows, dtype=torch.long, device=device),
                tokens=slice(index, index + len(members)),
                write_at=torch.tensor(writes, dtype=torch.long, device=device),
                length=length,
                mask=mask,
                every_row=every_row,
            )
        )
        index += len(members)
    chunks: list[_Chunk] = []
    for sequence, size in plan.chunks:
        seen = sequence.filled + size
        causal = torch.arange(seen)[None, :] > (sequence.filled + torch.arange(size))[:, None]
        mask = torch.zeros((size, seen), dtype=dtype).masked_fill_(causal, minimum)
        chunks.append(_Chunk(sequence, index, size, mask.to(device)))
        index += size

    # One decode group and nothing else (a lone student, or a class on one preset): its output is the
    # whole attention output, with no scatter into a bigger tensor.
    only_group = len(groups) == 1 and not chunks
    for layer, block in enumerate(transformer.h):
        attention = block.attn
        scaling = attention.scaling
        query, key, value = attention.c_attn(block.ln_1(hidden)).split(width, dim=-1)
        query = query.view(count, heads, head_dim)
        key = key.view(count, heads, head_dim)
        value = value.view(count, heads, head_dim)
        if only_group:
            mixed = _decode_attention(groups[0], layer, query, key, value, scaling)
        else:
            mixed = torch.empty_like(query)
            for group in groups:
                mixed[group.tokens] = _decode_attention(group, layer, query, key, value, scaling)
            for chunk in chunks:
                span = slice(chunk.start, chunk.start + chunk.size)
                mixed[span] = _chunk_attention(chunk, layer, query[span], key[span], value[span], scaling)
        hidden = hidden + attention.c_proj(mixed.reshape(count, width))
        hidden = hidden + block.mlp(block.ln_2(hidden))
    rows = torch.tensor([input_index for _, input_index, _ in plan.outputs], dtype=torch.long, device=device)
    return model.lm_head(transformer.ln_f(hidden.index_select(0, rows))).float()


def _attend(
    prefix: Prefix | None, layer: int, queries: torch.Tensor, own_scores: torch.Tensor, own_apply, scaling: float
) -> torch.Tensor:
    """Attention output (heads, m, head_dim) for queries (heads, m, head_dim) over the prefix and their own keys.

    `own_scores` (heads, m, own) are already scaled and masked; `own_apply(weights)` multiplies the weights
    on the own keys by the own values. One softmax spans both parts, as over the whole sequence.
    """
    if prefix is None:
        return own_apply(own_scores.softmax(-1))
    # (heads, m, d) @ (heads, d, shared): the prefix is read once for all m queries, never copied per row.
    prefix_scores = torch.matmul(queries, prefix.keys[layer].transpose(-1, -2)) * scaling
    weights = torch.cat([prefix_scores, own_scores], dim=-1).softmax(-1)
    shared = prefix_scores.shape[-1]
    return torch.matmul(weights[..., :shared], prefix.values[layer]) + own_apply(weights[..., shared:])


def _decode_attention(group: _DecodeGroup, layer: int, query, key, value, scaling: float) -> torch.Tensor:
    """One new token for each decoding row of a buffer: (rows decoding, heads, head_dim)."""
    buffer = group.buffer
    keys, values = buffer.keys[layer], buffer.values[layer]
    keys[group.rows, :, group.write_at] = key[group.tokens]
    values[group.rows, :, group.write_at] = value[group.tokens]
    rows = len(buffer.rows)
    if group.every_row:
        queries = query[group.tokens]
    else:
        queries = query.new_zeros((rows, *query.shape[1:]))
        queries[group.rows] = query[group.tokens]
    own_keys, own_values = keys[:rows, :, : group.length], values[:rows, :, : group.length]
    # (rows, heads, 1, d) @ (rows, heads, d, length): a slice of the buffer, read in place.
    own_scores = torch.matmul(queries.unsqueeze(2), own_keys.transpose(-1, -2)).squeeze(2) * scaling
    if group.mask is not None:
        own_scores = own_scores + group.mask

    def own_apply(weights: torch.Tensor) -> torch.Tensor:  # (heads, rows, length) -> (heads, rows, d)
        return torch.matmul(weights.transpose(0, 1).unsqueeze(2), own_values).squeeze(2).transpose(0, 1)

    out = _attend(buffer.prefix, layer, queries.transpose(0, 1), own_scores.transpose(0, 1), own_apply, scaling)
    out = out.transpose(0, 1)
    return out if group.every_row else out[group.rows]


def _chunk_attention(chunk: _Chunk, layer: int, query, key, value, scaling: float) -> torch.Tensor:
    """A run of one sequence's prompt tokens, each seeing the ones before it: (size, heads, head_dim)."""
    sequence = chunk.sequence
    buffer = sequence.buffer
    start, end = sequence.filled, sequence.filled + chunk.size
    keys, values = buffer.keys[layer][sequence.row], buffer.values[layer][sequence.row]
    keys[:, start:end] = key.transpose(0, 1)
    values[:, start:end] = value.transpose(0, 1)
    queries = query.transpose(0, 1)  # (heads, size, head_dim)
    own_scores = torch.matmul(queries, keys[:, :end].transpose(-1, -2)) * scaling + chunk.mask
    own_values = values[:, :end]
    out = _attend(buffer.prefix, layer, queries, own_scores, lambda weights: torch.matmul(weights, own_values), scaling)
    return out.transpose(0, 1)


def _build_plan(decoding: list[Sequence], chunks: list[tuple[Sequence, int]]) -> _Plan:
    """The step's input: one token per decoding sequence (grouped by buffer), then each prompt chunk."""
    plan = _Plan()
    by_buffer: dict[int, tuple[TailBuffer, list[Sequence]]] = {}
    for sequence in decoding:
        by_buffer.setdefault(id(sequence.buffer), (sequence.buffer, []))[1].append(sequence)
    for buffer, members in by_buffer.values():
        members.sort(key=lambda sequence: sequence.row)
        plan.decode.append((buffer, members))
        for sequence in members:
            plan.outputs.append((sequence, len(plan.ids), sequence.filled))
            plan.ids.append(sequence.tokens[sequence.filled])
            plan.positions.append(sequence.offset + sequence.filled)
    for sequence, size in chunks:
        plan.chunks.append((sequence, size))
        start = len(plan.ids)
        for position in sequence.wanted(sequence.filled, sequence.filled + size):
            plan.outputs.append((sequence, start + position - sequence.filled, position))
        begin = sequence.filled
        plan.ids.extend(sequence.tokens[begin : begin + size])
        plan.positions.extend(range(sequence.offset + begin, sequence.offset + begin + size))
    return plan


# ---------------------------------------------------------------------------------------
# The lane


class DecodeLane:
    """The decode lane of one causal LM's engine: admission, step plans, token choice, results."""

    def __init__(self, engine: Engine) -> None:
        loaded = engine.loaded
        check_supported(loaded.model)
        self.engine = engine
        self.loaded = loaded
        config = loaded.model.config
        self.shape = (config.n_layer, config.n_head, config.n_embd // config.n_head)
        self.dtype = next(loaded.model.parameters()).dtype
        self.device = loaded.device
        self.pending: list[Ticket] = []
        self.active: list[Sequence] = []
        self.buffers: dict[tuple[int, int], TailBuffer] = {}  # (prefix or sequence, token bucket)
        self.prefixes = PrefixCache(ENGINE_PREFIX_CACHE_MB * 1_000_000)
        self.publishing: dict[tuple[int, ...], Sequence] = {}
        self.kv_budget = ENGINE_KV_BUDGET_MB * 1_000_000
        self.tokens_per_s = 40.0  # a first guess, replaced by measurement after the first step
        self.step_s = 0.05
        self.steps = 0
        self.tokens_run = 0  # tokens through the model so far (a shared prefix counts once)
        self.answered = 0
        self.stopped = 0
        self.most_active = 0  # the most sequences ever running together
        engine.when_idle(release_freed_memory)

    # Bookkeeping (under the engine's lock) ------------------------------------------------------

    def add(self, ticket: Ticket) -> None:
        with self.engine.lock:
            self.pending.append(ticket)
            self.engine.wake()

    def has_work(self) -> bool:
        return bool(self.pending or self.active)

    def load(self) -> tuple[int, int]:
        return len(self.active), len(self.pending)

    def served(self) -> tuple[int, int]:
        return self.answered, self.stopped

    def kv_bytes(self) -> int:
        """Keys and values held now (call with the engine's lock held; see held_kv_bytes)."""
        return sum(buffer.nbytes for buffer in self.buffers.values()) + self.prefixes.nbytes

    def held_kv_bytes(self) -> int:
        """Keys and values held now, from any thread."""
        with self.engine.lock:
            return self.kv_bytes()

    def status_of(self, ticket: Ticket) -> QueueStatus:
        for sequence in self.active:
            if sequence.ticket is ticket:
                return QueueStatus(ahead=0, eta_s=sequence.remaining_work() * self.step_s, running=True)
        ahead, work = 0, 0
        for other in self.pending:
            if other is ticket:
                break
            ahead += 1
            work += other.cost
        busy = sum(sequence.remaining_work() for sequence in self.active)
        eta = (work + ticket.cost + (busy if len(self.active) >= ENGINE_MAX_SEQUENCES else 0)) / self.tokens_per_s
        return QueueStatus(ahead=ahead, eta_s=eta, running=False)

    def abandon(self, error: Exception) -> None:
        for sequence in list(self.active):
            self._drop(sequence)
            sequence.ticket.fail(request_failed(error))
        for ticket in self.pending:
            ticket.fail(request_failed(error))
        self.pending = []
        self.buffers.clear()
        self.publishing.clear()

    def _drop(self, sequence: Sequence) -> None:
        self.active.remove(sequence)
        buffer = sequence.buffer
        if buffer is not None:
            buffer.remove(sequence)
            if not buffer.rows:
                del self.buffers[next(key for key, value in self.buffers.items() if value is buffer)]
        for ids, publisher in list(self.publishing.items()):
            if publisher is sequence:
                del self.publishing[ids]

    def _sweep(self) -> None:
        """Let cancelled and abandoned requests go, then admit waiting ones while there is room."""
        now = time.perf_counter()
        for sequence in list(self.active):
            ticket = sequence.ticket
            abandoned = isinstance(ticket, GenerationTicket) and now - ticket.last_seen > ENGINE_ABANDON_S
            if ticket.cancelled or abandoned:
                self._drop(sequence)
                ticket.fail(RequestCancelled("stopped" if ticket.cancelled else "nobody was reading the tokens"))
                self.stopped += 1
        for ticket in [ticket for ticket in self.pending if ticket.cancelled]:
            self.pending.remove(ticket)
            ticket.fail(RequestCancelled("cancelled while waiting"))
            self.stopped += 1
        per_session: dict[str, int] = {}
        for sequence in self.active:
            per_session[sequence.ticket.session] = per_session.get(sequence.ticket.session, 0) + 1
        for ticket in list(self.pending):
            if len(self.active) >= ENGINE_MAX_SEQUENCES:
                break
            if per_session.get(ticket.session, 0) >= ENGINE_SESSION_SEQUENCES:
                continue  # one student's many requests go in a few at a time, between everyone else's
            admitted = self._admit(ticket)
            if admitted is None:
                continue
            if admitted is False:
                break  # out of memory for now: wait for running requests to finish, in order
            per_session[ticket.session] = per_session.get(ticket.session, 0) + 1
        self.most_active = max(self.most_active, len(self.active))

    def _shared_ids(self, request) -> tuple[int, ...]:
        limit = len(request.prompt) - 1
        if isinstance(request, ScoreRequest) and request.answer_length:
            limit = len(request.prompt) - request.answer_length - 1
        shared = min(request.shared, limit)
        return tuple(request.prompt[:shared]) if shared >= MIN_SHARED_PREFIX_TOKENS else ()

    def _admit(self, ticket: Ticket) -> bool | None:
        """True: admitted. None: not yet (its shared start is being computed). False: no memory now."""
        shared = self._shared_ids(ticket.payload)
        prefix = self.prefixes.get(shared) if shared else None
        publish = 0
        if shared and prefix is None:
            if shared in self.publishing:
                return None  # another request is computing this prompt start: use it next step
            publish = len(shared)
        sequence = Sequence(ticket, prefix, publish)
        tokens = token_bucket(sequence.capacity)
        key = (id(prefix) if prefix is not None else id(sequence), tokens)
        buffer = self.buffers.get(key) or TailBuffer(prefix, self.shape, tokens, self.dtype, self.device)
        # The server's memory budget counts this lane's whole kv_budget from the moment the model loads
        # (ui/loaders.py), so staying inside kv_budget keeps the server inside its budget too.
        room = self.kv_budget - self.kv_bytes()
        if buffer.growth_for(room) is None and self.active:
            return False
        buffer.add(sequence, room)
        self.buffers[key] = buffer
        self.pending.remove(ticket)
        self.active.append(sequence)
        ticket.started = time.perf_counter()
        if publish:
            self.publishing[shared] = sequence
        if sequence.is_generation:
            request = ticket.payload
            if not request.greedy:
                sequence.generator = torch.Generator(device=self.device).manual_seed(request.seed)
            if request.processors:
                sequence.history = torch.empty(
                    len(request.prompt) + request.max_new_tokens, dtype=torch.long, device=self.device
                )
                sequence.history[: len(request.prompt)] = torch.tensor(request.prompt, dtype=torch.long)
        return True

    def _plan(self) -> _Plan:
        return _build_plan([sequence for sequence in self.active if sequence.decoding], self._chunk_sizes())

    def _chunk_sizes(self) -> list[tuple[Sequence, int]]:
        """Prompt tokens to run this step: sessions in turn, a fair share of the step's budget each.

        Sequences that publish a shared prompt start go first: everyone waiting on it gains.
        """
        filling = [sequence for sequence in self.active if sequence.filled < sequence.prompt_tail]
        filling.sort(key=lambda sequence: (not sequence.publish, sequence.ticket.started))
        sessions: dict[str, list[Sequence]] = {}
        for sequence in filling:
            sessions.setdefault(sequence.ticket.session, []).append(sequence)
        budget = ENGINE_STEP_TOKENS
        share = max(16, budget // max(1, len(sessions)))
        sizes: dict[int, int] = {}
        for members in sessions.values():
            allowance = min(share, budget)
            for sequence in members:
                size = min(sequence.prompt_tail - sequence.filled, allowance)
                if size <= 0:
                    break
                sizes[id(sequence)] = size
                allowance -= size
                budget -= size
        for sequence in filling:  # what is left of the budget, oldest first
            if budget <= 0:
                break
            extra = min(sequence.prompt_tail - sequence.filled - sizes.get(id(sequence), 0), budget)
            if extra > 0:
                sizes[id(sequence)] = sizes.get(id(sequence), 0) + extra
                budget -= extra
        if not sizes and filling:  # never stall: the oldest gets at least one token
            sizes[id(filling[0])] = 1
        return [(sequence, sizes[id(sequence)]) for sequence in filling if id(sequence) in sizes]

    # The step (on the worker, lock released) --------------------------------------------------

    def run_once(self) -> None:
        with self.engine.lock:
            self._sweep()
            plan = self._plan()
        if not plan.ids:
            return
        started = time.perf_counter()
        with torch.inference_mode():
            logits = self._forward_isolating_faults(plan)
            with self.engine.lock:
                self._advance(plan, logits)
        elapsed = time.perf_counter() - started
        with self.engine.lock:
            self.steps += 1
            self.tokens_run += len(plan.ids)
            self.step_s = 0.7 * self.step_s + 0.3 * elapsed
            self.tokens_per_s = 0.7 * self.tokens_per_s + 0.3 * len(plan.ids) / max(elapsed, 1e-6)

    def _forward_isolating_faults(self, plan: _Plan) -> dict[tuple[int, int], torch.Tensor]:
        """Output logits by (sequence, tail position). If the step fails, each sequence runs alone once, so a
        request that breaks the model fails alone (its keys and values are rewritten with the same values)."""
        try:
            return self._logits_by_output(plan, _step_forward(self.loaded.model, plan, self.device))
        except Exception as error:
            sequences = plan.sequences()
            if len(sequences) == 1:
                self._fail(sequences[0], error)
                return {}
        results: dict[tuple[int, int], torch.Tensor] = {}
        for sequence in plan.sequences():
            decoding = [sequence] if any(sequence in members for _, members in plan.decode) else []
            alone = _build_plan(decoding, [(s, size) for s, size in plan.chunks if s is sequence])
            try:
                results.update(self._logits_by_output(alone, _step_forward(self.loaded.model, alone, self.device)))
            except Exception as error:
                self._fail(sequence, error)
        return results

    @staticmethod
    def _logits_by_output(plan: _Plan, logits: torch.Tensor) -> dict[tuple[int, int], torch.Tensor]:
        return {(id(sequence), position): row for (sequence, _, position), row in zip(plan.outputs, logits)}

    def _fail(self, sequence: Sequence, error: Exception) -> None:
        with self.engine.lock:
            if sequence in self.active:
                self._drop(sequence)
        sequence.ticket.fail(request_failed(error))

    def _advance(self, plan: _Plan, logits: dict[tuple[int, int], torch.Tensor]) -> None:
        """Record what the step computed: filled counts, published prefixes, scores, chosen tokens."""
        alive = {id(sequence) for sequence in self.active}
        for _buffer, members in plan.decode:
            for sequence in members:
                sequence.filled += 1
        for sequence, size in plan.chunks:
            sequence.filled += size
            if sequence.publish and sequence.filled >= sequence.publish and id(sequence) in alive:
                self._publish(sequence)
        choosing: list[tuple[Sequence, torch.Tensor]] = []
        for sequence, _, position in plan.outputs:
            row = logits.get((id(sequence), position))
            if row is None or id(sequence) not in alive:
                continue
            if sequence.is_generation:
                choosing.append((sequence, row))
            else:
                self._score(sequence, position, row)
        if choosing:
            self._choose([sequence for sequence, _ in choosing], torch.stack([row for _, row in choosing]))
        for sequence in list(self.active):
            if not sequence.is_generation and sequence.filled >= sequence.prompt_tail:
                self._drop(sequence)
                sequence.ticket.finish(sequence.scores[0] if sequence.scores else self._answer(sequence))
                self.answered += 1

    def _publish(self, sequence: Sequence) -> None:
        """Copy a sequence's first `publish` tail tokens into a shared prefix for everyone after it."""
        length = sequence.publish
        buffer = sequence.buffer
        prefix = Prefix(
            ids=tuple(sequence.request.prompt[:length]),
            keys=[store[sequence.row, :, :length].clone() for store in buffer.keys],
            values=[store[sequence.row, :, :length].clone() for store in buffer.values],
        )
        self.prefixes.add(prefix)
        self.publishing.pop(prefix.ids, None)
        sequence.publish = 0

    def _score(self, sequence: Sequence, position: int, row: torch.Tensor) -> None:
        request = sequence.request
        log_probs = row.log_softmax(-1)
        if request.answer_length == 0:
            best = log_probs.topk(request.top)
            entropy = float(-(log_probs.exp() * log_probs).sum() / math.log(2))
            sequence.scores = [
                Distribution(best.indices.cpu().numpy(), best.values.exp().cpu().numpy().astype(np.float32), entropy)
            ]
            return
        target = request.prompt[sequence.offset + position + 1]
        argmax = int(log_probs.argmax())
        if not sequence.answer_log_probs:
            sequence.first_argmax = argmax
        sequence.answer_log_probs.append(float(log_probs[target]))
        sequence.answer_argmax.append(argmax == target)

    @staticmethod
    def _answer(sequence: Sequence) -> AnswerScore:
        return AnswerScore(
            log_probability=float(sum(sequence.answer_log_probs)),
            all_argmax=all(sequence.answer_argmax),
            first_argmax=sequence.first_argmax,
        )

    def _choose(self, sequences: list[Sequence], logits: torch.Tensor) -> None:
        """Pick each generation's next token, as `model.generate` would, and hand it to its reader."""
        now = time.perf_counter()
        probs = logits.softmax(-1)
        most = max(sequence.request.alternatives for sequence in sequences)
        top = probs.topk(most)
        tokens = logits.argmax(-1)  # greedy without processors; other rows are overwritten below
        by_processors: dict[tuple, list[int]] = {}
        for index, sequence in enumerate(sequences):
            if sequence.request.processors:
                by_processors.setdefault(sequence.request.processors_key, []).append(index)
            elif sequence.generator is not None:
                tokens[index] = torch.multinomial(probs[index], 1, generator=sequence.generator)[0]
        filtered = probs.gather(1, tokens[:, None])[:, 0]
        failed: set[int] = set()
        for indices in by_processors.values():
            try:
                self._choose_filtered([sequences[i] for i in indices], indices, logits, tokens, filtered)
            except Exception as error:  # a request whose settings break its processors fails alone
                for index in indices:
                    failed.add(index)
                    self._drop(sequences[index])
                    sequences[index].ticket.fail(request_failed(error))
        rows = (
            torch.cat(
                [
                    tokens[:, None].to(probs.dtype),
                    probs.gather(1, tokens[:, None]),
                    filtered[:, None],
                    top.indices.to(probs.dtype),
                    top.values,
                ],
                dim=1,
            )
            .cpu()
            .numpy()
        )
        for index, sequence in enumerate(sequences):
            if index not in failed:
                self._emit(sequence, rows[index], most, now)

    def _choose_filtered(self, group: list[Sequence], indices: list[int], logits, tokens, filtered) -> None:
        processors = group[0].request.processors
        lengths = [len(sequence.request.prompt) + sequence.generated for sequence in group]
        longest = max(lengths)
        history = torch.stack(
            [
                torch.cat([sequence.history[:length], sequence.history[:1].expand(longest - length)])
                for sequence, length in zip(group, lengths)
            ]
        )
        index = torch.tensor(indices, device=logits.device)
        scores = processors(history, logits[index])
        chosen_probs = scores.softmax(-1)
        for position, (sequence, row) in enumerate(zip(group, indices)):
            if sequence.generator is None:
                tokens[row] = scores[position].argmax(-1)
            else:
                tokens[row] = torch.multinomial(chosen_probs[position], 1, generator=sequence.generator)[0]
            filtered[row] = chosen_probs[position, tokens[row]]

    def _emit(self, sequence: Sequence, row: np.ndarray, most: int, now: float) -> None:
        request = sequence.request
        token = int(row[0])
        sequence.tokens.append(token)
        if sequence.history is not None:
            sequence.history[len(request.prompt) + sequence.generated] = token
        sequence.generated += 1
        tokenizer = self.loaded.tokenizer
        stop = None
        if token == tokenizer.eos_token_id:
            stop = "eos"
        elif request.stop_at_newline and "\n" in tokenizer.decode([token]):
            stop = "newline"
        elif sequence.generated >= request.max_new_tokens:
            stop = "max_new_tokens"
        alternatives = request.alternatives
        event = TokenEvent(
            token_id=token,
            probability=float(row[1]),
            filtered_probability=float(row[2]),
            alternative_ids=row[3 : 3 + alternatives].astype(np.int64),
            alternative_probs=row[3 + most : 3 + most + alternatives].astype(np.float32),
            at=now,
            stop=stop,
        )
        sequence.ticket.events.put(event)
        if stop:
            self._drop(sequence)
            sequence.ticket.finish()
            self.answered += 1


# ---------------------------------------------------------------------------------------
# Entry points for models/generation.py


def decode_lane(loaded: Any) -> DecodeLane:
    engine = engine_for(loaded)
    return engine.lane("decode", lambda: DecodeLane(engine))


def stream_tokens(loaded: Any, request: GenerateRequest) -> Iterator[TokenEvent]:
    """Generate with every other student's requests, yielding this request's tokens as they come.

    Closing the iterator (Stop, a page rerun, a closed tab) cancels the request and frees its place.
    While it waits, the requester's `on_wait` hears where it stands.
    """
    lane = decode_lane(loaded)
    requester = current_requester()
    ticket = GenerationTicket(request, session=requester.session)
    lane.add(ticket)
    try:
        while True:
            try:
                event = ticket.events.get(timeout=WAIT_POLL_S)
            except queue.Empty:
                ticket.seen()
                if requester.on_wait is not None:
                    requester.on_wait(lane.engine.status(ticket, lane))
                continue
            ticket.seen()
            if event is _END:
                return
            if isinstance(event, BaseException):
                raise event
            yield event
    finally:
        ticket.cancel()


def score(loaded: Any, requests: Seq[ScoreRequest]) -> list[AnswerScore | Distribution]:
    """Score every request along with everyone else's work; results in the order given."""
    lane = decode_lane(loaded)
    requester = current_requester()
    tickets = [Ticket(request, session=requester.session, cost=len(request.prompt)) for request in requests]
    for ticket in tickets:
        lane.add(ticket)
    try:
        return [lane.engine.wait_for(ticket, lane, requester) for ticket in tickets]
    finally:
        for ticket in tickets:
            ticket.cancel()


def unclaimed_kv_mb(loaded: Any) -> float:
    """Memory a causal LM's engine may still take for keys and values (its budget minus what it holds)."""
    if loaded.entry.family != "causal-lm":
        return 0.0
    engine = getattr(loaded, "engine", None)
    lane = engine.existing_lane("decode") if engine is not None else None
    held = lane.held_kv_bytes() if lane is not None else 0
    return max(0.0, ENGINE_KV_BUDGET_MB - held / 1e6)


def forget_prefixes(loaded: Any) -> None:
    """Drop the cached prompt starts of `loaded` (tests, and memory pressure)."""
    lane = decode_lane(loaded)
    with lane.engine.lock:
        lane.prefixes.clear()
