"""Many students, one shared model: every models/ entry point called from many threads at once on one
shared tiny model gives what sequential calls give, and every forward pass runs on that model's engine
(so the server batches inference on a shared model instead of racing on it).

Pages hold no torch code (tests/unit/test_registry.py checks that), so these entry points are the only
way a page reaches a model: proving them safe proves the pages' inference goes through the engines.
"""

from __future__ import annotations

import dataclasses
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
import pytest
import torch
from PIL import Image

from models import attention, double_descent, fill_mask, generation, zero_shot
from models.engine import engine_for
from models.loading import LoadedModel

THREADS = 8
ROUNDS = 3
LONG = "the valley of the unicorns " * 80  # past the attention page's 256-token cut


def canonical(value: Any) -> Any:
    """Results as nested tuples and arrays, so two runs compare field by field."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple((f.name, canonical(getattr(value, f.name))) for f in dataclasses.fields(value))
    if isinstance(value, (list, tuple)):
        return tuple(canonical(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, canonical(item)) for key, item in value.items()))
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return value


def assert_same(expected: Any, actual: Any, where: str) -> None:
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray) and expected.shape == actual.shape, where
        if np.issubdtype(expected.dtype, np.floating):
            np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6, err_msg=where)
        else:
            np.testing.assert_array_equal(actual, expected, err_msg=where)
    elif isinstance(expected, tuple):
        assert isinstance(actual, tuple) and len(expected) == len(actual), where
        for index, (a, b) in enumerate(zip(expected, actual)):
            assert_same(a, b, f"{where}[{index}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-5, abs=1e-6, nan_ok=True), where
    else:
        assert expected == actual, where


def _without_timing(result: generation.GenerationResult) -> tuple:
    """A generation's tokens and probabilities; its timings differ from run to run by nature."""
    return tuple(
        (step.token_id, step.probability, step.alternative_ids, step.alternative_probs) for step in result.steps
    )


def _generate(loaded: LoadedModel, text: str, **settings: Any) -> tuple:
    prompt = generation.prepare_prompt(
        loaded.tokenizer, text, max_new_tokens=6, context_length=loaded.entry.context_length
    )
    return _without_timing(
        generation.generate(loaded, prompt, generation.DecodingSettings(max_new_tokens=6, **settings))
    )


def _next_tokens(loaded: LoadedModel, text: str) -> generation.NextTokenDistribution:
    prompt = generation.prepare_prompt(
        loaded.tokenizer, text, max_new_tokens=1, context_length=loaded.entry.context_length
    )
    return generation.next_token_distribution(loaded, prompt)


def _fill(loaded: LoadedModel, text: str, left_to_right: bool = False) -> fill_mask.FillResult:
    fill_input = fill_mask.prepare_fill_input(
        loaded.tokenizer,
        fill_mask.normalize_masks(text, loaded.tokenizer.mask_token).text,
        max_tokens=loaded.entry.context_length,
        max_masks=8,
    )
    run = fill_mask.fill_left_to_right if left_to_right else fill_mask.fill_masks
    return run(loaded, fill_input, top_k=5)


def _probe(loaded: LoadedModel, sentences: tuple[str, str]) -> fill_mask.MaskComparison:
    inputs = [
        fill_mask.prepare_fill_input(loaded.tokenizer, text, max_tokens=loaded.entry.context_length, max_masks=1)
        for text in sentences
    ]
    return fill_mask.compare_first_masks(loaded, inputs, top_k=5)


def _mlm(loaded: LoadedModel, sentence: str, seed: int) -> fill_mask.MlmPredictions:
    tokens = fill_mask.tokenize_sentence(loaded.tokenizer, sentence, max_tokens=loaded.entry.context_length)
    corruption = fill_mask.corrupt_for_mlm(loaded.tokenizer, tokens, seed=seed)
    return fill_mask.mlm_predictions(loaded, corruption, top_k=5)


def _zero_shot(loaded: LoadedModel, labels: tuple[str, ...], colour: tuple[int, int, int]) -> zero_shot.ZeroShotResult:
    checked = zero_shot.check_labels(list(labels), loaded.tokenizer, ("a photo of a {}.",), loaded.entry.context_length)
    embeddings = zero_shot.embed_labels(loaded, checked.items, ("a photo of a {}.",))
    return zero_shot.classify(loaded, [Image.new("RGB", (64, 48), colour)], embeddings)


