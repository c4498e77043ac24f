"""The engines (models/engine.py, models/continuous_batching.py): a request served in a batch equals the
same request alone; students take turns; a fault or a cancelled request touches nobody else; memory
stays inside the engine's bounds. Tiny random-weight models; tests/unit/test_engine_full_size.py runs
the exactness checks on full-size ones.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from models import attention, continuous_batching as cb, fill_mask, zero_shot
from models import generation as gen
from models.engine import BatchKind, Engine, QueueStatus, RequestCancelled, RequestFailed, asking_as, engine_for
from tests.engine_tools import assert_same_generation, wait_until_idle

FEW_SHOT_TASK = "Translate English to French:"
EXAMPLES = (
    gen.Example("sea otter", "loutre de mer"),
    gen.Example("peppermint", "menthe poivrée"),
    gen.Example("plush girafe", "girafe peluche"),
    gen.Example("thanks", "merci"),
)
QUERIES = ["cheese", "bread and butter", "a very small cat", "moon", "the unicorns of the Andes", "water", "sky", "car"]


def few_shot(loaded, query: str, max_new_tokens: int = 10) -> gen.PreparedPrompt:
    text = gen.build_prompt(FEW_SHOT_TASK, EXAMPLES, query, 4)
    return gen.prepare_prompt(loaded.tokenizer, text, max_new_tokens=max_new_tokens, context_length=1024)


def in_threads(calls: list) -> list:
    """Run every call at once, each in its own thread (as many students do), results in order."""
    barrier = threading.Barrier(len(calls))

    def together(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result() for future in [pool.submit(together, call) for call in calls]]


# ---------------------------------------------------------------------------------------
# The batch lane, on a stand-in kind (no model needed)


class Gate:
    """A batch function that records each batch and waits for a go, so tests can pile requests up."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.batches: list[list] = []
        self.go = threading.Event()
        self.fail_on = fail_on

    def __call__(self, loaded, payloads: list) -> list:
        self.go.wait(10)
        self.batches.append(list(payloads))
        if self.fail_on in payloads:
            raise ValueError(f"cannot do {self.fail_on}")
        return [f"done {payload}" for payload in payloads]


def start_blocked(engine: Engine, kind: BatchKind) -> threading.Thread:
    """A first request that holds the worker until the gate opens."""
    first = threading.Thread(target=lambda: engine.call(kind, "first"))
    first.start()
    while not kind.run.batches and not engine.load().running:
        time.sleep(0.005)
    return first


def test_requests_that_arrive_together_share_a_batch():
    gate = Gate()
    engine, kind = Engine(object(), "test"), BatchKind("gate", gate, max_cost=64)
    first = start_blocked(engine, kind)
    with ThreadPoolExecutor(max_workers=10) as pool:
        futures = [pool.submit(lambda i=i: engine.call(kind, f"request {i}")) for i in range(10)]
        while engine.load().waiting < 10:
            time.sleep(0.005)
        gate.go.set()
        results = [future.result() for future in futures]
    first.join()
    assert results == [f"done request {i}" for i in range(10)]
    assert sorted(len(batch) for batch in gate.batches) == [1, 10]


def test_a_failing_request_fails_alone_and_the_engine_goes_on():
    gate = Gate(fail_on="poison")
    engine, kind = Engine(object(), "test"), BatchKind("gate", gate, max_cost=64)
    first = start_blocked(engine, kind)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(engine.call, kind, name) for name in ("a", "poison", "b")}
        while engine.load().waiting < 3:
            time.sleep(0.005)
        gate.go.set()
        assert futures["a"].result() == "done a" and futures["b"].result() == "done b"
        with pytest.raises(RequestFailed, match="cannot do poison"):
            futures["poison"].result()
    first.join()
    assert engine.call(kind, "later") == "done later"


def test_sessions_take_turns_within_the_cost_budget():
    gate = Gate()
    engine, kind = Engine(object(), "test"), BatchKind("gate", gate, max_cost=4)
    first = start_blocked(engine, kind)

    def long_job():
        with asking_as("student-a"):
            return engine.call_many(kind, [f"a{i}" for i in range(12)])

    def one_request():
        with asking_as("student-b"):
            return engine.call(kind, "b")

    with ThreadPoolExecutor(max_workers=2) as pool:
        job = pool.submit(long_job)
        while engine.load().waiting < 12:
            time.sleep(0.005)
        other = pool.submit(one_request)
        while engine.load().waiting < 13:
            time.sleep(0.005)
        gate.go.set()
        assert other.result() == "done b"
        assert job.result() == [f"done a{i}" for i in range(12)]
    first.join()
    batch_with_b = next(index for index, batch in enumerate(gate.batches) if "b" in batch)
    assert batch_with_b == 1, f"student b waited behind {batch_with_b - 1} batches of student a's job"
    assert all(len(batch) <= 4 for batch in gate.batches)


