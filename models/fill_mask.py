"""Fill-mask: BERT's masked-language-model objective, one mask or many. No Streamlit here.

Split like transformers' fill-mask pipeline:
- prepare: `normalize_masks` (accept [MASK], [mask], <mask>, ___), `prepare_fill_input` (tokens,
  truncation to the context that keeps the masks) and `mask_tokens` (click-to-mask);
- run: `fill_masks` (every mask in one pass), `fill_left_to_right` (fill one, re-run, fill the next),
  `compare_first_masks` (the bias probe: two sentences over the same words);
- MLM training view: `corrupt_for_mlm` (15% of the tokens, then 80% [MASK] / 10% random / 10% kept)
  and `mlm_predictions` (predictions and cross-entropy at the selected positions only).

Speed: the vocabulary projection (hidden size × 30,522 for BERT) is only needed where a prediction
is read, so the encoder runs once over the whole sentence and the MLM head only over the rows at
the masks. Both are the model's own submodules: nothing is copied and nothing is changed.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

from models.engine import BatchKind, engine_for
from models.limits import ENGINE_BATCH_TOKENS, MAX_MLM_DRAWS
from models.loading import LoadedModel

# The spellings people type for a mask; each becomes the tokenizer's own mask token.
MASK_SPELLINGS = ("[MASK]", "[mask]", "<mask>", "___")
_MASK_PATTERN = re.compile(r"\[mask\]|<mask>|_{3,}", re.IGNORECASE)

# BERT's pre-training recipe (Devlin et al., 2019), as on the course card.
MLM_SELECT_RATE = 0.15
MLM_MASK_SHARE = 0.8
MLM_RANDOM_SHARE = 0.1  # the remaining 10% keep the original token

MlmAction = str  # "mask", "random", "keep", or "" for a position that was not selected
MLM_ACTIONS = ("mask", "random", "keep")

# Function words make poor blanks: "mask a word" prefers a content word.
_FUNCTION_WORDS = frozenset(
    """a an the and or but if then so as at by for from in into of off on onto out over to up with
    is am are was were be been being do does did has have had can could may might must shall should
    will would it its this that these those he she they we you i me him her them us my your his their
    our not no nor than too very just also there here what which who whom whose when where why how""".split()
)
_WORD = re.compile(r"[^\W\d_]+")


# ---------------------------------------------------------------------------------------
# Prepare


@dataclass(frozen=True)
class MaskedText:
    """The user's text with every accepted mask spelling replaced by the tokenizer's mask token.

    `conversions` counts the spellings that were rewritten, as typed (e.g. ("<mask>", 2));
    `glued_words` are words with a mask inside or stuck to them, such as "wor[MASK]".
    """

    text: str
    conversions: tuple[tuple[str, int], ...]
    mask_count: int
    glued_words: tuple[str, ...]


def normalize_masks(text: str, mask_token: str) -> MaskedText:
    """Rewrite [MASK], [mask], <mask> and ___ (any case) to `mask_token`, counting what changed."""
    counts: dict[str, int] = {}

    def replace(match: re.Match) -> str:
        if match.group(0) != mask_token:
            counts[match.group(0)] = counts.get(match.group(0), 0) + 1
        return mask_token

    normalized = _MASK_PATTERN.sub(replace, text)
    glued = re.findall(rf"\w*{re.escape(mask_token)}\w*", normalized)
    return MaskedText(
        text=normalized,
        conversions=tuple(counts.items()),
        mask_count=normalized.count(mask_token),
        glued_words=tuple(word for word in glued if word != mask_token),
    )


def unglue_masks(text: str, mask_token: str) -> str:
    """Replace each word with a mask stuck inside it ("wor[MASK]") by a plain mask: one whole word."""
    return re.sub(rf"\w*{re.escape(mask_token)}\w*", mask_token, text)


def mask_a_word(text: str, mask_token: str) -> str | None:
    """`text` with one word masked (the last content word, else the last word); None if it has no word."""
    words = list(_WORD.finditer(text))
    if not words:
        return None
    content = [word for word in words if word.group(0).lower() not in _FUNCTION_WORDS and len(word.group(0)) > 2]
    chosen = (content or words)[-1]
    return text[: chosen.start()] + mask_token + text[chosen.end() :]


@dataclass(frozen=True)
class FillInput:
    """One sequence ready for the model, with its masks located.

    input_ids: (seq,) int64, special tokens included; pieces: seq WordPiece strings.
    mask_positions: (masks,) indices into input_ids of the masks to predict (at most `max_masks`).
    unfilled_masks: masks past `max_masks`, left as masks in the input but not predicted.
    dropped_masks: 1-based numbers (in text order) of masks cut away to fit the context.
    truncated_tokens: text tokens cut away to fit the context (0 when it fitted).
    has_context: False when the text is only masks (and punctuation): nothing to predict from.
    """

    input_ids: np.ndarray
    pieces: tuple[str, ...]
    mask_positions: np.ndarray
    unfilled_masks: int
    dropped_masks: tuple[int, ...]
    truncated_tokens: int
    has_context: bool


def _window(mask_indices: Sequence[int], length: int, budget: int) -> tuple[int, int]:
    """[start, end) of at most `budget` tokens out of `length`, keeping as many masks as fit.

    When every mask fits, the window is centred on them (context on both sides is what BERT
    reads), within the text; otherwise it starts at the first mask and keeps those that fit.
    """
    if length <= budget:
        return 0, length
    if not mask_indices:
        return 0, budget
    first, last = mask_indices[0], mask_indices[-1]
    if last - first >= budget:
        return first, first + budget
    lowest, highest = max(0, last - budget + 1), min(first, length - budget)
    start = min(max((first + last) // 2 - budget // 2, lowest), highest)
    return start, start + budget


def _with_specials(tokenizer, ids: Sequence[int]) -> list[int]:
    # Every BERT-style masked LM reads one sentence as [CLS] text [SEP] (RoBERTa: <s> text </s>).
    return [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]


def prepare_fill_input(tokenizer, text: str, *, max_tokens: int, max_masks: int) -> FillInput:
    """Tokenize `text` (masks already normalized) to at most `max_tokens` tokens, keeping masks if possible."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    budget = max_tokens - tokenizer.num_special_tokens_to_add(pair=False)
    mask_id = tokenizer.mask_token_id  # a tokenizer attribute costs a lookup: read it once
    mask_indices = [index for index, token in enumerate(ids) if token == mask_id]
    start, end = _window(mask_indices, len(ids), budget)
    dropped = tuple(number for number, index in enumerate(mask_indices, start=1) if not start <= index < end)
    input_ids = np.array(_with_specials(tokenizer, ids[start:end]), dtype=np.int64)
    return _fill_input(tokenizer, input_ids, max_masks, dropped, len(ids) - (end - start))


