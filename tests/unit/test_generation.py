"""models/generation.py against transformers' own `generate`, processors and a plain forward pass,
on the tiny random-weight GPT-2 (plus the shipped presets and labelled sets)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList

from models import generation as gen
from models.generation import DecodingSettings, Example
from models.limits import ENGINE_SESSION_SEQUENCES, MAX_TEXT_CHARS
from tests.conftest import REPO_ROOT
from tests.engine_tools import wait_until_idle

SEA_OTTER = (
    Example("sea otter", "loutre de mer"),
    Example("peppermint", "menthe poivrée"),
    Example("plush girafe", "girafe peluche"),
)
CONTEXT = 1024


def prepared(loaded, text: str, max_new_tokens: int = 12) -> gen.PreparedPrompt:
    return gen.prepare_prompt(loaded.tokenizer, text, max_new_tokens=max_new_tokens, context_length=CONTEXT)


def reference_generate(loaded, prompt: gen.PreparedPrompt, **kwargs) -> list[int]:
    input_ids = torch.from_numpy(prompt.ids)[None]
    with torch.inference_mode():
        output = loaded.model.generate(
            input_ids, attention_mask=torch.ones_like(input_ids), pad_token_id=loaded.tokenizer.eos_token_id, **kwargs
        )
    return output[0, input_ids.shape[1] :].tolist()


PROMPTS = [
    gen.build_prompt("Translate English to French:", SEA_OTTER, "cheese", 3),
    "thanks -> merci\nhello -> bonjour\nmint -> menthe\notter ->",
    "In a shocking finding, scientist discovered a herd of unicorns",
]


# ---------------------------------------------------------------------------------------
# Prompt builder


def test_prompt_builder_zero_shot_is_task_and_query():
    assert gen.build_prompt("Translate English to French:", SEA_OTTER, "cheese", 0) == (
        "Translate English to French:\ncheese =>"
    )


def test_prompt_builder_one_shot():
    assert gen.build_prompt("Translate English to French:", SEA_OTTER, "cheese", 1) == (
        "Translate English to French:\nsea otter => loutre de mer\ncheese =>"
    )


def test_prompt_builder_three_shots_is_the_gpt3_figure():
    assert gen.build_prompt("Translate English to French:", SEA_OTTER, "cheese", 3) == (
        "Translate English to French:\n"
        "sea otter => loutre de mer\n"
        "peppermint => menthe poivrée\n"
        "plush girafe => girafe peluche\n"
        "cheese =>"
    )


def test_prompt_builder_without_task_and_with_arrow_separator():
    examples = (Example("thanks", "merci"), Example("hello", "bonjour"), Example("mint", "menthe"))
    assert (
        gen.build_prompt("", examples, "otter", 3, " -> ")
        == "thanks -> merci\nhello -> bonjour\nmint -> menthe\notter ->"
    )


def test_prompt_builder_free_prompt_is_the_task_alone():
    assert gen.build_prompt("A herd of unicorns.", (), "", 0) == "A herd of unicorns."


@pytest.mark.parametrize("k", [-1, 4])
def test_prompt_builder_refuses_k_outside_the_examples(k):
    with pytest.raises(ValueError, match="examples"):
        gen.build_prompt("Task:", SEA_OTTER, "cheese", k)


def test_answer_continuation_brings_the_separator_space():
    assert gen.answer_continuation("fromage", " => ") == " fromage"
    assert gen.answer_continuation(" loutre ", " -> ") == " loutre"


def test_examples_json_round_trip_and_rejects_malformed():
    examples = (Example("<b>é</b>", "猫"), Example("a,b", 'c"d'))
    assert gen.examples_from_json(gen.examples_to_json(examples)) == examples
    for raw in ("not json", "{}", '[["only one"]]', "[[1, 2]]", "[" * 100_000):
        with pytest.raises(ValueError):
            gen.examples_from_json(raw)


# ---------------------------------------------------------------------------------------
# Preparing the prompt: tokenize once, left-truncate


def test_prepare_prompt_keeps_everything_that_fits(tiny_gpt2):
    prompt = prepared(tiny_gpt2, PROMPTS[0])
    assert prompt.ids.tolist() == tiny_gpt2.tokenizer(PROMPTS[0])["input_ids"]
    assert prompt.text == PROMPTS[0]
    assert prompt.dropped_tokens == 0 and prompt.total_tokens == len(prompt.ids)
    assert "".join(prompt.pieces) == PROMPTS[0]


def test_truncation_keeps_the_end_of_the_prompt(tiny_gpt2):
    text = " ".join(f"word{i}" for i in range(900)) + "\ncheese =>"
    full = tiny_gpt2.tokenizer(text)["input_ids"]
    prompt = prepared(tiny_gpt2, text, max_new_tokens=100)
    room = CONTEXT - 100
    assert len(full) > room
    assert prompt.ids.tolist() == full[-room:]
    assert prompt.dropped_tokens == len(full) - room
    assert prompt.total_tokens == len(full)
    assert prompt.text.endswith("\ncheese =>")
    assert prompt.text == tiny_gpt2.tokenizer.decode(full[-room:])


def test_prepare_prompt_cuts_text_past_the_character_limit_from_the_start(tiny_gpt2):
    text = "x" * 10 + "y " * MAX_TEXT_CHARS
    prompt = prepared(tiny_gpt2, text)
    assert prompt.dropped_chars == len(text) - MAX_TEXT_CHARS
    assert "x" not in prompt.text


@pytest.mark.parametrize("text", ["", "   \n "])
def test_empty_prompt_is_refused(tiny_gpt2, text):
    with pytest.raises(ValueError, match="empty"):
        prepared(tiny_gpt2, text)


@pytest.mark.parametrize("max_new_tokens", [0, CONTEXT])
def test_max_new_tokens_must_leave_room_for_a_prompt(tiny_gpt2, max_new_tokens):
    with pytest.raises(ValueError, match="max new tokens"):
        prepared(tiny_gpt2, "hello", max_new_tokens=max_new_tokens)


# ---------------------------------------------------------------------------------------
# Decoding settings


@pytest.mark.parametrize(
    "bad",
    [
        {"max_new_tokens": 0},
        {"max_new_tokens": 10_000},
        {"temperature": -0.1},
        {"temperature": float("nan")},
        {"top_k": -1},
        {"top_p": 1.5},
        {"repetition_penalty": 0.5},
        {"seed": -1},
    ],
)
def test_invalid_settings_raise_a_clear_error(bad):
    with pytest.raises(ValueError, match="must be"):
        DecodingSettings(**bad)


def test_temperature_zero_and_top_p_zero_are_explained():
    assert DecodingSettings(sample=True, temperature=0.0).greedy
    assert any("greedy" in note for note in gen.settings_notes(DecodingSettings(sample=True, temperature=0.0)))
    assert any("single most likely" in note for note in gen.settings_notes(DecodingSettings(sample=True, top_p=0.0)))
    assert gen.settings_notes(DecodingSettings()) == []


# ---------------------------------------------------------------------------------------
# Generation against transformers


@pytest.mark.parametrize("text", PROMPTS)
def test_greedy_equals_model_generate_token_for_token(tiny_gpt2, text):
    prompt = prepared(tiny_gpt2, text, max_new_tokens=24)
    ours = gen.generate(tiny_gpt2, prompt, DecodingSettings(max_new_tokens=24))
    assert ours.token_ids.tolist() == reference_generate(tiny_gpt2, prompt, do_sample=False, max_new_tokens=24)
    assert len(ours.steps) == 24 and ours.stop_reason == "max_new_tokens"


def test_greedy_with_repetition_penalty_equals_model_generate(tiny_gpt2):
    prompt = prepared(tiny_gpt2, PROMPTS[0], max_new_tokens=20)
    ours = gen.generate(tiny_gpt2, prompt, DecodingSettings(max_new_tokens=20, repetition_penalty=1.8))
    reference = reference_generate(tiny_gpt2, prompt, do_sample=False, max_new_tokens=20, repetition_penalty=1.8)
    assert ours.token_ids.tolist() == reference


SAMPLING = [
    {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "repetition_penalty": 1.0},
    {"temperature": 0.7, "top_k": 50, "top_p": 0.9, "repetition_penalty": 1.0},
    {"temperature": 1.4, "top_k": 0, "top_p": 0.5, "repetition_penalty": 1.3},
    {"temperature": 1.0, "top_k": 5, "top_p": 1.0, "repetition_penalty": 2.0},
]


@pytest.mark.parametrize("options", SAMPLING, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_seeded_sample_equals_model_generate_with_the_same_seed(tiny_gpt2, options):
    prompt = prepared(tiny_gpt2, PROMPTS[1], max_new_tokens=20)
    ours = gen.generate(tiny_gpt2, prompt, DecodingSettings(sample=True, max_new_tokens=20, seed=1234, **options))
    torch.manual_seed(1234)
    reference = reference_generate(tiny_gpt2, prompt, do_sample=True, max_new_tokens=20, **options)
    assert ours.token_ids.tolist() == reference


@pytest.mark.parametrize("options", SAMPLING[1:], ids=["topk-topp", "topp-penalty", "topk-penalty"])
def test_filtered_distributions_equal_generates_processed_scores(tiny_gpt2, options):
    prompt = prepared(tiny_gpt2, PROMPTS[0], max_new_tokens=8)
    settings = DecodingSettings(sample=True, max_new_tokens=8, seed=7, **options)
    ours = gen.generate(tiny_gpt2, prompt, settings)
    torch.manual_seed(7)
    input_ids = torch.from_numpy(prompt.ids)[None]
    with torch.inference_mode():
        output = tiny_gpt2.model.generate(
            input_ids,
            attention_mask=torch.ones_like(input_ids),
            do_sample=True,
            max_new_tokens=8,
            output_scores=True,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=50256,
            **options,
        )
    processors = gen.logits_processors(settings)
    for step, scores, logits in zip(ours.steps, output.scores, output.logits):
        theirs = scores[0].softmax(-1)
        assert step.filtered_probability == pytest.approx(float(theirs[step.token_id]), rel=1e-5, abs=1e-7)
        # The same processors on the same logits give the same distribution, entry for entry.
        sequence = output.sequences[:, : input_ids.shape[1] + step.index]
        mine = processors(sequence, logits.clone())[0].softmax(-1)
        torch.testing.assert_close(mine, theirs)


def test_a_fixed_seed_reproduces_a_sample_and_leaves_the_global_rng_alone(tiny_gpt2):
    prompt = prepared(tiny_gpt2, PROMPTS[2], max_new_tokens=16)
    settings = DecodingSettings(sample=True, temperature=1.2, max_new_tokens=16, seed=99)
    before = torch.get_rng_state()
    first = gen.generate(tiny_gpt2, prompt, settings)
    assert torch.equal(before, torch.get_rng_state())
    torch.manual_seed(0)  # someone else's use of the global generator must not matter
    second = gen.generate(tiny_gpt2, prompt, settings)
    other = gen.generate(tiny_gpt2, prompt, DecodingSettings(sample=True, temperature=1.2, max_new_tokens=16, seed=100))
    assert first.token_ids.tolist() == second.token_ids.tolist()
    assert first.token_ids.tolist() != other.token_ids.tolist()


@pytest.mark.parametrize("special", [{"temperature": 0.0}, {"top_p": 0.0}, {"top_k": 1}])
def test_settings_that_mean_greedy_give_the_greedy_tokens(tiny_gpt2, special):
    prompt = prepared(tiny_gpt2, PROMPTS[0], max_new_tokens=10)
    greedy = gen.generate(tiny_gpt2, prompt, DecodingSettings(max_new_tokens=10))
    sampled = gen.generate(tiny_gpt2, prompt, DecodingSettings(sample=True, max_new_tokens=10, seed=5, **special))
    assert sampled.token_ids.tolist() == greedy.token_ids.tolist()


def test_per_step_probabilities_match_a_separate_forward_pass(tiny_gpt2):
    prompt = prepared(tiny_gpt2, PROMPTS[0], max_new_tokens=12)
    result = gen.generate(tiny_gpt2, prompt, DecodingSettings(sample=True, temperature=1.5, max_new_tokens=12, seed=3))
    everything = torch.tensor([prompt.ids.tolist() + result.token_ids.tolist()])
    with torch.inference_mode():
        probs = tiny_gpt2.model(everything).logits[0].softmax(-1)
    start = len(prompt.ids) - 1  # the position whose output predicts the first new token
    for step in result.steps:
        expected = probs[start + step.index]
        assert step.probability == pytest.approx(float(expected[step.token_id]), rel=1e-4, abs=1e-7)
        top = expected.topk(len(step.alternative_ids))
        np.testing.assert_allclose(step.alternative_probs, top.values.numpy(), rtol=1e-4, atol=1e-7)
        assert step.alternative_pieces == tuple(tiny_gpt2.tokenizer.decode([i]) for i in step.alternative_ids)
        assert step.piece == tiny_gpt2.tokenizer.decode([step.token_id])
    assert result.text == tiny_gpt2.tokenizer.decode(result.token_ids.tolist())


def test_stream_yields_one_step_at_a_time_and_closing_frees_its_place(tiny_gpt2):
    prompt = prepared(tiny_gpt2, PROMPTS[2], max_new_tokens=30)
    stream = gen.stream_generation(tiny_gpt2, prompt, DecodingSettings(max_new_tokens=30))
    steps = [next(stream) for _ in range(3)]
    stream.close()
    assert [step.index for step in steps] == [0, 1, 2]
    assert all(step.stop_reason is None for step in steps)
    assert steps[0].elapsed_s <= steps[1].elapsed_s <= steps[2].elapsed_s
    assert wait_until_idle(tiny_gpt2), "the closed stream still holds a place in the engine"
    partial = gen.collect_generation(tiny_gpt2.tokenizer, prompt, steps)
    assert partial.stop_reason == "stopped" and len(partial.token_ids) == 3


def test_prompt_that_does_not_fit_the_context_is_refused(tiny_gpt2):
    prompt = prepared(tiny_gpt2, "hello " * 50, max_new_tokens=12)
    too_long = gen.PreparedPrompt(prompt.text, np.zeros(CONTEXT - 5, dtype=np.int64), prompt.pieces, CONTEXT - 5, 0, 0)
    with pytest.raises(ValueError, match="context"):
        next(gen.stream_generation(tiny_gpt2, too_long, DecodingSettings(max_new_tokens=12)))


class ForceScript(LogitsProcessor):
    """Makes the n-th new token `script[n]`, whatever the model thinks: the stop rules see chosen tokens."""

    def __init__(self, script: list[int], prompt_length: int) -> None:
        self.script, self.prompt_length = script, prompt_length

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        forced = torch.full_like(scores, -math.inf)
        forced[:, self.script[input_ids.shape[1] - self.prompt_length]] = 0.0
        return forced


def scripted(monkeypatch, script: list[int], prompt) -> None:
    monkeypatch.setattr(
        gen, "logits_processors", lambda settings: LogitsProcessorList([ForceScript(script, len(prompt.ids))])
    )
    monkeypatch.setattr(gen, "processors_key", lambda settings: ("script", tuple(script)))


@pytest.mark.parametrize("stop_at_newline", [True, False])
def test_stop_at_newline(tiny_gpt2, stop_at_newline, monkeypatch):
    tokenizer = tiny_gpt2.tokenizer
    tokens = tokenizer(" loutre\n de mer")["input_ids"]
    newline_at = next(i for i, token in enumerate(tokens) if "\n" in tokenizer.decode([token]))
    prompt = prepared(tiny_gpt2, "otter ->")
    scripted(monkeypatch, tokens, prompt)
    settings = DecodingSettings(max_new_tokens=len(tokens), stop_at_newline=stop_at_newline)
    result = gen.generate(tiny_gpt2, prompt, settings)
    if stop_at_newline:
        assert result.stop_reason == "newline" and len(result.steps) == newline_at + 1
    else:
        assert result.stop_reason == "max_new_tokens" and len(result.steps) == len(tokens)
    assert result.answer == "loutre"


def test_end_of_text_stops_generation(tiny_gpt2, monkeypatch):
    tokenizer = tiny_gpt2.tokenizer
    script = tokenizer(" merci")["input_ids"] + [tokenizer.eos_token_id, 11]
    prompt = prepared(tiny_gpt2, "thanks ->")
    scripted(monkeypatch, script, prompt)
    result = gen.generate(tiny_gpt2, prompt, DecodingSettings(max_new_tokens=10))
    assert result.stop_reason == "eos"
    assert result.token_ids.tolist() == script[:-1]


def test_next_token_distribution_matches_a_forward_pass(tiny_gpt2):
    prompt = prepared(tiny_gpt2, PROMPTS[1])
    dist = gen.next_token_distribution(tiny_gpt2, prompt, top=7)
    with torch.inference_mode():
        probs = tiny_gpt2.model(torch.from_numpy(prompt.ids)[None]).logits[0, -1].softmax(-1)
    top = probs.topk(7)
    assert dist.ids.tolist() == top.indices.tolist()
    np.testing.assert_allclose(dist.probs, top.values.numpy(), rtol=1e-5)
    entropy = float(-(probs * probs.log()).sum() / np.log(2))
    assert dist.entropy_bits == pytest.approx(entropy, rel=1e-4)
    assert len(dist.pieces) == 7


# ---------------------------------------------------------------------------------------
# Scoring expected answers


def per_prompt_scores(loaded, prompts, continuations):
    """The plain way: one full forward pass per prompt + answer, no shared cache, no batching."""
    probabilities, correct = [], []
    for text, continuation in zip(prompts, continuations):
        prompt_ids = loaded.tokenizer(text)["input_ids"]
        answer_ids = loaded.tokenizer(continuation)["input_ids"]
        with torch.inference_mode():
            log_probs = loaded.model(torch.tensor([prompt_ids + answer_ids])).logits[0].log_softmax(-1)
        predicted = log_probs[len(prompt_ids) - 1 : len(prompt_ids) - 1 + len(answer_ids)]
        target = torch.tensor(answer_ids)
        probabilities.append(float(predicted.gather(-1, target[:, None]).sum().exp()))
        correct.append(bool((predicted.argmax(-1) == target).all()))
    return np.array(probabilities), np.array(correct)


def test_scores_match_separate_forward_passes_across_batches(tiny_gpt2):
    items = [Example(f"word{i}", f"mot{i}") for i in range(ENGINE_SESSION_SEQUENCES + 3)]
    prompts = [gen.build_prompt("Translate English to French:", SEA_OTTER, item.input, 2) for item in items]
    answers = [gen.answer_continuation(item.output, " => ") for item in items]
    scores = gen.score_answers(tiny_gpt2, prompts, answers)
    probabilities, correct = per_prompt_scores(tiny_gpt2, prompts, answers)
    np.testing.assert_allclose(scores.probabilities, probabilities, rtol=1e-4, atol=1e-12)
    assert scores.correct.tolist() == correct.tolist()
    assert scores.mean_probability == pytest.approx(float(probabilities.mean()), rel=1e-4)


def test_an_answer_greedy_decoding_writes_is_scored_right(tiny_gpt2):
    prompts = [gen.build_prompt("", SEA_OTTER, query, 3) for query in ("cheese", "otter")]
    answers = []
    for text in prompts:
        prompt = prepared(tiny_gpt2, text, max_new_tokens=3)
        answers.append(
            tiny_gpt2.tokenizer.decode(reference_generate(tiny_gpt2, prompt, do_sample=False, max_new_tokens=3))
        )
    answers.append(" certainly-not-the-greedy-answer")
    prompts.append(prompts[0])
    scores = gen.score_answers(tiny_gpt2, prompts, answers)
    assert scores.correct.tolist() == [True, True, False]
    assert scores.accuracy == pytest.approx(2 / 3)


def test_prompts_without_a_shared_start_are_scored_too(tiny_gpt2):
    prompts, answers = ["cheese =>", "dog ->"], [" fromage", " chien"]
    scores = gen.score_answers(tiny_gpt2, prompts, answers)
    probabilities, _ = per_prompt_scores(tiny_gpt2, prompts, answers)
    np.testing.assert_allclose(scores.probabilities, probabilities, rtol=1e-4, atol=1e-12)


def test_scoring_checks_its_inputs(tiny_gpt2):
    with pytest.raises(ValueError):
        gen.score_answers(tiny_gpt2, ["a =>"], [])
    with pytest.raises(ValueError):
        gen.score_answers(tiny_gpt2, ["a =>"], [""])


def test_shot_curve_over_a_shipped_set(tiny_gpt2):
    labelled = gen.load_labelled_sets()[0]
    ks = [0, 1, 3]
    scores = [gen.score_shots(tiny_gpt2, labelled, k) for k in ks]
    curve = gen.ShotCurve.from_scores(ks, scores)
    assert curve.item_probabilities.shape == (3, len(labelled.items))
    assert np.all((curve.accuracy >= 0) & (curve.accuracy <= 1))
    assert np.all((curve.mean_probability > 0) & (curve.mean_probability <= 1))
    prompts, _ = gen.labelled_prompts(labelled, 3)
    assert prompts[0].count("\n") == 4  # task line + 3 demonstrations, then the query
    # Error bars: the spread over the items, as statistics.stdev would compute it, over √items.
    import statistics

    for point in range(len(ks)):
        items = len(labelled.items)
        right = [float(value) for value in curve.item_correct[point]]
        probabilities = [float(value) for value in curve.item_probabilities[point]]
        assert curve.accuracy_error[point] == pytest.approx(statistics.stdev(right) / items**0.5)
        assert curve.probability_error[point] == pytest.approx(statistics.stdev(probabilities) / items**0.5, rel=1e-5)
    with pytest.raises(ValueError):
        gen.score_shots(tiny_gpt2, labelled, len(labelled.demonstrations) + 1)


# ---------------------------------------------------------------------------------------
# Shipped presets and labelled sets use the course's examples


def test_presets_carry_the_course_examples():
    presets = {preset.key: preset for preset in gen.load_presets()}
    translate = presets["translate-fr"]
    assert gen.build_prompt(translate.task, translate.examples, translate.query, 1, translate.separator) == (
        "Translate English to French:\nsea otter => loutre de mer\ncheese =>"
    )
    merci = presets["thanks-merci"]
    assert gen.build_prompt(merci.task, merci.examples, merci.query, 3, merci.separator) == (
        "thanks -> merci\nhello -> bonjour\nmint -> menthe\notter ->"
    )
    slides = Path(REPO_ROOT).parent / "shared" / "seeds" / "001_f17a2046529f9d5a.txt"
    if slides.exists():
        assert presets["unicorn"].task in slides.read_text(encoding="utf-8")
    assert {"sentiment", "capitals", "antonyms"} <= set(presets)
    for preset in presets.values():
        assert 0 <= preset.few_k <= len(preset.examples)
        DecodingSettings(max_new_tokens=preset.max_new_tokens)


def test_labelled_sets_have_20_items_and_enough_demonstrations():
    sets = gen.load_labelled_sets()
    assert {labelled.key for labelled in sets} >= {"en_fr_words", "sentiment"}
    for labelled in sets:
        assert len(labelled.items) == 20
        assert len(labelled.demonstrations) >= 8
        assert not {item.input for item in labelled.items} & {demo.input for demo in labelled.demonstrations}


# ---------------------------------------------------------------------------------------
# Charts: model output reaches plotly escaped


def test_charts_escape_generated_text(tiny_gpt2):
    from ui import generation_charts as charts

    hostile = "<img src=x onerror=alert(1)>"
    step = gen.GenerationStep(
        index=0,
        token_id=5,
        piece=hostile,
        probability=0.2,
        filtered_probability=0.5,
        alternative_ids=np.array([7, 5]),
        alternative_pieces=("<b>", hostile),
        alternative_probs=np.array([0.6, 0.2]),
        elapsed_s=0.1,
        stop_reason="max_new_tokens",
    )
    prompt = prepared(tiny_gpt2, "hi")
    result = gen.collect_generation(tiny_gpt2.tokenizer, prompt, [step])
    figures = [charts.alternatives_figure(step), charts.token_probability_figure(result)]
    for fig in figures:
        text = fig.to_json()
        assert "<img" not in text and "<b>" not in text
        assert "&lt;img" in text
    assert charts.alternatives_table(step)["generated"].tolist() == [False, True]
    assert charts.token_probability_table(result)["token"].tolist() == [hostile]


def test_percentages_keep_two_significant_digits():
    from ui.generation_charts import percent

    assert [percent(p) for p in (0.42, 0.0123, 0.00057, 1e-6)] == ["42%", "1.2%", "0.057%", "<0.01%"]


# ---------------------------------------------------------------------------------------
# The live sampling view: temperature, top-k and top-p without running the model again


@pytest.mark.parametrize(
    "temperature, top_k, top_p",
    [
        (1.0, 0, 1.0),
        (0.7, 50, 1.0),
        (1.5, 0, 0.9),
        (0.3, 10, 0.5),
        (2.0, 500, 0.95),
        (1.0, 1, 1.0),
        (0.9, 0, 0.0),
    ],
)
def test_sampling_filter_matches_transformers_warpers(tiny_gpt2, temperature, top_k, top_p):
    prompt = gen.prepare_prompt(
        tiny_gpt2.tokenizer, "sea otter => loutre de mer\ncheese =>", max_new_tokens=8, context_length=1024
    )
    ids, probs = gen.full_next_token_distribution(tiny_gpt2, prompt)
    assert len(ids) == len(tiny_gpt2.tokenizer) and probs.sum() == pytest.approx(1.0, abs=1e-4)
    settings = gen.DecodingSettings(sample=True, temperature=temperature, top_k=top_k, top_p=top_p)
    filtered = gen.sampling_filter(ids, probs, settings)
    # transformers' own processors on the same scores (log-probabilities: softmax ignores the constant).
    scores = torch.log(torch.as_tensor(probs, dtype=torch.float64))[None, :]
    warped = gen.logits_processors(settings)(torch.as_tensor(prompt.ids)[None, :], scores)[0]
    expected = torch.softmax(warped, dim=-1).numpy()
    np.testing.assert_allclose(filtered.after, expected, atol=1e-9)
    assert filtered.kept.tolist() == torch.isfinite(warped).tolist()
    assert filtered.entropy_after_bits <= filtered.entropy_before_bits + 1e-4 or temperature > 1


def test_greedy_keeps_only_the_most_likely_token(tiny_gpt2):
    prompt = gen.prepare_prompt(tiny_gpt2.tokenizer, "The unicorn", max_new_tokens=8, context_length=1024)
    ids, probs = gen.full_next_token_distribution(tiny_gpt2, prompt)
    filtered = gen.sampling_filter(ids, probs, gen.DecodingSettings(sample=False))
    assert filtered.kept.sum() == 1 and filtered.after[int(np.argmax(probs))] == 1.0
    assert filtered.entropy_after_bits == 0.0


def test_top_tokens_of_the_full_distribution_equal_the_next_token_distribution(tiny_gpt2):
    prompt = gen.prepare_prompt(
        tiny_gpt2.tokenizer, "sea otter => loutre de mer\ncheese =>", max_new_tokens=8, context_length=1024
    )
    direct = gen.next_token_distribution(tiny_gpt2, prompt)
    derived = gen.top_tokens(tiny_gpt2.tokenizer, *gen.full_next_token_distribution(tiny_gpt2, prompt))
    assert derived.ids.tolist() == direct.ids.tolist() and derived.pieces == direct.pieces
    np.testing.assert_allclose(derived.probs, direct.probs, atol=1e-7)
    assert derived.entropy_bits == pytest.approx(direct.entropy_bits, abs=1e-3)