def test_a_waiting_student_hears_where_they_stand_and_can_give_up():
    gate = Gate()
    engine, kind = Engine(object(), "test"), BatchKind("gate", gate, max_cost=1)
    first = start_blocked(engine, kind)
    heard: list[QueueStatus] = []

    def impatient(status: QueueStatus) -> None:
        heard.append(status)
        if len(heard) == 2:
            raise KeyboardInterrupt("the student closed the tab")

    with asking_as("student", impatient), pytest.raises(KeyboardInterrupt):
        engine.call(kind, "second")
    assert heard[0].ahead == 1 and not heard[0].running and heard[0].eta_s is not None
    assert "1 request ahead" in heard[0].describe()
    gate.go.set()
    first.join()
    assert wait_until_idle(SimpleLoaded(engine))
    assert all("second" not in batch for batch in gate.batches), "a cancelled request still ran"


class SimpleLoaded:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine


def test_the_worker_thread_ends_when_the_work_does():
    engine, kind = Engine(object(), "test"), BatchKind("echo", lambda loaded, payloads: payloads, max_cost=8)
    assert engine.call(kind, "x") == "x"
    deadline = time.monotonic() + 10
    while engine.load().busy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not engine.load().busy


# ---------------------------------------------------------------------------------------
# GPT-2: continuous batching


SETTINGS = [
    gen.DecodingSettings(max_new_tokens=10),
    gen.DecodingSettings(max_new_tokens=7, repetition_penalty=1.3),
    gen.DecodingSettings(max_new_tokens=12, sample=True, temperature=1.3, seed=7),
    gen.DecodingSettings(max_new_tokens=9, sample=True, top_k=20, top_p=0.9, seed=11),
    gen.DecodingSettings(max_new_tokens=8, sample=True, temperature=0.7, repetition_penalty=1.2, seed=3),
]


def generation_cases(loaded) -> list[tuple[gen.PreparedPrompt, gen.DecodingSettings]]:
    """Few-shot prompts sharing a start, free prompts sharing nothing, every decoding mode."""
    cases = [(few_shot(loaded, query, 12), SETTINGS[index % len(SETTINGS)]) for index, query in enumerate(QUERIES)]
    for index, text in enumerate(
        ["In a shocking finding, scientist discovered a herd of unicorns", "hello", "x " * 40]
    ):
        prompt = gen.prepare_prompt(loaded.tokenizer, text, max_new_tokens=12, context_length=1024)
        cases.append((prompt, SETTINGS[(index + 2) % len(SETTINGS)]))
    return cases


def test_a_generation_served_in_a_batch_equals_the_same_request_alone(tiny_gpt2):
    cases = generation_cases(tiny_gpt2)
    alone = [gen.generate(tiny_gpt2, prompt, settings) for prompt, settings in cases]
    for _ in range(2):
        together = in_threads([lambda p=p, s=s: gen.generate(tiny_gpt2, p, s) for p, s in cases])
        for expected, actual in zip(alone, together):
            assert_same_generation(expected, actual)
    assert cb.decode_lane(tiny_gpt2).most_active > 1, "the requests never ran together"


def test_a_shared_prompt_start_is_computed_once(tiny_gpt2):
    lane = cb.decode_lane(tiny_gpt2)
    cb.forget_prefixes(tiny_gpt2)
    prompts = [few_shot(tiny_gpt2, query, 4) for query in QUERIES]
    settings = gen.DecodingSettings(max_new_tokens=4)
    before = lane.tokens_run
    in_threads([lambda p=p: gen.generate(tiny_gpt2, p, settings) for p in prompts])
    shared = prompts[0].shared_tokens
    assert shared > 10 and all(prompt.shared_tokens == shared for prompt in prompts)
    assert prompts[0].ids[:shared].tolist() == prompts[1].ids[:shared].tolist()
    new_tokens = 4 * len(prompts)
    own_lines = sum(len(prompt.ids) - shared for prompt in prompts)
    assert lane.tokens_run - before == shared + own_lines + new_tokens - len(prompts)
    assert len(lane.prefixes) == 1


