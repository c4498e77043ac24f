"""The attention page under AppTest: every view, bad input, hostile text, the URL, the offline panel."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT
from tests.pages.helpers import plotly_numbers

PAGE = str(REPO_ROOT / "demos" / "attention.py")
HOSTILE = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=1</script> [click](javascript:alert(1)) **bold**",
    "😀🦄 unicorns 🦄",
    "北京的独角兽说英语",
    "שלום עולם مرحبا بالعالم",
    "a",
    "\x00\x01\x02",
]


def run_page(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def captions(at: AppTest) -> str:
    return " ".join(caption.value for caption in at.caption)


def no_traceback(at: AppTest) -> None:
    assert not at.exception, [error.value for error in at.exception]


@pytest.fixture
def models(with_tiny_models, fresh_app_state):
    return with_tiny_models


def test_default_view_is_a_heatmap_with_a_token_counter(models):
    at = run_page()
    no_traceback(at)
    assert at.title[0].value.endswith("Attention")
    assert len(charts(at)) == 1
    assert "/ 256 tokens" in captions(at)
    assert "What to look for" in captions(at)
    assert at.text_area[0].value.startswith("Pérez")


@pytest.mark.parametrize(
    ("view", "count"), [("heatmap", 1), ("lines", 1), ("model", 3), ("rollout", 1), ("compare", 2), ("induction", 3)]
)
@pytest.mark.parametrize("model", ["bert-base-uncased", "distilgpt2"])
def test_every_view_renders(models, view, count, model):
    at = run_page(view=view, model=model, period="8")
    no_traceback(at)
    assert len(charts(at)) == count


def test_rollout_carries_the_not_explanation_note(models):
    at = run_page(view="rollout")
    assert any("Attention is not explanation" in info.value for info in at.info)


def test_induction_view_lists_top_heads_and_losses(models):
    at = run_page(view="induction", period="10", seed="4")
    no_traceback(at)
    assert [metric.label for metric in at.metric] == ["Loss on the first copy", "Loss on the second copy"]
    assert any("Top heads:" in markdown.value for markdown in at.markdown)
    assert any("A B … A → B" in markdown.value for markdown in at.markdown)


@pytest.mark.parametrize("text", ["", "   \n  "])
def test_blank_text_prompts_and_draws_nothing(models, text):
    at = run_page(text=text)
    no_traceback(at)
    assert not charts(at)
    assert any("Type or paste a sentence" in info.value for info in at.info)


def test_long_text_is_truncated_with_a_notice(models):
    at = run_page(text=" ".join(["unicorn"] * 400))
    no_traceback(at)
    notice = " ".join(warning.value for warning in at.warning)
    assert "402 tokens" in notice and "146 dropped" in notice
    assert "256 / 256 tokens" in captions(at)
    assert len(charts(at)) == 1


@pytest.mark.parametrize("model", ["bert-base-uncased", "gpt2"])
@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_never_shows_a_traceback(models, model, text):
    at = run_page(text=text, model=model, hide="1", merge="1")
    no_traceback(at)
    assert charts(at) or at.warning or at.info
    assert not any("<img" in markdown.value or "<script" in markdown.value for markdown in at.markdown)


def test_unreadable_text_says_so(models):
    at = run_page(text="\x00\x01")
    no_traceback(at)
    assert any("no tokens" in warning.value for warning in at.warning)
    assert not charts(at)


def test_single_gpt2_token_cannot_hide_its_only_token(models):
    at = run_page(text="a", model="gpt2", sink="1")
    no_traceback(at)
    assert any("nothing is hidden" in info.value for info in at.info)
    assert len(charts(at)) == 1


def test_hiding_special_tokens_keeps_gpt2_s_first_word_and_the_sink_has_its_own_toggle(models):
    at = run_page(text="Unicorns spoke English.", model="gpt2", hide="1")
    no_traceback(at)
    assert at.toggle(key="attn__sink").label.startswith("Hide the first token: the attention sink")

    def keys() -> list[str]:
        return json.loads(charts(at)[0].proto.spec)["data"][0]["x"]

    typed = keys()
    assert "".join(typed).startswith("Unicorns")  # hiding special tokens left the student's first word in place
    at.toggle(key="attn__sink").set_value(True).run()
    assert keys() == typed[1:]
    assert at.query_params["sink"] == "1"
    bert = run_page(text="Unicorns spoke English.", hide="1")
    assert not [toggle for toggle in bert.toggle if toggle.key == "attn__sink"]  # an encoder has no sink


def test_url_restores_every_input(models):
    at = run_page(
        model="gpt2",
        view="model",
        layer="1",
        head="0",
        hide="1",
        merge="1",
        preset="unicorn",
        text="The unicorns spoke.",
    )
    no_traceback(at)
    assert at.selectbox(key="attn__model").value == "gpt2"
    assert at.slider(key="attn__layer").value == 1
    assert at.selectbox(key="attn__head").value == "0"
    assert at.toggle(key="attn__hide").value and at.toggle(key="attn__merge").value
    assert at.text_area[0].value == "The unicorns spoke."
    assert any("Enlarged: layer 1, head 0" in header.value for header in at.subheader)


def test_malformed_url_values_are_ignored_and_named(models):
    at = run_page(model="gpt-5", view="nope", layer="99", head="banana", hide="maybe")
    no_traceback(at)
    ignored = captions(at)
    assert "Ignored from the link" in ignored
    for name in ("model=gpt-5", "view=nope", "layer=99", "head=banana", "hide=maybe"):
        assert name in ignored
    assert len(charts(at)) == 1


def test_widgets_write_the_url(models):
    at = run_page()
    at.toggle(key="attn__merge").set_value(True).run()
    at.selectbox(key="attn__head").set_value("max").run()
    no_traceback(at)
    assert at.query_params["merge"] == "1" and at.query_params["head"] == "max"
    assert any("rows no longer sum to 1" in caption.value for caption in at.caption)


def test_choosing_a_preset_fills_the_text(models):
    from models.attention import load_presets

    unicorn = {preset.id: preset for preset in load_presets(REPO_ROOT / "assets" / "attention_presets.json")}["unicorn"]
    at = run_page()
    at.selectbox(key="attn__preset").set_value("unicorn").run()
    no_traceback(at)
    assert at.text_area[0].value == unicorn.text
    assert at.query_params["preset"] == "unicorn"


def test_layer_from_a_deeper_model_is_clamped(models):
    at = run_page(layer="1")
    at.selectbox(key="attn__model").set_value("distilgpt2").run()
    no_traceback(at)
    assert at.slider(key="attn__layer").value <= 1


def test_without_models_the_page_explains_and_keeps_working(without_models, fresh_app_state):
    at = run_page()
    no_traceback(at)
    assert any("not available" in error.value for error in at.error)
    assert any(button.label == "Retry" for button in at.button)


def test_without_models_blank_text_still_prompts(without_models, fresh_app_state):
    at = run_page(text=" ")
    no_traceback(at)
    assert any("Type or paste a sentence" in info.value for info in at.info)


def test_one_head_shows_where_a_row_comes_from_and_it_equals_the_heatmap_row(models):
    at = run_page(text="The unicorns spoke perfect English.", model="gpt2", layer="1", head="0", q="3")
    no_traceback(at)
    specs = [json.loads(chart.proto.spec) for chart in charts(at)]
    [heatmap] = [spec for spec in specs if spec["layout"]["title"]["text"] == "GPT-2 (124M): layer 1, head 0"]
    [query_key] = [spec for spec in specs if spec["layout"]["title"]["text"].startswith("Where the row of 3.")]
    softmax, matrix = plotly_numbers(query_key["data"][2]["x"]), plotly_numbers(heatmap["data"][0]["z"])
    row = matrix.reshape(len(softmax), -1)[3] if matrix.ndim == 1 else matrix[3]
    assert np.allclose(softmax, np.nan_to_num(row), atol=1e-5)  # the rebuilt row is the model's own (future: blank)
    assert at.selectbox(key="attn__q").value == 3
    mean = run_page(text="The unicorns spoke perfect English.", head="mean")
    assert "Pick a single head" in " ".join(caption.value for caption in mean.caption)


def test_head_view_draws_one_tokens_lines_and_keeps_its_inputs_in_the_link(models):
    at = run_page(
        text="The unicorns spoke perfect English.", model="gpt2", view="lines", layer="1", heads="0,1", focus="q3"
    )
    no_traceback(at)
    [spec] = [json.loads(chart.proto.spec) for chart in charts(at)]
    assert spec["layout"]["title"]["text"].startswith("Layer 1, heads 0, 1")
    queries, keys = spec["data"][0], spec["data"][1]
    assert [point[0] for point in queries["customdata"]] == ["query"] * len(queries["customdata"])
    assert [point[0] for point in keys["customdata"]] == ["key"] * len(keys["customdata"])
    starts = np.concatenate([plotly_numbers(trace["y"])[0::3] for trace in spec["data"][2:]])
    assert len(starts) > 0 and set(starts.tolist()) == {3.0}  # only the picked token's lines
    assert sorted({trace["name"] for trace in spec["data"][2:]}) == ["head 0", "head 1"]
    assert at.selectbox(key="attn__focus").value == "q3"
    assert at.query_params["focus"] == "q3" and at.query_params["heads"] == "0,1"


def test_head_view_with_no_head_picked_says_what_to_do(models):
    at = run_page(view="lines", heads="")
    no_traceback(at)
    assert any("Pick one or more heads" in info.value for info in at.info)


def test_model_view_has_a_head_map_coloured_by_the_chosen_pattern(models):
    at = run_page(view="model", layer="0", head="1", stat="entropy_bits")
    no_traceback(at)
    specs = [json.loads(chart.proto.spec) for chart in charts(at)]
    [head_map] = [spec for spec in specs if spec["layout"]["title"]["text"].startswith("Click a head to open it")]
    assert "spread (entropy, bits)" in head_map["layout"]["title"]["text"]
    marker = head_map["data"][0]["marker"]
    widths = (
        plotly_numbers(marker["line"]["width"])
        if isinstance(marker["line"]["width"], dict)
        else np.asarray(marker["line"]["width"])
    )
    [framed] = np.flatnonzero(widths)
    assert head_map["data"][0]["customdata"][framed] == [0, 1]  # the open head is framed


def test_editing_the_text_lets_go_of_the_preset_name(models):
    at = run_page()
    preset_box = at.selectbox(key="attn__preset")
    assert preset_box.value != "own"
    at.text_area(key="attn__text").set_value("My own sentence about unicorns.").run()
    no_traceback(at)
    assert at.selectbox(key="attn__preset").value == "own"
    assert "What to look for" not in captions(at)
    at.selectbox(key="attn__preset").set_value("unicorn").run()  # picking a preset again fills its text
    no_traceback(at)
    assert at.text_area(key="attn__text").value.startswith("In a shocking finding")
    assert at.selectbox(key="attn__preset").value == "unicorn"