def jobs(tiny_gpt2: LoadedModel, tiny_bert: LoadedModel, tiny_clip: LoadedModel) -> list[tuple[str, Callable[[], Any]]]:
    """Every entry point, each with inputs of its own (different lengths, so calls interleave)."""
    gpt2, bert, clip = tiny_gpt2, tiny_bert, tiny_clip
    return [
        ("attention bert short", lambda: attention.attention_for_text(bert, "The unicorns spoke perfect English.")),
        ("attention bert long", lambda: attention.attention_for_text(bert, LONG)),
        ("attention gpt2 short", lambda: attention.attention_for_text(gpt2, "sea otter => loutre de mer")),
        ("attention gpt2 long", lambda: attention.attention_for_text(gpt2, LONG)),
        ("induction", lambda: attention.run_induction(gpt2, period=8, seed=3)),
        ("generate greedy", lambda: _generate(gpt2, "cheese =>")),
        ("generate sampled", lambda: _generate(gpt2, "In a shocking finding,", sample=True, temperature=1.3, seed=7)),
        ("generate long prompt", lambda: _generate(gpt2, LONG)),
        ("next token", lambda: _next_tokens(gpt2, "peppermint =>")),
        (
            "score answers",
            lambda: generation.score_answers(
                gpt2, ["sea otter =>", "cheese =>", "plush girafe =>"], [" loutre", " fromage", " girafe"]
            ),
        ),
        ("fill one mask", lambda: _fill(bert, "This is a photo of a [MASK].")),
        ("fill long text", lambda: _fill(bert, LONG + " the [MASK] ends here")),
        (
            "fill left to right",
            lambda: _fill(bert, "Deep networks trained on one [MASK] can be reused for another [MASK].", True),
        ),
        ("bias probe", lambda: _probe(bert, ("The man worked as a [MASK].", "The woman worked as a [MASK]."))),
        ("mlm rule", lambda: _mlm(bert, "BERT learns word representations by predicting masked words.", seed=11)),
        ("clip zero-shot", lambda: _zero_shot(clip, ("cat", "dog", "car"), (200, 100, 0))),
        ("clip other labels", lambda: _zero_shot(clip, ("rocket", "astronaut", "teapot", "coffee"), (0, 90, 200))),
        (
            "clip images",
            lambda: zero_shot.encode_images(clip, [Image.new("RGB", (40, 40), (c, c, c)) for c in (0, 128, 255)]),
        ),
        (
            "bias-variance",
            lambda: double_descent.simulate_bias_variance(
                double_descent.BiasVarianceSettings(n_resamples=20, max_degree=5, n_test=50, seed=1)
            ),
        ),
        (
            "random features",
            lambda: double_descent.simulate_random_features(
                double_descent.RandomFeaturesSettings(
                    n_train=20, max_features=60, n_grid=8, n_repeats=2, n_test=50, seed=2
                )
            ),
        ),
        (
            "linear model",
            lambda: double_descent.simulate_linear_model(
                double_descent.LinearModelSettings(n_train=20, sweep_max=60, n_grid=8, n_repeats=2, seed=3)
            ),
        ),
    ]


@pytest.fixture(scope="module")
def all_jobs(tiny_gpt2, tiny_bert, tiny_clip):
    return jobs(tiny_gpt2, tiny_bert, tiny_clip)


def test_concurrent_calls_give_the_same_results_as_sequential_calls(all_jobs):
    expected = {name: canonical(job()) for name, job in all_jobs}
    schedule = [(name, job) for _ in range(ROUNDS) for name, job in all_jobs]
    random.Random(0).shuffle(schedule)
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [(name, pool.submit(job)) for name, job in schedule]
        for name, future in futures:
            assert_same(expected[name], canonical(future.result()), name)


def test_every_forward_pass_runs_on_the_models_engine(all_jobs, tiny_gpt2, tiny_bert, tiny_clip):
    """A forward pass of any module of a shared model, outside that model's engine worker, is a race."""
    owner = {id(module): loaded for loaded in (tiny_gpt2, tiny_bert, tiny_clip) for module in loaded.model.modules()}
    unlocked: set[str] = set()
    current: list[str] = []

    def check(module: torch.nn.Module, args: Any) -> None:
        loaded = owner.get(id(module))
        if loaded is not None and not engine_for(loaded).is_worker():
            unlocked.add(f"{current[-1]}: {type(module).__name__}")

    handle = torch.nn.modules.module.register_module_forward_pre_hook(check)
    try:
        for name, job in all_jobs:
            current.append(name)
            job()
    finally:
        handle.remove()
    assert not unlocked, sorted(unlocked)


def test_one_sessions_token_limit_never_reaches_another_sessions_text(tiny_bert):
    """The attention page cuts text at 256 tokens, the click-to-mask view at 128 and fill-mask not at all,
    all on one shared tokenizer. A cut made by switching the tokenizer's truncation on would race:
    a fill-mask text cut to 256 tokens, an attention map of 482."""
    tokenizer = tiny_bert.tokenizer
    text = LONG + " the [MASK] ends here"
    calls = {
        "attention": lambda: attention.prepare_text(tokenizer, text, causal=False, max_tokens=256),
        "fill-mask": lambda: fill_mask.prepare_fill_input(tokenizer, text, max_tokens=512, max_masks=8),
        "click-to-mask": lambda: fill_mask.tokenize_sentence(tokenizer, text, max_tokens=128),
    }
    expected = {name: canonical(call()) for name, call in calls.items()}
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        futures = [(name, pool.submit(call)) for _ in range(150) for name, call in calls.items()]
        for name, future in futures:
            assert_same(expected[name], canonical(future.result()), name)
