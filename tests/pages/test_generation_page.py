"""The generation page in Streamlit's AppTest: prompt builder, generation, shots, experiment, bad input, URL state."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from models import generation as gen
from tests.pages import helpers
from tests.pages.helpers import texts

SCRIPT = "generation.py"
COURSE_PROMPT = (
    "Translate English to French:\nsea otter => loutre de mer\npeppermint => menthe poivrée\n"
    "plush girafe => girafe peluche\ncheese =>"
)
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>window.__xss=1</script>",
    "**bold** [link](javascript:alert(1))",
    "猫 😺 fromage",
    "قطة",
]


def run_page(query: dict[str, str] | None = None) -> AppTest:
    return helpers.run_page(SCRIPT, query)


def chart_titles(at: AppTest) -> list[str]:
    titles = []
    for chart in at.get("plotly_chart"):
        title = json.loads(chart.proto.spec)["layout"].get("title", {})
        titles.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return titles


def prompt_shown(at: AppTest) -> str:
    return at.code[0].value


def generate(at: AppTest) -> AppTest:
    return at.button(key="gen__generate").click().run()


def generated_plain_text(at: AppTest) -> str:
    return at.code[-1].value  # the "Prompt + generated text" block comes last


def test_default_page_shows_the_course_prompt_and_the_next_token_chart(with_tiny_models, fresh_app_state):
    at = run_page()
    assert not at.exception
    assert prompt_shown(at) == COURSE_PROMPT
    assert "tokens · k = 3 examples" in texts(at.caption)
    assert "Next token" in chart_titles(at)
    assert "no gradient updates" in texts(at.markdown)


def test_a_generation_completes_and_shows_its_tokens(with_tiny_models, fresh_app_state):
    at = generate(run_page({"stop_nl": "0"}))
    assert not at.exception
    assert 'class="ll-token"' in texts(at.markdown)
    assert "10 tokens · stopped at the max new tokens" in texts(at.caption)
    titles = chart_titles(at)
    assert "Each token's probability" in titles
    assert any(title.startswith("Step 1: ") for title in titles)
    assert "Answer (first line)" in texts(at.text)
    assert generated_plain_text(at).startswith(COURSE_PROMPT)
    # Picking another step shows that step's alternatives.
    at.selectbox(key="gen__step").select(3).run()
    assert any(title.startswith("Step 4: ") for title in chart_titles(at))
    assert at.query_params["step"] == "3"


def test_the_seed_in_the_url_reproduces_a_sample(with_tiny_models, fresh_app_state):
    query = {"preset": "unicorn", "decode": "sample", "seed": "42", "max_new": "12", "temp": "1.3", "top_k": "0"}
    first = generated_plain_text(generate(run_page(query)))
    again = generated_plain_text(generate(run_page(query)))
    other = generated_plain_text(generate(run_page(dict(query, seed="43"))))
    assert first == again
    assert first != other


def test_temperature_zero_means_greedy(with_tiny_models, fresh_app_state):
    greedy = generated_plain_text(generate(run_page({"stop_nl": "0"})))
    at = generate(run_page({"stop_nl": "0", "decode": "sample", "temp": "0", "seed": "9"}))
    assert not at.exception
    assert "Temperature 0 means greedy" in texts(at.info)
    assert generated_plain_text(at) == greedy


def test_top_p_zero_is_explained(with_tiny_models, fresh_app_state):
    at = run_page({"decode": "sample", "top_p": "0"})
    assert not at.exception
    assert "Top-p 0 keeps only the single most likely token" in texts(at.info)


def test_url_restores_the_inputs_and_follows_changes(with_tiny_models, fresh_app_state):
    at = run_page(
        {"preset": "capitals", "shots": "one", "max_new": "7", "seed": "5", "decode": "sample", "top_p": "0.8"}
    )
    assert not at.exception
    assert at.selectbox(key="gen__preset").value == "capitals"
    assert at.radio(key="gen__shots").value == "one"
    assert at.slider(key="gen__max_new").value == 7
    assert at.number_input(key="gen__seed").value == 5
    assert at.slider(key="gen__top_p").value == pytest.approx(0.8)
    assert prompt_shown(at) == "Give the capital city of each country:\nFrance => Paris\nGermany =>"
    at.number_input(key="gen__seed").set_value(77).run()
    assert at.query_params["seed"] == "77"
    at.radio(key="gen__shots").set_value("zero").run()
    assert prompt_shown(at) == "Give the capital city of each country:\nGermany =>"
    assert at.query_params["shots"] == "zero"


def test_examples_come_from_the_url(with_tiny_models, fresh_app_state):
    examples = json.dumps([["cat", "chat"], ["dog", "chien"]])
    at = run_page({"examples": examples, "query": "bird", "task": "", "shots": "few", "k": "2"})
    assert not at.exception
    assert prompt_shown(at) == "cat => chat\ndog => chien\nbird =>"


@pytest.mark.parametrize("preset", [preset.key for preset in gen.load_presets()])
def test_every_preset_builds_its_prompt(with_tiny_models, fresh_app_state, preset):
    at = run_page()
    at.selectbox(key="gen__preset").select(preset).run()
    assert not at.exception
    chosen = next(p for p in gen.load_presets() if p.key == preset)
    k = chosen.few_k if chosen.examples else 0
    assert prompt_shown(at) == gen.build_prompt(chosen.task, chosen.examples, chosen.query, k, chosen.separator)
    assert at.query_params.get("preset") in (None, preset)


def test_empty_prompt_says_what_to_do(with_tiny_models, fresh_app_state):
    at = run_page({"task": "", "query": "", "examples": "[]"})
    assert not at.exception
    assert "The prompt is empty" in texts(at.info)
    assert "Fix the prompt or the settings above to generate." in texts(at.info)


def test_a_long_prompt_is_left_truncated_with_a_notice(with_tiny_models, fresh_app_state):
    at = run_page({"task": "hello world " * 1500, "max_new": "200"})
    assert not at.exception
    warning = texts(at.warning)
    assert "left-truncated" in warning and "the last 824 kept" in warning
    assert prompt_shown(at).endswith("plush girafe => girafe peluche\ncheese =>")
    assert not generate(at).exception


def test_k_larger_than_the_examples_given_uses_them_all(with_tiny_models, fresh_app_state):
    at = run_page({"shots": "few", "k": "10"})
    assert not at.exception
    assert "k = 10 examples asked for, but the table has 3: using k = 3." in texts(at.warning)
    assert prompt_shown(at) == COURSE_PROMPT


def test_malformed_url_values_are_ignored_and_reported(with_tiny_models, fresh_app_state):
    at = run_page(
        {
            "seed": "abc",
            "max_new": "5000",
            "temp": "hot",
            "top_p": "nan",
            "examples": "{oops",
            "preset": "nope",
            "shots": "many",
            "model": "gpt-5",
        }
    )
    assert not at.exception
    ignored = texts(at.caption)
    for name in ("seed=abc", "max_new=5000", "temp=hot", "top_p=nan", "examples", "preset=nope", "shots=many", "model"):
        assert name in ignored
    assert prompt_shown(at) == COURSE_PROMPT
    assert not generate(at).exception


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_text_is_shown_as_text(with_tiny_models, fresh_app_state, hostile):
    examples = json.dumps([[hostile, hostile]])
    at = run_page({"task": hostile, "query": hostile, "answer": hostile, "examples": examples, "shots": "one"})
    assert not at.exception
    assert prompt_shown(at).count(hostile) == 4  # task, example input and output, query
    at = generate(at)
    assert not at.exception
    raw_html = texts(at.markdown)
    assert "<img src=x" not in raw_html and "<script>" not in raw_html
    assert hostile in generated_plain_text(at)


def test_shots_side_by_side(with_tiny_models, fresh_app_state):
    at = run_page()
    at.button(key="gen__compare").click().run()
    assert not at.exception
    labels = texts(at.markdown)
    for k in (0, 1, 3):
        assert f"**k = {k}**" in labels
    assert texts(at.text).count("P(expected 'fromage')") == 3


def test_shots_need_a_query(with_tiny_models, fresh_app_state):
    at = run_page({"preset": "unicorn"})
    assert not at.exception
    assert "This needs a query" in texts(at.info)


def test_the_k_experiment_runs_and_plots(with_tiny_models, fresh_app_state):
    at = run_page({"set": "sentiment"})
    at.button(key="gen__experiment_run").click().run()
    assert not at.exception
    assert "In-context learning: Sentiment of short reviews (20 items)" in chart_titles(at)
    curve = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "In-context" in c.proto.spec)
    assert curve["data"][0]["x"] == list(range(9))
    assert all(
        len(
            trace["error_y"]["array"]["bdata"]
            if isinstance(trace["error_y"]["array"], dict)
            else trace["error_y"]["array"]
        )
        > 0
        for trace in curve["data"]
    )  # ±1 s.e. over the items
    assert "±1 standard error over the 20 items" in " ".join(c.value for c in at.caption)


def test_a_stopped_generation_keeps_the_tokens_so_far(with_tiny_models, fresh_app_state, tiny_gpt2):
    # What a Stop click leaves behind: the steps streamed before the rerun interrupted the loop.
    at = run_page()
    preset = gen.load_presets()[0]
    prompt = gen.prepare_prompt(
        tiny_gpt2.tokenizer, COURSE_PROMPT, max_new_tokens=preset.max_new_tokens, context_length=1024
    )
    settings = gen.DecodingSettings(top_k=50, max_new_tokens=preset.max_new_tokens, stop_at_newline=True)
    stream = gen.stream_generation(tiny_gpt2, prompt, settings)
    steps = [next(stream), next(stream)]
    stream.close()
    at.session_state["gen__result"] = {
        "fingerprint": ("gpt2", tuple(prompt.ids.tolist()), settings),
        "prompt": prompt,
        "steps": steps,
    }
    at.run()
    assert not at.exception
    assert "2 tokens · stopped at Stop" in texts(at.caption)


def test_distilgpt2_can_be_chosen(with_tiny_models, fresh_app_state):
    at = generate(run_page({"model": "distilgpt2"}))
    assert not at.exception
    assert "DistilGPT-2" in texts(at.caption)
    assert "tokens · stopped at" in texts(at.caption)


def test_without_weights_the_page_says_how_to_get_them(without_models, fresh_app_state):
    at = run_page()
    assert not at.exception
    assert "is not available" in texts(at.error)


def test_sampling_settings_redraw_the_next_token_without_running_the_model(
    with_tiny_models, fresh_app_state, monkeypatch
):
    import models.generation as generation

    calls = []
    real_score = generation.score
    monkeypatch.setattr(
        generation, "score", lambda loaded, requests: calls.append(len(requests)) or real_score(loaded, requests)
    )
    at = run_page({"decode": "sample", "top_k": "0"})
    assert not at.exception
    [title] = [t for t in chart_titles(at) if t.startswith("Sampling keeps")]
    assert title.startswith("Sampling keeps 50,257 tokens")  # temperature 1, no filter: the whole vocabulary
    reads = len(calls)
    at.number_input(key="gen__top_k").set_value(5).run()
    [title] = [t for t in chart_titles(at) if t.startswith("Sampling keeps")]
    assert title.startswith("Sampling keeps 5 tokens")
    at.slider(key="gen__temp").set_value(0.5).run()
    at.slider(key="gen__top_p").set_value(0.3).run()
    assert not at.exception
    assert len(calls) == reads  # three redraws, no model run
    at.radio(key="gen__decode").set_value("greedy").run()
    assert any(t.startswith("Sampling keeps 1 token ") for t in chart_titles(at))


def test_a_run_it_link_generates_on_opening_once(with_tiny_models, fresh_app_state):
    at = run_page({"stop_nl": "0", "max_new": "6", "run": "generate"})
    assert not at.exception
    assert "6 tokens · stopped at the max new tokens" in texts(at.caption)
    first = at.session_state["gen__result"]["steps"]
    at.run()  # a rerun (any widget) does not generate again
    assert at.session_state["gen__result"]["steps"] is first
    other = run_page({"stop_nl": "0", "max_new": "6", "run": "experiment", "set": "sentiment"})
    assert "In-context learning: Sentiment of short reviews (20 items)" in chart_titles(other)
    assert "Press Generate to continue the prompt token by token." in texts(other.caption)
