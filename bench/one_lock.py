"""The path the app took before the engines, kept as the benchmarks' reference: one lock per model, and
every student's request run alone at batch 1 (a generation took the lock once per token step, so
generations interleaved, one row at a time). Same models, same decoding rules, same results.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Iterator

import numpy as np
import torch

from models import fill_mask
from models import generation as gen

_locks: dict[int, threading.RLock] = {}
_locks_guard = threading.Lock()


def lock_of(loaded) -> threading.RLock:
    with _locks_guard:
        return _locks.setdefault(id(loaded.model), threading.RLock())


def _last_logits(model, input_ids, cache):
    outputs = model(input_ids=input_ids, past_key_values=cache, use_cache=True, logits_to_keep=1)
    return outputs.logits[0, -1].float(), outputs.past_key_values


def _choose(logits, sequence, processors, generator, alternatives):
    probs = logits.softmax(-1)
    scores = processors(sequence, logits[None])[0] if processors else logits
    if generator is None:
        token = scores.argmax(-1, keepdim=True)
        filtered = scores.softmax(-1) if processors else probs
    else:
        filtered = scores.softmax(-1)
        token = torch.multinomial(filtered, 1, generator=generator)
    top = probs.topk(alternatives)
    row = torch.cat([token.to(probs.dtype), probs[token], filtered[token], top.indices.to(probs.dtype), top.values])
    return token, row


def stream_generation(
    loaded, prompt: gen.PreparedPrompt, settings: gen.DecodingSettings
) -> Iterator[gen.GenerationStep]:
    model, tokenizer, lock = loaded.model, loaded.tokenizer, lock_of(loaded)
    processors = gen.logits_processors(settings)
    generator = None if settings.greedy else torch.Generator(device=loaded.device).manual_seed(settings.seed)
    alternatives = settings.alternatives
    started = time.perf_counter()
    length = len(prompt.ids)
    sequence = torch.empty((1, length + settings.max_new_tokens), dtype=torch.long)
    sequence[0, :length] = torch.from_numpy(prompt.ids)
    step_input, cache = sequence[:, :length], None
    for index in range(settings.max_new_tokens):
        with lock, torch.inference_mode():
            logits, cache = _last_logits(model, step_input, cache)
            token, row = _choose(logits, sequence[:, :length], processors, generator, alternatives)
            sequence[0, length] = token[0]
            row = row.cpu().numpy()
        length += 1
        step_input = sequence[:, length - 1 : length]
        token_id = int(row[0])
        alternative_ids = row[3 : 3 + alternatives].astype(np.int64)
        pieces = tokenizer.batch_decode([[token_id], *alternative_ids[:, None].tolist()])
        stop = (
            "eos"
            if token_id == tokenizer.eos_token_id
            else ("max_new_tokens" if index == settings.max_new_tokens - 1 else None)
        )
        yield gen.GenerationStep(
            index,
            token_id,
            pieces[0],
            float(row[1]),
            float(row[2]),
            alternative_ids,
            tuple(pieces[1:]),
            row[3 + alternatives :].astype(np.float32),
            time.perf_counter() - started,
            stop,
        )
        if stop:
            return


def next_token_distribution(loaded, prompt: gen.PreparedPrompt, top: int = 10) -> gen.NextTokenDistribution:
    with lock_of(loaded), torch.inference_mode():
        logits, _ = _last_logits(loaded.model, torch.from_numpy(prompt.ids)[None], None)
        log_probs = logits.log_softmax(-1)
        entropy_bits = float(-(log_probs.exp() * log_probs).sum() / math.log(2))
        best = log_probs.topk(top)
    ids = best.indices.numpy()
    return gen.NextTokenDistribution(
        ids,
        tuple(loaded.tokenizer.batch_decode(ids[:, None].tolist())),
        best.values.exp().numpy().astype(np.float32),
        entropy_bits,
    )


def fill_masks(loaded, fill_input: fill_mask.FillInput, *, top_k: int) -> list[fill_mask.MaskPrediction]:
    encoder, head = fill_mask._encoder_and_head(loaded.model)
    positions = fill_input.mask_positions.tolist()
    with lock_of(loaded), torch.inference_mode():
        hidden = encoder(input_ids=torch.from_numpy(fill_input.input_ids)[None]).last_hidden_state[0]
        logits = head(hidden[positions]).float()
    return fill_mask._top_k(loaded.tokenizer, logits, positions, top_k)