def _fill_input(tokenizer, input_ids: np.ndarray, max_masks: int, dropped=(), truncated: int = 0) -> FillInput:
    mask_id = tokenizer.mask_token_id
    masks = np.flatnonzero(input_ids == mask_id)
    pieces = tuple(tokenizer.convert_ids_to_tokens(input_ids.tolist()))
    words = [piece for piece, token in zip(pieces[1:-1], input_ids[1:-1]) if token != mask_id]
    return FillInput(
        input_ids=input_ids,
        pieces=pieces,
        mask_positions=masks[:max_masks],
        unfilled_masks=max(0, len(masks) - max_masks),
        dropped_masks=tuple(dropped),
        truncated_tokens=truncated,
        has_context=any(any(ch.isalnum() for ch in piece) for piece in words),
    )


@dataclass(frozen=True)
class SentenceTokens:
    """A plain sentence as tokens. input_ids: (seq,) int64 with special tokens; pieces: seq strings.

    `maskable` lists the positions that may be masked: every token but [CLS], [SEP], padding and
    masks. [UNK] stays maskable, as in BERT's own pre-training data (an emoji is a real token there).
    """

    input_ids: np.ndarray
    pieces: tuple[str, ...]
    maskable: tuple[int, ...]
    truncated_tokens: int