def test_short_and_long_requests_keep_rows_of_their_own_length(tiny_gpt2, monkeypatch):
    """One student asking for 200 tokens must not make every short answer's row 200 tokens long."""
    lane = cb.decode_lane(tiny_gpt2)
    seen: list[set[int]] = []
    original = cb._build_plan

    def watching(decoding, chunks):
        seen.append({sequence.buffer.tokens for sequence in decoding})
        return original(decoding, chunks)

    cases = [(few_shot(tiny_gpt2, query, 8), gen.DecodingSettings(max_new_tokens=8)) for query in QUERIES[:4]]
    cases.append((few_shot(tiny_gpt2, "long", 200), gen.DecodingSettings(max_new_tokens=200)))
    monkeypatch.setattr(cb, "_build_plan", watching)
    in_threads([lambda p=p, s=s: gen.generate(tiny_gpt2, p, s) for p, s in cases])
    assert any(len(sizes) == 2 for sizes in seen), "short and long rows never decoded side by side"
    assert all(min(sizes) <= 32 and max(sizes) >= 200 for sizes in seen if len(sizes) == 2)
    assert wait_until_idle(tiny_gpt2)
    assert not lane.buffers, "buffers outlived their sequences"


def test_the_prefix_cache_lets_the_oldest_go_past_its_bound():
    def prefix(ids: tuple[int, ...]) -> cb.Prefix:
        return cb.Prefix(ids, [torch.zeros(2, len(ids), 4)], [torch.zeros(2, len(ids), 4)])

    one = prefix((1,) * 10).nbytes
    cache = cb.PrefixCache(max_bytes=3 * one)
    for start in range(5):
        cache.add(prefix((start,) * 10))
        cache.get((0,) * 10)  # the first stays in use
    assert cache.nbytes <= 3 * one
    assert cache.get((0,) * 10) is not None and cache.get((4,) * 10) is not None
    assert cache.get((1,) * 10) is None


def test_requests_wait_for_memory_instead_of_failing(tiny_gpt2, monkeypatch):
    lane = cb.decode_lane(tiny_gpt2)
    cases = generation_cases(tiny_gpt2)[:6]
    alone = [gen.generate(tiny_gpt2, prompt, settings) for prompt, settings in cases]
    assert wait_until_idle(tiny_gpt2)
    per_token = 2 * 2 * 32 * 4  # tiny GPT-2: 2 layers × (keys, values) × 32 floats
    # Room for 64 token places: two of these requests (own line + 12 new tokens: a 32-token row each).
    monkeypatch.setattr(lane, "kv_budget", lane.prefixes.nbytes + 64 * per_token)
    lane.most_active = 0
    together = in_threads([lambda p=p, s=s: gen.generate(tiny_gpt2, p, s) for p, s in cases])
    for expected, actual in zip(alone, together):
        assert_same_generation(expected, actual)
    assert lane.most_active <= 2


@contextlib.contextmanager
def worker_held(loaded):
    """Keep `loaded`'s engine worker busy inside the block, so requests made there pile up and start together."""
    gate = Gate()
    engine = engine_for(loaded)
    holder = threading.Thread(target=lambda: engine.call(BatchKind("hold", gate, max_cost=1), "hold"))
    holder.start()
    while not engine.load().running:
        time.sleep(0.005)
    try:
        yield
    finally:
        gate.go.set()
        holder.join()


