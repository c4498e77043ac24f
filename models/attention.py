"""Self-attention on a text, for BERT and GPT-2 alike, and induction heads found live. No Streamlit here.

Split like a transformers pipeline:
1. `prepare_text`: tokenise, truncate to a limit (counting what was dropped), label every piece;
2. `run_attention`: one forward pass with `output_attentions=True`; every layer's and head's weights
   leave as one float32 array (layers, heads, query, key), each row a softmax that sums to 1;
3. views of that array: one head or the mean / max over heads (`attention_view`), attention rollout
   (`rollout_view`), every head at once (`model_view_grid`), each with special tokens hidden (rows
   renormalised) and subword pieces merged into words on request.

Induction heads (`run_induction`): a causal LM reads random tokens repeated twice; the loss on the second
copy collapses, and a head's induction score is its attention from each token of the second copy to the
token after that token's earlier occurrence (A B … A → B).

Every view transform works on stacks (..., query, key), so one head and all 144 heads share the code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np
from scipy.special import softmax
import torch

from models.engine import BatchKind, engine_for
from models.limits import ENGINE_ATTENTION_BATCH_TOKENS, MAX_ATTENTION_TOKENS, MAX_HEAD_VIEW_LINKS
from models.loading import LoadedModel
from models.registry import ModelEntry

HeadChoice = int | Literal["mean", "max"]

# A byte-level BPE piece that is only part of a character's UTF-8 bytes (an emoji, CJK) decodes to
# U+FFFD; we print the character it belongs to, marked with this sign.
PARTIAL_CHARACTER_MARK = "◦"


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class TokenAxis:
    """The tokens along both axes of an attention matrix (queries and keys are the same tokens).

    labels:   (n,) what to print for each piece: "##s", " unic", "[CLS]"
    special:  (n,) bool: the model's special tokens ([CLS], [SEP], <|endoftext|>), added or typed
    word_ids: (n,) int, the word each piece belongs to, in 0..w-1; a special token is a word of its own
    words:    (w,) the text of each word, shown when pieces are merged
    sink:     (n,) bool: a causal model's first token, whatever it is: every later token dumps spare
              attention on it (the "attention sink"). GPT-2 adds no start token, so it is often a word.
    """

    labels: tuple[str, ...]
    special: np.ndarray
    word_ids: np.ndarray
    words: tuple[str, ...]
    sink: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.sink is None:
            object.__setattr__(self, "sink", np.zeros(len(self.labels), dtype=bool))

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> TokenAxis:
        """The tokens where `keep` (n,) is True, words renumbered."""
        kept_words, word_ids = np.unique(self.word_ids[keep], return_inverse=True)
        return TokenAxis(
            labels=tuple(label for label, kept in zip(self.labels, keep) if kept),
            special=self.special[keep],
            word_ids=word_ids.reshape(-1),
            words=tuple(self.words[index] for index in kept_words),
            sink=self.sink[keep],
        )

    def merged(self) -> TokenAxis:
        """One entry per word; a word is special (or the sink) when any of its pieces is."""
        special = np.zeros(len(self.words), dtype=bool)
        np.logical_or.at(special, self.word_ids, self.special)
        sink = np.zeros(len(self.words), dtype=bool)
        np.logical_or.at(sink, self.word_ids, self.sink)
        return TokenAxis(self.words, special, np.arange(len(self.words)), self.words, sink)

    def hidden(self, *, special: bool, sink: bool) -> np.ndarray:
        """(n,) bool: the tokens that hiding special tokens and/or the sink drops."""
        return (self.special & special) | (self.sink & sink)


@dataclass(frozen=True)
class PreparedText:
    """A text ready for the model.

    input_ids:    (n,) int64, at most the limit given to `prepare_text`
    axis:         labels of the n tokens
    total_tokens: how many tokens the whole text has (before truncation)
    causal:       True for a decoder (GPT-2): a token attends only to itself and the past
    """

    input_ids: np.ndarray
    axis: TokenAxis
    total_tokens: int
    causal: bool

    @property
    def dropped_tokens(self) -> int:
        return self.total_tokens - len(self.input_ids)


@dataclass(frozen=True)
class AttentionResult:
    """Every attention weight of one forward pass.

    weights: (layers, heads, n, n) float32; weights[l, h, i, j] is how much query token i attends to
             key token j in layer l, head h. Each row is a softmax: it sums to 1. For a causal model
             the strict upper triangle (j > i, the future) is exactly 0.
    """

    model_key: str
    axis: TokenAxis
    weights: np.ndarray
    causal: bool
    total_tokens: int
    input_ids: np.ndarray | None = None  # (n,) the tokens the model read, for views that run it again

    @property
    def layers(self) -> int:
        return self.weights.shape[0]

    @property
    def heads(self) -> int:
        return self.weights.shape[1]

    @property
    def dropped_tokens(self) -> int:
        return self.total_tokens - len(self.axis)


@dataclass(frozen=True)
class AttentionView:
    """One matrix ready to draw.

    matrix:         (q, k) float32, rows are queries (the token looking), columns keys (looked at)
    axis:           labels of both axes (after hiding and merging)
    causal:         the upper triangle is masked (empty) by construction
    row_stochastic: each row sums to 1 (False for the max over heads)
    """

    matrix: np.ndarray
    axis: TokenAxis
    causal: bool
    row_stochastic: bool


@dataclass(frozen=True)
class HeadSummary:
    """What each head mostly does, to spot patterns; every field is (layers, heads).

    to_self:      mean weight of a token on itself (the diagonal)
    to_previous:  mean weight on the token just before (a previous-token head is near 1)
    to_first:     mean weight on the first token ([CLS], or GPT-2's sink)
    entropy_bits: mean entropy of a row: 0 when a head looks at one token, log2(n) when it spreads evenly
    """

    to_self: np.ndarray
    to_previous: np.ndarray
    to_first: np.ndarray
    entropy_bits: np.ndarray


@dataclass(frozen=True)
class ModelViewGrid:
    """Every layer × head as a small heatmap, tiled into one image (one plotly trace draws it fast).

    image:   (layers·(m+1)−1, heads·(m+1)−1) float32; tile (l, h) starts at row l·(m+1), column h·(m+1),
             with one NaN row / column between tiles
    cells:   m, the cells along a tile's side
    blocks:  (m, 2) int, the first and last token of the view's axis pooled into each cell
             (sum over key tokens, mean over query tokens, so a tile's rows still sum to 1)
    axis:    the tokens after hiding and merging
    summary: per-head pattern numbers on the unpooled view
    """

    image: np.ndarray
    layers: int
    heads: int
    cells: int
    blocks: np.ndarray
    axis: TokenAxis
    summary: HeadSummary


@dataclass(frozen=True)
class InductionResult:
    """A causal LM on `period` random tokens repeated twice, after a beginning-of-text token.

    token_ids: (T,) int64, T = 2·period + 1: [BOS] x_1 … x_p x_1 … x_p
    labels:    (T,) the pieces as text
    loss:      (T−1,) float32, loss[t] = −log p(token t+1 | tokens ≤ t), in nats
    scores:    (layers, heads) float32, the induction score of each head, in [0, 1]
    weights:   (layers, heads, T, T) float32, every attention weight
    """

    model_key: str
    token_ids: np.ndarray
    labels: tuple[str, ...]
    period: int
    seed: int
    loss: np.ndarray
    scores: np.ndarray
    weights: np.ndarray

    @property
    def first_copy_loss(self) -> float:
        """Mean loss predicting the first copy: random tokens cannot be guessed."""
        return float(self.loss[: self.period].mean())

    @property
    def second_copy_loss(self) -> float:
        """Mean loss predicting the second copy: an induction head can copy it from the first."""
        return float(self.loss[self.period :].mean())


@dataclass(frozen=True)
class Preset:
    """A text from the course material and what to look for in its attention."""

    id: str
    name: str
    text: str
    look_for: str


# ---------------------------------------------------------------------------------------------
# 1. Prepare


def token_limit(entry: ModelEntry) -> int:
    """Tokens the page shows for a model: its context, capped by MAX_ATTENTION_TOKENS."""
    return min(MAX_ATTENTION_TOKENS, entry.context_length)


def prepare_text(tokenizer: Any, text: str, *, causal: bool, max_tokens: int) -> PreparedText:
    """Tokenise `text` (a fast transformers tokenizer) and keep its first `max_tokens` tokens.

    BERT's tokenizer adds [CLS] ... [SEP] (truncation keeps [SEP] last); GPT-2's adds nothing. Special
    tokens typed in the text (<|endoftext|>, [SEP]) are marked special too. A causal model's first token is
    marked as the sink, apart: it is often the student's first word.
    """
    if not text.strip():
        raise ValueError("The text is empty: type a sentence.")
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, not {max_tokens}.")
    # Cut here rather than with truncation=True: that switches truncation on in the tokenizer every
    # session shares, so a fill-mask call running at the same moment would be cut to this limit too.
    encoded = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True, verbose=False)
    total = len(encoded["input_ids"])
    keep = _first_tokens(np.asarray(encoded["special_tokens_mask"], dtype=bool), max_tokens)
    ids = np.asarray(encoded["input_ids"], dtype=np.int64)[keep]
    special = np.asarray(encoded["special_tokens_mask"], dtype=bool)[keep] | np.isin(ids, _structural_ids(tokenizer))
    sink = np.zeros(len(ids), dtype=bool)
    sink[0] = causal
    if special.all() and not causal:
        raise ValueError("The text has no tokens the model can read (only control or unknown characters).")
    offsets = [encoded["offset_mapping"][i] for i in keep]
    labels = tuple(_piece_label(tokenizer, int(i), text, span) for i, span in zip(ids, offsets))
    word_ids, words = _words([encoded.word_ids()[i] for i in keep], offsets, labels, text)
    axis = TokenAxis(labels=labels, special=special, word_ids=word_ids, words=words, sink=sink)
    return PreparedText(input_ids=ids, axis=axis, total_tokens=total, causal=causal)


def _structural_ids(tokenizer: Any) -> list[int]:
    """Ids of the tokens that mark a sequence's start, end or padding ([CLS], [SEP], [PAD], <|endoftext|>).
    [UNK] and [MASK] stand for words, so they are not among them."""
    names = ("cls_token_id", "sep_token_id", "pad_token_id", "bos_token_id", "eos_token_id")
    return [token for token in (getattr(tokenizer, name, None) for name in names) if token is not None]


def _first_tokens(special: np.ndarray, max_tokens: int) -> np.ndarray:
    """Positions of the first `max_tokens` tokens, closing special tokens ([SEP]) kept last, as the
    tokenizer's own truncation keeps them. `special` marks the tokens the tokenizer added."""
    if len(special) <= max_tokens:
        return np.arange(len(special))
    closing = 0
    while closing < min(len(special), max_tokens) and special[len(special) - 1 - closing]:
        closing += 1
    return np.concatenate([np.arange(max_tokens - closing), np.arange(len(special) - closing, len(special))])


def _piece_label(tokenizer: Any, token_id: int, text: str, span: tuple[int, int] | None) -> str:
    piece = tokenizer.decode([token_id], clean_up_tokenization_spaces=False)
    if "\ufffd" in piece and span is not None and span[1] > span[0]:
        return text[span[0] : span[1]].strip() + PARTIAL_CHARACTER_MARK
    return piece


def _words(
    word_ids: list[int | None], offsets: list[tuple[int, int]], labels: tuple[str, ...], text: str
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Number the words in order; a piece without a word (a special token) becomes a word of its own."""
    numbers: list[int] = []
    words: list[str] = []
    spans: list[list[int]] = []
    previous: int | None = None
    for index, word in enumerate(word_ids):
        if word is None or word != previous:
            words.append(labels[index])
            spans.append(list(offsets[index]) if word is not None else [])
        elif spans[-1]:
            spans[-1][1] = max(spans[-1][1], offsets[index][1])
        numbers.append(len(words) - 1)
        previous = word
    for number, span in enumerate(spans):
        if span and span[1] > span[0]:
            words[number] = text[span[0] : span[1]].strip() or words[number]
    return np.asarray(numbers, dtype=np.int64), tuple(words)


# ---------------------------------------------------------------------------------------------
# 2. Run the model


def _forward(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> Any:
    with torch.inference_mode():
        outputs = model(input_ids=input_ids, attention_mask=attention_mask, output_attentions=True)
    if not getattr(outputs, "attentions", None):
        raise RuntimeError(
            "The model returned no attention weights: load it with attn_implementation='eager' "
            "(the SDPA kernels do not return them)."
        )
    return outputs


def run_attention(model: torch.nn.Module, prepared: PreparedText, *, device: str = "cpu") -> np.ndarray:
    """Every attention weight for `prepared`: (layers, heads, n, n) float32, from one forward pass.

    Works with any transformers encoder or decoder loaded with eager attention (BertModel,
    BertForMaskedLM, DistilBert*, GPT2LMHeadModel...). Pages go through `attention_for_text`, which runs
    on the model's shared engine.
    """
    outputs = _forward(model, torch.as_tensor(prepared.input_ids, device=device).unsqueeze(0))
    return torch.stack(outputs.attentions)[:, 0].float().cpu().numpy()


def _attention_batch(loaded: LoadedModel, requests: list[np.ndarray]) -> list[np.ndarray]:
    """Every request's weights from one right-padded forward pass. Padded keys get weight 0 (masked), and
    in a causal model no real token sees the padding after it, so each text's weights are its own."""
    longest = max(len(ids) for ids in requests)
    ids = torch.zeros((len(requests), longest), dtype=torch.long)
    attention = torch.zeros((len(requests), longest), dtype=torch.long)
    for index, row in enumerate(requests):
        ids[index, : len(row)] = torch.from_numpy(row)
        attention[index, : len(row)] = 1
    outputs = _forward(loaded.model, ids.to(loaded.device), attention.to(loaded.device))
    stacked = torch.stack(outputs.attentions)  # (layers, batch, heads, longest, longest)
    return [stacked[:, index, :, : len(row), : len(row)].float().cpu().numpy() for index, row in enumerate(requests)]


ATTENTION = BatchKind("attention", _attention_batch, max_cost=ENGINE_ATTENTION_BATCH_TOKENS, cost=len, padded=True)


def attention_for_text(loaded: LoadedModel, text: str, *, max_tokens: int | None = None) -> AttentionResult:
    """The whole pipeline on a shared model: prepare, one forward pass on the model's engine, result."""
    limit = token_limit(loaded.entry) if max_tokens is None else max_tokens
    prepared = prepare_text(loaded.tokenizer, text, causal=loaded.entry.family == "causal-lm", max_tokens=limit)
    weights = engine_for(loaded).call(ATTENTION, np.asarray(prepared.input_ids, dtype=np.int64))
    return AttentionResult(
        model_key=loaded.entry.key,
        axis=prepared.axis,
        weights=weights,
        causal=prepared.causal,
        total_tokens=prepared.total_tokens,
        input_ids=np.asarray(prepared.input_ids, dtype=np.int64),
    )


# ---------------------------------------------------------------------------------------------
# Where one attention row comes from: the query, the keys, q·k/√d, softmax (bertviz's neuron view)


@dataclass(frozen=True)
class QueryKeyView:
    """One head's attention row for one query token, rebuilt from its parts.

    query: (d,) q of the query token; keys: (n, d) k of every token; scores: (n,) q·kⱼ/√d, −inf where a
    causal model's mask hides a later token; weights: (n,) softmax(scores), the attention row itself.
    """

    layer: int
    head: int
    query_index: int
    query: np.ndarray
    keys: np.ndarray
    scores: np.ndarray
    weights: np.ndarray
    axis: TokenAxis
    causal: bool


def _query_key_projections(model: torch.nn.Module, layer: int) -> tuple[torch.nn.Module, Callable]:
    """The module whose output holds layer `layer`'s queries and keys, and how to split that output into
    (q, k), each (n, hidden). GPT-2 computes q, k, v in one projection; BERT and DistilBERT in separate ones."""
    base = getattr(model, "transformer", None)
    if base is not None and hasattr(base, "h"):  # GPT-2
        fused = base.h[layer].attn.c_attn
        return fused, lambda outputs: tuple(outputs[fused][0].split(outputs[fused].shape[-1] // 3, dim=-1)[:2])
    for prefix in ("bert", "distilbert"):
        encoder = getattr(model, prefix, None)
        if encoder is None:
            continue
        if prefix == "bert":
            attention = encoder.encoder.layer[layer].attention.self
            query, key = attention.query, attention.key
        else:
            attention = encoder.transformer.layer[layer].attention
            query, key = attention.q_lin, attention.k_lin
        return (query, key), lambda outputs: (outputs[query][0], outputs[key][0])
    raise ValueError(f"No query/key projections known for {type(model).__name__}.")


def _query_key_batch(
    loaded: LoadedModel, requests: list[tuple[np.ndarray, int]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each (input ids, layer): that layer's queries and keys, (n, hidden) each, captured by forward hooks."""
    results = []
    for input_ids, layer in requests:
        modules, split = _query_key_projections(loaded.model, layer)
        outputs: dict[torch.nn.Module, torch.Tensor] = {}
        handles = [
            module.register_forward_hook(lambda module, args, output: outputs.__setitem__(module, output))
            for module in (modules if isinstance(modules, tuple) else (modules,))
        ]
        try:
            with torch.inference_mode():
                loaded.model(input_ids=torch.as_tensor(input_ids, device=loaded.device).unsqueeze(0))
        finally:
            for handle in handles:
                handle.remove()
        query, key = split(outputs)
        results.append((query.float().cpu().numpy(), key.float().cpu().numpy()))
    return results


QUERY_KEY = BatchKind("query-key", _query_key_batch, max_cost=1)


def layer_queries_and_keys(loaded: LoadedModel, input_ids: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """One layer's queries and keys for `input_ids`, (n, hidden) each, from one forward pass on the engine."""
    return engine_for(loaded).call(QUERY_KEY, (np.asarray(input_ids, dtype=np.int64), layer))


def query_key_view(
    result: AttentionResult, queries: np.ndarray, keys: np.ndarray, layer: int, head: int, query_index: int
) -> QueryKeyView:
    """Row `query_index` of (layer, head) in `result`, rebuilt from that layer's queries and keys."""
    _check_layer(result, layer)
    if not 0 <= head < result.heads:
        raise ValueError(f"Head {head} does not exist: choose 0 to {result.heads - 1}.")
    if not 0 <= query_index < len(result.axis):
        raise ValueError(f"Token {query_index} does not exist: choose 0 to {len(result.axis) - 1}.")
    size = queries.shape[-1] // result.heads
    query = queries[query_index, head * size : (head + 1) * size]
    head_keys = keys[:, head * size : (head + 1) * size]
    scores = head_keys @ query / np.sqrt(size)
    if result.causal:
        scores = np.where(np.arange(len(scores)) > query_index, -np.inf, scores)
    return QueryKeyView(layer, head, query_index, query, head_keys, scores, softmax(scores), result.axis, result.causal)


# ---------------------------------------------------------------------------------------------
# 3. Views. Each transform takes a stack (..., n, n) and its TokenAxis and returns both, transformed.


def renormalise_rows(stack: np.ndarray) -> np.ndarray:
    """Rows divided by their sums, so each sums to 1 again (an all-zero row stays zero)."""
    sums = stack.sum(axis=-1, keepdims=True)
    return np.divide(stack, sums, out=np.zeros_like(stack), where=sums > 0)


def hide_tokens(stack: np.ndarray, axis: TokenAxis, drop: np.ndarray) -> tuple[np.ndarray, TokenAxis]:
    """Drop the rows and columns of the tokens in `drop` (n,) bool, then renormalise each row over the keys left."""
    keep = ~drop
    if not keep.any():
        raise ValueError("Every token would be hidden: nothing would be left to show.")
    kept = stack[..., keep, :][..., keep]
    return renormalise_rows(kept), axis.subset(keep)


def hide_special(stack: np.ndarray, axis: TokenAxis) -> tuple[np.ndarray, TokenAxis]:
    """Drop the special tokens ([CLS], [SEP], <|endoftext|>): never a word the student typed."""
    return hide_tokens(stack, axis, axis.special)


def merge_pieces(stack: np.ndarray, group_of: np.ndarray, groups: int) -> np.ndarray:
    """Merge tokens into `groups` groups (group_of: (n,) ints): sum over key pieces, mean over query pieces.

    Summing over the keys of a group keeps each row's total; averaging the rows of a group's
    queries then keeps it at 1, so merged rows still sum to 1.
    """
    membership = np.zeros((groups, stack.shape[-1]), dtype=stack.dtype)
    membership[group_of, np.arange(stack.shape[-1])] = 1.0
    summed_keys = stack @ membership.T
    mean_of_queries = membership / membership.sum(axis=1, keepdims=True)
    return mean_of_queries @ summed_keys


def merge_words(stack: np.ndarray, axis: TokenAxis) -> tuple[np.ndarray, TokenAxis]:
    """Subword pieces merged into words, with `merge_pieces`' rule."""
    return merge_pieces(stack, axis.word_ids, len(axis.words)), axis.merged()


def token_view(
    stack: np.ndarray, axis: TokenAxis, *, hide: bool, merge: bool, hide_sink: bool = False
) -> tuple[np.ndarray, TokenAxis]:
    """Hide special tokens and/or the attention sink, then merge words, in that order."""
    if hide or hide_sink:
        stack, axis = hide_tokens(stack, axis, axis.hidden(special=hide, sink=hide_sink))
    if merge:
        stack, axis = merge_words(stack, axis)
    return stack, axis


def _check_layer(result: AttentionResult, layer: int) -> None:
    if not 0 <= layer < result.layers:
        raise ValueError(f"Layer {layer} does not exist: this model has layers 0 to {result.layers - 1}.")


def attention_view(
    result: AttentionResult,
    layer: int,
    head: HeadChoice,
    *,
    hide: bool = False,
    merge: bool = False,
    hide_sink: bool = False,
) -> AttentionView:
    """One layer's attention: one head, or the mean or max over its heads.

    Hiding and merging happen per head first, so the mean of heads still has rows summing to 1.
    """
    _check_layer(result, layer)
    if head not in ("mean", "max") and not (isinstance(head, int) and 0 <= head < result.heads):
        raise ValueError(f"Head {head!r} does not exist: choose 'mean', 'max' or 0 to {result.heads - 1}.")
    stack, axis = token_view(result.weights[layer], result.axis, hide=hide, merge=merge, hide_sink=hide_sink)
    if head == "mean":
        matrix = stack.mean(axis=0)
    elif head == "max":
        matrix = stack.max(axis=0)
    else:
        matrix = stack[head]
    return AttentionView(matrix.astype(np.float32), axis, result.causal, row_stochastic=head != "max")


def rollout(weights: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020): (layers, heads, n, n) -> (layers, n, n).

    Each layer's heads are averaged and the residual connection added as 0.5·A + 0.5·I (rows
    renormalised); rollout[l] = Ã_l · … · Ã_0 says how much each token at layer l's output
    traces back to each input token. Every rollout[l] is row-stochastic.
    """
    tokens = weights.shape[-1]
    identity = np.eye(tokens, dtype=np.float64)
    mixed = renormalise_rows(0.5 * weights.mean(axis=1, dtype=np.float64) + 0.5 * identity)
    rolled = np.empty_like(mixed)
    current = identity
    for layer, matrix in enumerate(mixed):
        current = matrix @ current
        rolled[layer] = current
    return rolled.astype(np.float32)


def rollout_view(
    result: AttentionResult, through_layer: int, *, hide: bool = False, merge: bool = False, hide_sink: bool = False
) -> AttentionView:
    """Rollout from the input up to `through_layer`, computed on every token, then hidden / merged."""
    _check_layer(result, through_layer)
    rolled = rollout(result.weights[: through_layer + 1])[-1]
    matrix, axis = token_view(rolled, result.axis, hide=hide, merge=merge, hide_sink=hide_sink)
    return AttentionView(matrix, axis, result.causal, row_stochastic=True)


def head_summary(stack: np.ndarray) -> HeadSummary:
    """Pattern numbers for every head of a (layers, heads, n, n) stack."""
    tokens = stack.shape[-1]
    diagonal = np.diagonal(stack, axis1=-2, axis2=-1)
    previous = np.diagonal(stack, offset=-1, axis1=-2, axis2=-1)
    safe = np.where(stack > 0, stack, 1.0)
    entropy = -(stack * np.log2(safe)).sum(axis=-1)
    return HeadSummary(
        to_self=diagonal.mean(axis=-1),
        to_previous=previous.mean(axis=-1) if tokens > 1 else np.zeros(stack.shape[:2], dtype=stack.dtype),
        to_first=stack[..., 0].mean(axis=-1),
        entropy_bits=entropy.mean(axis=-1),
    )


def model_view_grid(
    result: AttentionResult, *, max_cells: int, hide: bool = False, merge: bool = False, hide_sink: bool = False
) -> ModelViewGrid:
    """Every head of every layer, pooled to at most `max_cells` cells a side, tiled into one image.

    Tiles are thumbnails for spotting patterns; pooling (beyond `max_cells` tokens) groups neighbouring
    tokens with the merge rule, so a pooled tile's rows still sum to 1.
    """
    if max_cells < 1:
        raise ValueError(f"max_cells must be at least 1, not {max_cells}.")
    stack, axis = token_view(result.weights, result.axis, hide=hide, merge=merge, hide_sink=hide_sink)
    tokens = len(axis)
    cells = min(tokens, max_cells)
    cell_of = np.arange(tokens) * cells // tokens
    pooled = merge_pieces(stack, cell_of, cells) if cells < tokens else stack
    layers, heads = stack.shape[:2]
    step = cells + 1
    image = np.full((layers * step - 1, heads * step - 1), np.nan, dtype=np.float32)
    for layer in range(layers):
        for head in range(heads):
            image[layer * step : layer * step + cells, head * step : head * step + cells] = pooled[layer, head]
    starts = np.searchsorted(cell_of, np.arange(cells))
    blocks = np.stack([starts, np.append(starts[1:], tokens) - 1], axis=1)
    return ModelViewGrid(image, layers, heads, cells, blocks, axis, head_summary(stack))


# ---------------------------------------------------------------------------------------------
# Head view: lines from each query token to the keys it reads (bertviz's head view)


@dataclass(frozen=True)
class HeadLines:
    """Chosen heads of one layer, ready to draw as lines: the tokens in a left column (queries) and again in a
    right column (keys), a line from query i to key j as thick as weights[h, i, j].

    heads:   the head numbers drawn, one colour each
    weights: (len(heads), n, n) float32, each head's matrix after hiding and merging (rows still sum to 1)
    """

    layer: int
    heads: tuple[int, ...]
    weights: np.ndarray
    axis: TokenAxis
    causal: bool


@dataclass(frozen=True)
class Links:
    """The lines to draw, one entry each: which head (an index into HeadLines.heads), from which query token to
    which key token, and its weight. Strongest first."""

    head: np.ndarray
    query: np.ndarray
    key: np.ndarray
    weight: np.ndarray
    total: int = 0  # how many lines passed the filters, before keeping only the strongest

    def __len__(self) -> int:
        return len(self.weight)


def head_lines(
    result: AttentionResult,
    layer: int,
    heads: tuple[int, ...] | list[int],
    *,
    hide: bool = False,
    merge: bool = False,
    hide_sink: bool = False,
) -> HeadLines:
    """The heads `heads` of `layer`, hidden and merged like every other view."""
    _check_layer(result, layer)
    heads = tuple(int(head) for head in heads)
    if not heads:
        raise ValueError("Pick at least one head to draw.")
    if any(not 0 <= head < result.heads for head in heads):
        raise ValueError(f"Heads go from 0 to {result.heads - 1}.")
    stack, axis = token_view(result.weights[layer], result.axis, hide=hide, merge=merge, hide_sink=hide_sink)
    return HeadLines(layer, heads, stack[list(heads)].astype(np.float32), axis, result.causal)


def visible_links(
    lines: HeadLines,
    *,
    min_weight: float,
    query: int | None = None,
    key: int | None = None,
    max_links: int = MAX_HEAD_VIEW_LINKS,
) -> Links:
    """The lines at least `min_weight` thick, the strongest `max_links` of them; only one query token's (its
    row) or one key token's (its column) when `query` or `key` is given, as when a student picks a token."""
    keep = lines.weights >= min_weight
    if query is not None:
        keep[:, np.arange(keep.shape[1]) != query, :] = False
    if key is not None:
        keep[:, :, np.arange(keep.shape[2]) != key] = False
    head, row, column = np.nonzero(keep)
    weight = lines.weights[head, row, column]
    order = np.argsort(-weight, kind="stable")[:max_links]
    return Links(head[order], row[order], column[order], weight[order], total=len(weight))


def strongest_keys(lines: HeadLines, count: int) -> list[list[tuple[int, float]]]:
    """For each query token, the `count` keys it reads most, averaged over the drawn heads (for hover text)."""
    mean = lines.weights.mean(axis=0)
    top = np.argsort(-mean, axis=1, kind="stable")[:, :count]
    return [[(int(key), float(mean[query, key])) for key in keys] for query, keys in enumerate(top)]


# ---------------------------------------------------------------------------------------------
# Induction heads


def repeated_random_tokens(
    vocab_size: int, period: int, seed: int, *, bos_id: int, avoid: tuple[int, ...] = ()
) -> np.ndarray:
    """[BOS] then `period` distinct random token ids, twice: (2·period + 1,) int64, the same for the same seed.

    Distinct ids make "the token after the earlier occurrence" unique.
    """
    candidates = np.setdiff1d(np.arange(vocab_size), np.asarray(avoid, dtype=np.int64))
    if not 1 <= period <= len(candidates):
        raise ValueError(f"period must be between 1 and {len(candidates)}, not {period}.")
    block = np.random.default_rng(seed).choice(candidates, size=period, replace=False)
    return np.concatenate([[bos_id], block, block]).astype(np.int64)


def induction_scores(weights: np.ndarray, period: int) -> np.ndarray:
    """(…, T, T) attention over a sequence ending in a block repeated twice -> (…) scores.

    The score is the mean, over each query i of the second copy, of its weight on key i − period + 1:
    the token that followed the query's token the first time round (A B … A → attend to B).
    """
    tokens = weights.shape[-1]
    if not 1 <= period <= tokens // 2:
        raise ValueError(f"A sequence of {tokens} tokens cannot hold two copies of {period} tokens.")
    queries = np.arange(tokens - period, tokens)
    return weights[..., queries, queries - period + 1].mean(axis=-1)


def per_token_loss(logits: torch.Tensor, token_ids: torch.Tensor) -> np.ndarray:
    """(T, vocab) logits, (T,) ids -> (T−1,) float32: −log p(token t+1 | tokens ≤ t) in nats."""
    log_probs = torch.log_softmax(logits[:-1].float(), dim=-1)
    return (-log_probs.gather(1, token_ids[1:, None])[:, 0]).cpu().numpy().astype(np.float32)


def run_induction(loaded: LoadedModel, *, period: int, seed: int) -> InductionResult:
    """Random tokens repeated twice through a causal LM: loss per position, induction score per head."""
    if loaded.entry.family != "causal-lm":
        raise ValueError(f"Induction heads need a causal LM such as GPT-2, not {loaded.entry.display_name}.")
    if not 2 * period + 1 <= loaded.entry.context_length:
        raise ValueError(f"Two copies of {period} tokens do not fit in {loaded.entry.context_length} tokens.")
    tokenizer, model = loaded.tokenizer, loaded.model
    vocab = min(len(tokenizer), model.config.vocab_size)
    ids = repeated_random_tokens(
        vocab, period, seed, bos_id=tokenizer.bos_token_id, avoid=tuple(tokenizer.all_special_ids)
    )
    loss, weights = engine_for(loaded).call(INDUCTION, ids)
    labels = tuple(_piece_label(tokenizer, int(i), "", None) for i in ids)
    return InductionResult(
        model_key=loaded.entry.key,
        token_ids=ids,
        labels=labels,
        period=period,
        seed=seed,
        loss=loss,
        scores=induction_scores(weights, period).astype(np.float32),
        weights=weights,
    )


def _induction_batch(loaded: LoadedModel, requests: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """Loss per position and every attention weight, one repeated-token sequence at a time."""
    results = []
    for ids in requests:
        input_ids = torch.as_tensor(ids, device=loaded.device).unsqueeze(0)
        outputs = _forward(loaded.model, input_ids)
        loss = per_token_loss(outputs.logits[0], input_ids[0])
        results.append((loss, torch.stack(outputs.attentions)[:, 0].float().cpu().numpy()))
    return results


# One at a time: a run returns up to 12 × 12 × 201² weights.
INDUCTION = BatchKind("induction", _induction_batch, max_cost=1)


def top_heads(scores: np.ndarray, count: int) -> list[tuple[int, int, float]]:
    """The `count` highest (layer, head, score) of a (layers, heads) array, best first."""
    order = np.argsort(scores, axis=None)[::-1][:count]
    return [
        (int(layer), int(head), float(scores[layer, head]))
        for layer, head in zip(*np.unravel_index(order, scores.shape))
    ]


def induction_view(result: InductionResult, layer: int, head: int) -> AttentionView:
    """One head's attention over the repeated sequence (an induction head draws a stripe)."""
    tokens = len(result.labels)
    special = np.zeros(tokens, dtype=bool)
    special[0] = True
    axis = TokenAxis(result.labels, special, np.arange(tokens), result.labels)
    return AttentionView(result.weights[layer, head], axis, causal=True, row_stochastic=True)


# ---------------------------------------------------------------------------------------------
# Presets


def load_presets(path: Path) -> tuple[Preset, ...]:
    """Presets from a JSON list of {"id", "name", "text", "look_for"}."""
    return tuple(Preset(**item) for item in json.loads(path.read_text(encoding="utf-8")))