def tokenize_sentence(tokenizer, text: str, *, max_tokens: int) -> SentenceTokens:
    """`text` as at most `max_tokens` tokens (special ones included), cut at the end if longer."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    budget = max_tokens - tokenizer.num_special_tokens_to_add(pair=False)
    input_ids = np.array(_with_specials(tokenizer, ids[:budget]), dtype=np.int64)
    framing = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.mask_token_id}
    return SentenceTokens(
        input_ids=input_ids,
        pieces=tuple(tokenizer.convert_ids_to_tokens(input_ids.tolist())),
        maskable=tuple(index for index, token in enumerate(input_ids.tolist()) if token not in framing),
        truncated_tokens=max(0, len(ids) - budget),
    )


def mask_tokens(tokenizer, sentence: SentenceTokens, positions: Sequence[int], *, max_masks: int) -> FillInput:
    """Click-to-mask: `sentence` with the tokens at `positions` replaced by the mask token."""
    wrong = sorted(set(positions) - set(sentence.maskable))
    if wrong:
        raise ValueError(f"positions {wrong} are [CLS], [SEP], masks or outside the sentence")
    input_ids = sentence.input_ids.copy()
    input_ids[list(positions)] = tokenizer.mask_token_id
    return _fill_input(tokenizer, input_ids, max_masks)


def readable_text(tokenizer, input_ids: Sequence[int]) -> str:
    """The sequence as text, without [CLS]/[SEP]/padding but with any mask left in."""
    framing = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    return tokenizer.decode([int(token) for token in input_ids if token not in framing])


# ---------------------------------------------------------------------------------------
# Run


def _encoder_and_head(model: torch.nn.Module) -> tuple[torch.nn.Module, Callable[[torch.Tensor], torch.Tensor]]:
    """The encoder and the MLM head of a BERT-style masked LM: the model's own submodules."""
    if hasattr(model, "cls"):  # BertForMaskedLM: transform (dense, GELU, LayerNorm) then decoder
        return model.base_model, model.cls
    if hasattr(model, "vocab_projector"):  # DistilBertForMaskedLM spells the same head out

        def head(hidden: torch.Tensor) -> torch.Tensor:
            return model.vocab_projector(model.vocab_layer_norm(model.activation(model.vocab_transform(hidden))))

        return model.base_model, head
    raise TypeError(f"{type(model).__name__} is not a BERT or DistilBERT masked LM")


def mask_logits(loaded: LoadedModel, input_ids: np.ndarray, rows: Sequence[int]) -> torch.Tensor:
    """Vocabulary logits (len(rows), vocab) in float32, on the CPU, at `rows` of one sequence (seq,).

    The model's engine runs it in one padded encoder pass with other students' sentences; the MLM head
    runs only at the rows asked for.
    """
    request = (np.asarray(input_ids, dtype=np.int64), tuple(int(row) for row in rows))
    return engine_for(loaded).call(MASK_LOGITS, request)


def _mask_logits_batch(loaded: LoadedModel, requests: list[tuple[np.ndarray, tuple[int, ...]]]) -> list[torch.Tensor]:
    """One encoder pass over every request's sentence (right-padded, the padding masked out)."""
    encoder, head = _encoder_and_head(loaded.model)
    longest = max(len(ids) for ids, _ in requests)
    pad = loaded.tokenizer.pad_token_id or 0
    ids = torch.full((len(requests), longest), pad, dtype=torch.long)
    attention = torch.zeros((len(requests), longest), dtype=torch.long)
    for index, (row_ids, _) in enumerate(requests):
        ids[index, : len(row_ids)] = torch.from_numpy(row_ids)
        attention[index, : len(row_ids)] = 1
    hidden = encoder(input_ids=ids.to(loaded.device), attention_mask=attention.to(loaded.device)).last_hidden_state
    which = torch.tensor([index for index, (_, rows) in enumerate(requests) for _ in rows], device=loaded.device)
    where = torch.tensor([row for _, rows in requests for row in rows], device=loaded.device)
    logits = head(hidden[which, where]).float().cpu()
    return list(logits.split([len(rows) for _, rows in requests]))


MASK_LOGITS = BatchKind(
    "mask logits", _mask_logits_batch, max_cost=ENGINE_BATCH_TOKENS, cost=lambda request: len(request[0]), padded=True
)