def test_one_students_many_requests_go_in_between_everybody_elses(tiny_gpt2, monkeypatch):
    monkeypatch.setattr(cb, "ENGINE_SESSION_SEQUENCES", 2)
    labelled = gen.load_labelled_sets()[0]
    finished: list[str] = []

    def experiment():
        with asking_as("student-a"):
            gen.score_shots(tiny_gpt2, labelled, 4)
        finished.append("experiment")

    def generation():
        with asking_as("student-b"):
            gen.generate(tiny_gpt2, few_shot(tiny_gpt2, "cheese", 3), gen.DecodingSettings(max_new_tokens=3))
        finished.append("generation")

    lane = cb.decode_lane(tiny_gpt2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        with worker_held(tiny_gpt2):
            first = pool.submit(experiment)
            while len(lane.pending) < len(labelled.items):
                time.sleep(0.005)
            second = pool.submit(generation)
            while len(lane.pending) < len(labelled.items) + 1:
                time.sleep(0.005)
        first.result(), second.result()
    assert finished == ["generation", "experiment"]


class Poison(LogitsProcessor):
    def __call__(self, input_ids, scores):
        raise ValueError("this request's settings break the model")


def test_a_fault_in_one_generation_fails_it_alone(tiny_gpt2):
    cases = generation_cases(tiny_gpt2)[:5]
    alone = [gen.generate(tiny_gpt2, prompt, settings) for prompt, settings in cases]
    poison_token = 9999
    poisoned_prompt = tuple(tiny_gpt2.tokenizer("a prompt with a")["input_ids"]) + (poison_token,)

    def refuse_poison(module, args):
        if poison_token in args[0].tolist():
            raise RuntimeError("this token breaks the model")

    def poisoned_forward():
        request = cb.GenerateRequest(poisoned_prompt, 0, 5, True, 0, LogitsProcessorList(), ("greedy", 1.0), 10, False)
        return list(cb.stream_tokens(tiny_gpt2, request))

    def poisoned_processor():
        request = cb.GenerateRequest(
            poisoned_prompt[:-1], 0, 5, True, 0, LogitsProcessorList([Poison()]), ("poison",), 10, False
        )
        return list(cb.stream_tokens(tiny_gpt2, request))

    handle = tiny_gpt2.model.transformer.wte.register_forward_pre_hook(refuse_poison)
    try:
        calls = [lambda p=p, s=s: gen.generate(tiny_gpt2, p, s) for p, s in cases]
        outcomes = in_threads([*calls, lambda: _error_of(poisoned_forward), lambda: _error_of(poisoned_processor)])
    finally:
        handle.remove()
    for expected, actual in zip(alone, outcomes):
        assert_same_generation(expected, actual)
    assert isinstance(outcomes[-2], RequestFailed) and "breaks the model" in str(outcomes[-2])
    assert isinstance(outcomes[-1], RequestFailed) and "settings break" in str(outcomes[-1])
    assert wait_until_idle(tiny_gpt2)
    assert_same_generation(alone[0], gen.generate(tiny_gpt2, *cases[0]))


def _error_of(call):
    try:
        call()
    except Exception as error:
        return error
    return None


def test_a_reader_that_vanishes_gives_its_place_back(tiny_gpt2, monkeypatch):
    """A tab closed while its page thread is gone: nobody reads the tokens, so the engine lets them go."""
    monkeypatch.setattr(cb, "ENGINE_ABANDON_S", 0.05)
    lane = cb.decode_lane(tiny_gpt2)
    prompt = tuple(few_shot(tiny_gpt2, "cheese", 200).ids.tolist())
    ticket = cb.GenerationTicket(
        cb.GenerateRequest(prompt, 0, 200, True, 0, LogitsProcessorList(), ("greedy", 1.0), 10, False), session="gone"
    )
    lane.add(ticket)
    ticket.events.get(timeout=30)  # one token read, then never again
    assert ticket.wait(30)
    with pytest.raises(RequestCancelled, match="nobody was reading"):
        ticket.result()
    assert ticket.events.qsize() < 200
    assert wait_until_idle(tiny_gpt2)


def test_a_full_engine_tells_the_waiting_where_they_stand(tiny_gpt2, monkeypatch):
    monkeypatch.setattr(cb, "ENGINE_MAX_SEQUENCES", 1)
    heard: list[QueueStatus] = []
    settings = gen.DecodingSettings(max_new_tokens=200)
    holder = gen.stream_generation(tiny_gpt2, few_shot(tiny_gpt2, "cheese", 200), settings)
    next(holder)  # the one place is taken

    def second():
        with asking_as("second", heard.append):
            return gen.generate(tiny_gpt2, few_shot(tiny_gpt2, "bread", 3), gen.DecodingSettings(max_new_tokens=3))

    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(second)
        while not heard:
            time.sleep(0.01)
        holder.close()  # Stop: the place frees and the waiting request runs
        result = waiting.result()
    assert len(result.steps) == 3
    assert not heard[0].running and heard[0].ahead == 0 and heard[0].eta_s is not None
    assert heard[0].describe().startswith("next in line")


def test_a_stopped_generation_is_cancelled_not_finished(tiny_gpt2):
    lane = cb.decode_lane(tiny_gpt2)
    request = cb.GenerateRequest(
        tuple(few_shot(tiny_gpt2, "cheese").ids.tolist()),
        0,
        200,
        True,
        0,
        LogitsProcessorList(),
        ("greedy", 1.0),
        10,
        False,
    )
    ticket = cb.GenerationTicket(request, session="s")
    lane.add(ticket)
    ticket.events.get(timeout=30)
    ticket.cancel()
    assert ticket.wait(30)
    with pytest.raises(RequestCancelled):
        ticket.result()


def test_scores_and_distributions_in_a_batch_equal_them_alone(tiny_gpt2):
    labelled = gen.load_labelled_sets()[0]
    prompts = [few_shot(tiny_gpt2, query) for query in QUERIES]
    alone_scores = [gen.score_shots(tiny_gpt2, labelled, k) for k in (0, 2, 4)]
    alone_next = [gen.next_token_distribution(tiny_gpt2, prompt) for prompt in prompts]
    calls = [lambda k=k: gen.score_shots(tiny_gpt2, labelled, k) for k in (0, 2, 4)]
    calls += [lambda p=p: gen.next_token_distribution(tiny_gpt2, p) for p in prompts]
    together = in_threads(calls)
    for expected, actual in zip(alone_scores, together[:3]):
        np.testing.assert_allclose(actual.probabilities, expected.probabilities, rtol=1e-4, atol=1e-7)
        assert actual.first_guesses == expected.first_guesses
    for expected, actual in zip(alone_next, together[3:]):
        assert actual.ids.tolist() == expected.ids.tolist()
        np.testing.assert_allclose(actual.probs, expected.probs, rtol=1e-4, atol=1e-7)


# ---------------------------------------------------------------------------------------
# BERT, attention maps, CLIP: batched forward passes

SENTENCES = [
    "This is a photo of a [MASK].",
    "The [MASK] of France is Paris, and the [MASK] of Germany is Berlin.",
    "Deep networks trained on one [MASK] can be reused for another task.",
    "[MASK]",
    "The unicorns spoke perfect [MASK] " + "and more words " * 30,
    "BERT reads the whole [MASK] at once.",
]


def test_fill_mask_in_a_batch_equals_fill_mask_alone(tiny_bert):
    def fill(text: str) -> fill_mask.FillResult:
        masked = fill_mask.normalize_masks(text, tiny_bert.tokenizer.mask_token).text
        fill_input = fill_mask.prepare_fill_input(tiny_bert.tokenizer, masked, max_tokens=512, max_masks=8)
        return fill_mask.fill_masks(tiny_bert, fill_input, top_k=10)

    alone = [fill(text) for text in SENTENCES]
    together = in_threads([lambda t=t: fill(t) for t in SENTENCES * 3])
    for expected, actual in zip(alone * 3, together):
        for a, b in zip(expected.predictions, actual.predictions):
            assert a.token_ids.tolist() == b.token_ids.tolist()
            np.testing.assert_allclose(b.probs, a.probs, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("model", ["tiny_bert", "tiny_gpt2"])
def test_attention_maps_in_a_batch_equal_them_alone(model, request):
    loaded = request.getfixturevalue(model)
    texts = [text.replace("[MASK]", "word") for text in SENTENCES]
    alone = [attention.attention_for_text(loaded, text).weights for text in texts]
    together = in_threads([lambda t=t: attention.attention_for_text(loaded, t).weights for t in texts])
    for expected, actual in zip(alone, together):
        assert expected.shape == actual.shape
        np.testing.assert_allclose(actual, expected, atol=1e-6)
        np.testing.assert_allclose(actual.sum(-1), 1.0, atol=1e-5)


def test_clip_encodings_in_a_batch_equal_them_alone(tiny_clip):
    from PIL import Image

    prompt_sets = [
        [f"a photo of a {label}" for label in labels] for labels in (["cat", "dog"], ["rocket"] * 3, ["teapot"])
    ]
    images = [[Image.new("RGB", (40 + 10 * i, 30), (20 * i, 100, 200 - 20 * i)) for i in range(n)] for n in (1, 3, 2)]
    alone = [zero_shot.encode_prompts(tiny_clip, prompts) for prompts in prompt_sets]
    alone += [zero_shot.encode_images(tiny_clip, batch) for batch in images]
    calls = [lambda p=p: zero_shot.encode_prompts(tiny_clip, p) for p in prompt_sets]
    calls += [lambda b=b: zero_shot.encode_images(tiny_clip, b) for b in images]
    for expected, actual in zip(alone, in_threads(calls)):
        np.testing.assert_allclose(actual, expected, atol=1e-5)


def test_every_model_gets_one_engine_shared_by_every_caller(tiny_bert):
    engines = in_threads([lambda: engine_for(tiny_bert) for _ in range(8)])
    assert all(engine is engines[0] for engine in engines)
