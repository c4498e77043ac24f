"""Benchmark: the worst single request a page allows, and what it does to everyone else.

    python -m bench.bench_worst_request

For each page's heaviest request at its largest settings (200 new tokens after a prompt filling the
context; the k = 0..8 experiment; attention over 256 tokens; fill-mask with 8 masks, left to right), this
measures how long it runs alone, and how long a bystander's small request (another student pressing the
same page's button with the defaults) takes alone and when it arrives 30 % of the way into the heavy one. The
engine takes sessions in turn, one bounded step or batch at a time, so the bystander should wait about
one step, not the whole heavy request.

Full-size GPT-2 and BERT with random weights (timing does not depend on weight values), CPU.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

from models import attention, fill_mask
from models import generation as gen
from models.limits import MAX_ATTENTION_TOKENS, MAX_EXPERIMENT_SHOTS, MAX_MASKS, MAX_NEW_TOKENS
from tests.model_factory import build_model_dir, load_from_folder

ARRIVAL_SHARE = 0.3  # the other student arrives this far into the worst request
RUNS = 3


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def in_own_thread(work: Callable[[], object]) -> float:
    """Seconds `work` takes on a fresh thread (each page run has its own), as its own session."""
    took: list[float] = []
    thread = threading.Thread(target=lambda: took.append(timed(work)))
    thread.start()
    thread.join()
    return took[0]


def beside(heavy: Callable[[], object], bystander: Callable[[], object], arrival_s: float) -> tuple[float, float]:
    """(heavy's seconds, bystander's seconds) with the bystander arriving `arrival_s` into the heavy request."""
    heavy_took: list[float] = []
    thread = threading.Thread(target=lambda: heavy_took.append(timed(heavy)))
    thread.start()
    time.sleep(arrival_s)
    bystander_took = in_own_thread(bystander)
    thread.join()
    return heavy_took[0], bystander_took


def generation_cases(gpt2) -> list[tuple]:
    tokenizer = gpt2.tokenizer
    chosen = next(p for p in gen.load_presets() if p.examples)
    long_text = " ".join(["The unicorns spoke perfect English, said the scientist."] * 200)
    long_prompt = gen.prepare_prompt(tokenizer, long_text, max_new_tokens=MAX_NEW_TOKENS, context_length=1024)
    settings = gen.DecodingSettings(max_new_tokens=MAX_NEW_TOKENS, stop_at_newline=False)
    few_shot = gen.prepare_prompt(
        tokenizer,
        gen.build_prompt(chosen.task, chosen.examples, "bread", chosen.few_k, chosen.separator),
        max_new_tokens=32,
        context_length=1024,
    )
    labelled = gen.load_labelled_sets()[0]
    ks = range(min(MAX_EXPERIMENT_SHOTS, len(labelled.demonstrations)) + 1)

    def long_generation():
        steps = list(gen.stream_generation(gpt2, long_prompt, settings))
        assert len(steps) == MAX_NEW_TOKENS

    def experiment():
        for k in ks:
            gen.score_shots(gpt2, labelled, k)

    def next_token():
        gen.next_token_distribution(gpt2, few_shot)

    return [
        (
            f"generation: {MAX_NEW_TOKENS} new tokens after a {len(long_prompt.ids)}-token prompt",
            long_generation,
            next_token,
            True,
        ),
        (
            f"generation: the k = 0..{max(ks)} experiment ({len(labelled.items)} items × {len(ks)} k)",
            experiment,
            next_token,
            True,
        ),
    ]


def bert_cases(bert) -> list[tuple]:
    long_text = " ".join(["Pérez and his friends were astonished to see the unicorn herd."] * 40)
    masked = " ".join(["The [MASK] sat on the mat and looked at the [MASK]."] * 4)
    fill_input = fill_mask.prepare_fill_input(bert.tokenizer, masked, max_tokens=512, max_masks=MAX_MASKS)
    one_mask = fill_mask.prepare_fill_input(
        bert.tokenizer, "Paris is the [MASK] of France.", max_tokens=512, max_masks=1
    )
    assert len(fill_input.mask_positions) == MAX_MASKS

    return [
        (
            f"attention: {MAX_ATTENTION_TOKENS} tokens, every layer and head",
            lambda: attention.attention_for_text(bert, long_text, max_tokens=MAX_ATTENTION_TOKENS),
            lambda: attention.attention_for_text(bert, "The cat sat on the mat.", max_tokens=MAX_ATTENTION_TOKENS),
            False,
        ),
        (
            f"fill-mask: {MAX_MASKS} masks filled left to right",
            lambda: fill_mask.fill_left_to_right(bert, fill_input, top_k=20),
            lambda: fill_mask.fill_masks(bert, one_mask, top_k=5),
            True,
        ),
    ]


def measure(name: str, heavy: Callable, bystander: Callable, *, in_steps: bool = True) -> dict:
    """`in_steps`: the worst request is many engine steps or batches (others' requests go between them);
    otherwise it is one forward pass, the engine's unit, which another request can only wait out."""
    heavy_alone, bystander_alone, heavy_shared, bystander_shared = [], [], [], []
    for _ in range(RUNS):  # interleaved: alone, shared, alone, shared...
        heavy_alone.append(in_own_thread(heavy))
        bystander_alone.append(in_own_thread(bystander))
        heavy_with, bystander_with = beside(heavy, bystander, ARRIVAL_SHARE * heavy_alone[0])
        heavy_shared.append(heavy_with)
        bystander_shared.append(bystander_with)
    median = statistics.median
    bystander = median(bystander_shared)
    return {
        "benchmark": f"worst request: {name}; another student's request arrives {ARRIVAL_SHARE:.0%} of the way in",
        "ours": bystander,
        "unit": "s",
        "reference": median(heavy_alone),
        "reference_name": "the worst request alone",
        "ratio": median(heavy_alone) / max(bystander, 1e-9),
        "target": "the other waits a step, not the whole request" if in_steps else "",
        "met": bystander < median(heavy_alone) / 2 if in_steps else None,
        "note": (
            f"the other student's request: {median(bystander_alone):.2f} s alone, {bystander:.2f} s beside the worst "
            f"(range {min(bystander_shared):.2f}–{max(bystander_shared):.2f} s over {RUNS} interleaved runs); "
            f"the worst request {median(heavy_shared):.1f} s beside it; ratio = worst alone / the other's time"
        ),
    }


def run(size: str = "full") -> list[dict]:
    root = Path(tempfile.mkdtemp(prefix="lecture-lab-worst-"))
    build_model_dir(root, size=size, keys=("gpt2", "bert-base-uncased"))
    rows = []
    gpt2 = load_from_folder(root, "gpt2")
    for name, heavy, bystander, in_steps in generation_cases(gpt2):
        rows.append(measure(name, heavy, bystander, in_steps=in_steps))
        print(rows[-1], file=sys.stderr, flush=True)
    bert = load_from_folder(root, "bert-base-uncased")
    for name, heavy, bystander, in_steps in bert_cases(bert):
        rows.append(measure(name, heavy, bystander, in_steps=in_steps))
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


if __name__ == "__main__":
    for row in run("tiny" if "--tiny" in sys.argv else "full"):  # --tiny: a quick check that every case runs
        print(row)