@dataclass(frozen=True)
class MaskPrediction:
    """The top-k at one mask. token_ids, probs: (k,), best first; pieces: k WordPiece strings
    ("##ing" continues a word); words: the same k decoded as text, as the pipeline's token_str."""

    position: int  # index into the input ids
    token_ids: np.ndarray
    probs: np.ndarray
    pieces: tuple[str, ...]
    words: tuple[str, ...]


@dataclass(frozen=True)
class FillResult:
    """Predictions at every mask, in text order, and the text with each mask's top-1 filled in.

    `inputs` holds the ids each prediction was made from: one row per mask (masks, seq); for
    the independent fill every row is the same input, left to right each row has the earlier
    masks filled.
    """

    predictions: tuple[MaskPrediction, ...]
    filled_text: str
    inputs: np.ndarray


def _top_k(tokenizer, logits: torch.Tensor, positions: Sequence[int], top_k: int) -> list[MaskPrediction]:
    """The `top_k` most likely real word pieces at each position, with the model's own probabilities (a softmax
    over the whole vocabulary). Special tokens and placeholders such as "[unused134]" are skipped: they never
    occur in text, so a student should never see one offered as a word."""
    probs = logits.softmax(dim=-1)
    ids = _top_word_ids(tokenizer, probs, top_k)
    values = probs.gather(-1, ids)
    predictions = []
    for position, row_values, row_ids in zip(positions, values.cpu().numpy(), ids.cpu().numpy()):
        predictions.append(
            MaskPrediction(
                position=int(position),
                token_ids=row_ids.astype(np.int64),
                probs=row_values.astype(np.float32),
                pieces=tuple(tokenizer.convert_ids_to_tokens(row_ids.tolist())),
                words=tuple(tokenizer.decode([int(token)]) for token in row_ids),
            )
        )
    return predictions


def _top_word_ids(tokenizer, probs: torch.Tensor, top_k: int) -> torch.Tensor:
    """(rows, k) ids of the most likely pieces in each row, among those that occur in text."""
    allowed = torch.as_tensor(random_token_candidates(tokenizer), device=probs.device)
    offered = torch.full_like(probs, -1.0)
    offered[:, allowed] = probs[:, allowed]
    return offered.topk(min(top_k, len(allowed)), dim=-1).indices


def _check(fill_input: FillInput, top_k: int) -> None:
    if len(fill_input.mask_positions) == 0:
        raise ValueError("the input has no mask to fill")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")


def fill_masks(loaded: LoadedModel, fill_input: FillInput, *, top_k: int) -> FillResult:
    """Every mask predicted in one pass, each while the other masks are still masks."""
    _check(fill_input, top_k)
    positions = fill_input.mask_positions.tolist()
    logits = mask_logits(loaded, fill_input.input_ids, positions)
    predictions = _top_k(loaded.tokenizer, logits, positions, top_k)
    filled = fill_input.input_ids.copy()
    filled[positions] = [int(prediction.token_ids[0]) for prediction in predictions]
    return FillResult(
        predictions=tuple(predictions),
        filled_text=readable_text(loaded.tokenizer, filled),
        inputs=np.tile(fill_input.input_ids, (len(positions), 1)),
    )


def fill_left_to_right(loaded: LoadedModel, fill_input: FillInput, *, top_k: int) -> FillResult:
    """Fill the first mask with its top-1, run again, fill the next: each sees the words before it."""
    _check(fill_input, top_k)
    current = fill_input.input_ids.copy()
    predictions, inputs = [], []
    for position in fill_input.mask_positions.tolist():
        inputs.append(current.copy())
        logits = mask_logits(loaded, current, [position])
        prediction = _top_k(loaded.tokenizer, logits, [position], top_k)[0]
        predictions.append(prediction)
        current[position] = int(prediction.token_ids[0])
    return FillResult(
        predictions=tuple(predictions),
        filled_text=readable_text(loaded.tokenizer, current),
        inputs=np.stack(inputs),
    )


@dataclass(frozen=True)
class MaskComparison:
    """Several inputs' first mask over one shared list of tokens (the union of their top-k).

    token_ids: (tokens,), ordered by the highest probability any input gives them;
    pieces: the same as WordPiece strings; probs: (inputs, tokens).
    """

    token_ids: np.ndarray
    pieces: tuple[str, ...]
    probs: np.ndarray


def compare_first_masks(loaded: LoadedModel, fill_inputs: Sequence[FillInput], *, top_k: int) -> MaskComparison:
    """The bias probe: how "The man worked as a [MASK]." and "The woman …" share out the same words."""
    for fill_input in fill_inputs:
        _check(fill_input, top_k)
    probs = torch.cat(
        [
            mask_logits(loaded, fill_input.input_ids, fill_input.mask_positions[:1].tolist()).softmax(dim=-1)
            for fill_input in fill_inputs
        ]
    )
    union = torch.unique(_top_word_ids(loaded.tokenizer, probs, top_k))
    order = probs[:, union].max(dim=0).values.argsort(descending=True)
    token_ids = union[order]
    return MaskComparison(
        token_ids=token_ids.cpu().numpy().astype(np.int64),
        pieces=tuple(loaded.tokenizer.convert_ids_to_tokens(token_ids.tolist())),
        probs=probs[:, token_ids].cpu().numpy().astype(np.float32),
    )


# ---------------------------------------------------------------------------------------
# MLM training view: the 15% / 80-10-10 rule


@dataclass(frozen=True)
class MlmCorruption:
    """BERT's masking rule applied to one sentence with one seed.

    original_ids, corrupted_ids: (seq,) int64, with their WordPiece strings (seq each);
    actions: seq strings, "" where not selected, else "mask" (replaced by [MASK]), "random"
    (replaced by a random token) or "keep".
    """

    original_ids: np.ndarray
    corrupted_ids: np.ndarray
    original_pieces: tuple[str, ...]
    corrupted_pieces: tuple[str, ...]
    actions: tuple[MlmAction, ...]
    seed: int
    select_rate: float

    @property
    def selected(self) -> np.ndarray:
        """(n_selected,) positions the loss is computed at, in order."""
        return np.array([index for index, action in enumerate(self.actions) if action], dtype=np.int64)


def _is_bracketed(piece: str) -> bool:
    return piece.startswith("[") and piece.endswith("]") and len(piece) > 2


@functools.lru_cache(maxsize=8)
def random_token_candidates(tokenizer) -> np.ndarray:
    """Ids (read-only) the 10% "random token" case may draw: never a special token.

    BERT's vocabulary also holds placeholders such as "[unused7]" that never occur in text; they
    are left out too so a random replacement always looks like a real word piece. Cached per
    tokenizer: listing 30k pieces takes ~0.1 s.
    """
    special = set(tokenizer.all_special_ids)
    pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    ids = np.array(
        [index for index, piece in enumerate(pieces) if index not in special and not _is_bracketed(piece)],
        dtype=np.int64,
    )
    ids.flags.writeable = False
    return ids


def corrupt_for_mlm(
    tokenizer,
    sentence: SentenceTokens,
    *,
    seed: int,
    select_rate: float = MLM_SELECT_RATE,
    mask_share: float = MLM_MASK_SHARE,
    random_share: float = MLM_RANDOM_SHARE,
) -> MlmCorruption:
    """Select round(rate × n) of the n maskable tokens (at least one), then mask / randomise / keep each.

    As in BERT's create_pretraining_data.py: a fixed count chosen uniformly, then an independent
    80/10/10 draw per chosen token. The same seed always gives the same corruption.
    """
    if not 0 < select_rate <= 1:
        raise ValueError(f"select_rate must be in (0, 1], got {select_rate}")
    if not sentence.maskable:
        raise ValueError("the sentence has no token to select")
    rng = np.random.default_rng(seed)
    maskable = np.array(sentence.maskable, dtype=np.int64)
    count = max(1, int(round(select_rate * len(maskable))))
    chosen = np.sort(rng.choice(maskable, size=count, replace=False))
    pool = random_token_candidates(tokenizer)
    corrupted = sentence.input_ids.copy()
    actions = [""] * len(corrupted)
    for position, draw in zip(chosen.tolist(), rng.random(count).tolist()):
        if draw < mask_share:
            actions[position] = "mask"
            corrupted[position] = tokenizer.mask_token_id
        elif draw < mask_share + random_share:
            actions[position] = "random"
            corrupted[position] = int(rng.choice(pool))
        else:
            actions[position] = "keep"
    return MlmCorruption(
        original_ids=sentence.input_ids.copy(),
        corrupted_ids=corrupted,
        original_pieces=sentence.pieces,
        corrupted_pieces=tuple(tokenizer.convert_ids_to_tokens(corrupted.tolist())),
        actions=tuple(actions),
        seed=seed,
        select_rate=select_rate,
    )


@dataclass(frozen=True)
class MlmTally:
    """The 80/10/10 rule over many draws of one sentence (seeds first_seed, first_seed + 1, ...).

    counts: (draws, 3) tokens masked / randomised / kept in each draw (MLM_ACTIONS order);
    maskable: tokens the rule may pick; picked_per_draw: round(rate × maskable), the same every draw.
    The shares below are running totals after each draw, so they show the proportions settling.
    """

    counts: np.ndarray
    maskable: int
    picked_per_draw: int
    select_rate: float

    @property
    def draws(self) -> np.ndarray:
        return np.arange(1, len(self.counts) + 1)

    @property
    def running_shares(self) -> np.ndarray:
        """(draws, 3): of all picked tokens so far, the share masked, randomised and kept."""
        totals = self.counts.cumsum(axis=0)
        return totals / totals.sum(axis=1, keepdims=True)

    @property
    def picked_share(self) -> float:
        """Share of the sentence's tokens picked in every draw: round(rate × n) / n, not exactly the rate."""
        return self.picked_per_draw / self.maskable


def tally_mlm_rule(
    tokenizer, sentence: SentenceTokens, *, draws: int, select_rate: float = MLM_SELECT_RATE, first_seed: int = 0
) -> MlmTally:
    """Apply `corrupt_for_mlm` with `draws` consecutive seeds and count what the rule did each time."""
    if not 1 <= draws <= MAX_MLM_DRAWS:
        raise ValueError(f"draws must be between 1 and {MAX_MLM_DRAWS}, not {draws}")
    counts = np.zeros((draws, len(MLM_ACTIONS)), dtype=np.int64)
    for draw in range(draws):
        actions = corrupt_for_mlm(tokenizer, sentence, seed=first_seed + draw, select_rate=select_rate).actions
        counts[draw] = [actions.count(action) for action in MLM_ACTIONS]
    return MlmTally(
        counts=counts, maskable=len(sentence.maskable), picked_per_draw=int(counts[0].sum()), select_rate=select_rate
    )


@dataclass(frozen=True)
class MlmPredictions:
    """The model's guesses and the MLM loss at the selected positions (n of them).

    positions: (n,); targets: (n,) original ids; losses: (n,) cross-entropy −log p(original);
    target_probs: (n,) p(original); top: one MaskPrediction per position; loss: mean of losses,
    which is the MLM loss (unselected positions contribute nothing).
    """

    positions: np.ndarray
    targets: np.ndarray
    losses: np.ndarray
    target_probs: np.ndarray
    top: tuple[MaskPrediction, ...]
    loss: float


def mlm_predictions(loaded: LoadedModel, corruption: MlmCorruption, *, top_k: int) -> MlmPredictions:
    """Run the model on the corrupted sentence; score it against the original tokens where selected."""
    positions = corruption.selected
    logits = mask_logits(loaded, corruption.corrupted_ids, positions.tolist())
    targets = corruption.original_ids[positions]
    target_tensor = torch.as_tensor(targets, device=logits.device)
    losses = torch.nn.functional.cross_entropy(logits, target_tensor, reduction="none").cpu().numpy()
    return MlmPredictions(
        positions=positions,
        targets=targets,
        losses=losses.astype(np.float32),
        target_probs=np.exp(-losses).astype(np.float32),
        top=tuple(_top_k(loaded.tokenizer, logits, positions.tolist(), top_k)),
        loss=float(losses.mean()),
    )
