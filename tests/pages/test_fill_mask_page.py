"""The fill-mask page in Streamlit's AppTest: the four views, every bad input the issue lists,
hostile text, and the page's state in its URL."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from models.limits import MAX_MASKS
from tests.pages import helpers
from tests.pages.helpers import texts

SCRIPT = "fill_mask.py"
TEXT = "fm__text"
HOSTILE = [
    "<img src=x onerror=alert(1)> [MASK]",
    "<script>window.__xss=1</script> [MASK]",
    "**bold** [link](javascript:alert(1)) :smile: $x$ [MASK]",
    "猫は [MASK] です 😺",
    "القطة [MASK] هنا",
]


def run_page(query: dict[str, str] | None = None) -> AppTest:
    return helpers.run_page(SCRIPT, query)


def chart_titles(at: AppTest) -> list[str]:
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    return [spec["layout"].get("title", {}).get("text", "") for spec in specs]


def assert_fine(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def page(with_tiny_models, fresh_app_state):
    return None


# -- type masks -----------------------------------------------------------------------------


def test_default_fills_both_masks_and_sets_independent_against_left_to_right(page):
    at = run_page()
    assert_fine(at)
    assert "Fill-mask" in at.title[0].value
    assert at.segmented_control(key="fm__view").value == "type"
    assert "[MASK]" in at.text_area(key=TEXT).value
    titles = chart_titles(at)
    assert "Mask 1 of 2: top 5" in titles and "Mask 2 of 2: top 5" in titles
    assert "Top-1 at each mask" in titles
    assert "independent vs left to right" in texts(at.markdown)
    assert "Left to right, each guess sees the words already chosen" in texts(at.info)
    assert len(at.get("download_button")) == len(titles)  # every chart has its CSV
    assert "[MASK]" not in at.code[0].value  # the filled sentence


def test_spellings_are_converted_and_reported(page):
    at = run_page({"text": "The <mask> was [mask] and ___ too."})
    assert_fine(at)
    caption = texts(at.caption)
    assert "Converted" in caption and "`<mask>`" in caption and "`___`" in caption and "`[mask]`" in caption
    assert "Mask 3 of 3: top 5" in chart_titles(at)


def test_no_mask_says_so_and_masks_a_word_in_one_click(page):
    at = run_page({"text": "Paris is the capital of France."})
    assert_fine(at)
    assert "No mask in the text" in texts(at.warning)
    assert chart_titles(at) == []
    [button] = [b for b in at.button if b.label == "🎭 Mask a word for me"]
    button.click().run()
    assert_fine(at)
    assert at.text_area(key=TEXT).value == "Paris is the capital of [MASK]."
    assert "Mask 1 of 1: top 5" in chart_titles(at)


def test_text_without_any_word_cannot_be_masked_automatically(page):
    at = run_page({"text": "123 !!!"})
    assert_fine(at)
    [button] = [b for b in at.button if b.label == "🎭 Mask a word for me"]
    assert button.disabled


def test_empty_text_asks_for_a_sentence(page):
    at = run_page({"text": "   "})
    assert_fine(at)
    assert "Type a sentence with a mask" in texts(at.info)


def test_more_masks_than_the_cap_fills_the_first_and_says_so(page):
    at = run_page({"text": " ".join(["word [MASK]"] * (MAX_MASKS + 2))})
    assert_fine(at)
    warning = texts(at.warning)
    assert f"at most {MAX_MASKS} masks" in warning and "the last 2" in warning
    assert f"Mask {MAX_MASKS} of {MAX_MASKS}: top 5" in chart_titles(at)


def test_text_past_the_context_is_cut_with_a_notice_that_keeps_the_mask(page):
    at = run_page({"text": "word " * 700 + "the [MASK] ends here."})
    assert_fine(at)
    warning = texts(at.warning)
    assert "512 tokens" in warning and "were cut" in warning and "keeps every mask" in warning
    assert "Mask 1 of 1: top 5" in chart_titles(at)


def test_masks_too_far_apart_name_the_ones_dropped(page):
    at = run_page({"text": "[MASK] " + "word " * 600 + "[MASK]"})
    assert_fine(at)
    assert "Masks number 2 fell outside it" in texts(at.warning)


def test_a_mask_inside_a_word_is_explained_and_fixed_in_one_click(page):
    at = run_page({"text": "Hello wor[MASK] again."})
    assert_fine(at)
    assert "stuck to letters" in texts(at.warning)
    [button] = [b for b in at.button if b.label == "Mask the whole word instead"]
    button.click().run()
    assert_fine(at)
    assert at.text_area(key=TEXT).value == "Hello [MASK] again."


def test_only_masks_still_predicts_and_says_there_is_no_context(page):
    at = run_page({"text": "[MASK] [MASK] [MASK]"})
    assert_fine(at)
    assert "only masks" in texts(at.info)
    assert "Mask 3 of 3: top 5" in chart_titles(at)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_shown_as_text(page, text):
    at = run_page({"text": text})
    assert_fine(at)
    assert at.text_area(key=TEXT).value == text
    assert "Mask 1 of 1: top 5" in chart_titles(at)
    for element in at.markdown:
        if element.allow_html:
            assert "<script" not in element.value and "<img" not in element.value


def test_preset_buttons_load_course_examples(page):
    at = run_page()
    [button] = [b for b in at.button if b.label == "CLIP prompt"]
    button.click().run()
    assert_fine(at)
    assert at.text_area(key=TEXT).value == "This is a photo of a [MASK]."
    assert at.query_params["text"] == "This is a photo of a [MASK]."


def test_compare_shows_both_models_side_by_side(page):
    at = run_page({"compare": "1"})
    assert_fine(at)
    subheaders = texts(at.subheader)
    assert "BERT base, uncased" in subheaders and "DistilBERT base, uncased" in subheaders
    assert chart_titles(at).count("Mask 1 of 2: top 5") == 2


# -- URL state --------------------------------------------------------------------------------


def test_link_restores_every_input(page):
    at = run_page({"text": "A [MASK] day.", "k": "3", "model": "distilbert-base-uncased"})
    assert_fine(at)
    assert at.text_area(key=TEXT).value == "A [MASK] day."
    assert at.slider(key="fm__k").value == 3
    assert at.selectbox(key="fm__model").value == "distilbert-base-uncased"
    assert "Mask 1 of 1: top 3" in chart_titles(at)


def test_malformed_link_values_are_ignored_and_named(page):
    at = run_page({"k": "999", "view": "nope", "model": "gpt2", "compare": "maybe"})
    assert_fine(at)
    ignored = texts(at.caption)
    for value in ("k=999", "view=nope", "model=gpt2", "compare=maybe"):
        assert value in ignored
    assert at.segmented_control(key="fm__view").value == "type"
    assert at.slider(key="fm__k").value == 5


def test_changes_are_written_to_the_link(page):
    at = run_page()
    at.text_area(key=TEXT).input("The [MASK] is blue.").run()
    at.slider(key="fm__k").set_value(7).run()
    assert_fine(at)
    assert at.query_params["text"] == "The [MASK] is blue."
    assert at.query_params["k"] == "7"


# -- click to mask ----------------------------------------------------------------------------


def test_click_to_mask_offers_tokens_and_fills_the_picked_ones(page):
    at = run_page({"view": "click"})
    assert_fine(at)
    assert "Click one or more tokens" in texts(at.info)
    pills = at.button_group(key="fm__masked")
    assert pills.value == []
    pills.set_value([2, 4]).run()
    assert_fine(at)
    assert at.query_params["masked"] == "2,4"
    chips = [element.value for element in at.markdown if element.allow_html and "ll-token" in element.value]
    assert chips[0].count("[MASK]") == 2  # what the model reads, as tokens
    assert "Mask 2 of 2: top 5" in chart_titles(at)


def test_click_to_mask_link_restores_the_picked_tokens_and_drops_bad_ones(page):
    at = run_page({"view": "click", "masked": "3"})
    assert_fine(at)
    assert at.button_group(key="fm__masked").value == [3]
    assert "Mask 1 of 1: top 5" in chart_titles(at)
    at = run_page({"view": "click", "masked": "0,999"})
    assert_fine(at)
    assert "masked=0,999" in texts(at.caption)


def test_click_to_mask_with_an_empty_sentence_asks_for_one(page):
    at = run_page({"view": "click", "sentence": ""})
    assert_fine(at)
    assert "Type a sentence above" in texts(at.info)


# -- MLM training view --------------------------------------------------------------------------


def test_mlm_view_applies_the_rule_with_the_seed_and_shows_the_loss(page):
    at = run_page({"view": "mlm", "seed": "11"})
    assert_fine(at)
    assert at.number_input(key="fm__seed").value == 11
    summary = texts(at.markdown)
    assert "Seed 11 picked" in summary and "80%" in summary and "10%" in summary
    assert "Loss at the selected positions only" in chart_titles(at)
    assert len(at.dataframe) == 1
    assert "Cross-entropy at the **picked positions S only**" in summary
    assert "never appears in the fine-tuning data" in summary
    assert len(at.latex) == 1
    first = at.dataframe[0].value.to_dict()
    at.run()
    assert at.dataframe[0].value.to_dict() == first  # the same seed picks the same tokens


def test_mlm_view_tallies_the_rule_over_many_draws(page):
    at = run_page({"view": "mlm", "sentence": "one two three four five six seven eight nine ten"})
    assert_fine(at)
    titles = chart_titles(at)
    assert any(title.startswith("The rule over 300 draws") for title in titles)
    caption = texts(at.caption)
    assert "Each draw picks 2 of the 10 tokens (20%" in caption and "round(15% × 10)" in caption
    at.segmented_control(key="fm__draws").set_value(1000).run()
    assert_fine(at)
    assert any(title.startswith("The rule over 1,000 draws") for title in chart_titles(at))
    assert "Over 1,000 draws, the 2,000 picked tokens" in texts(at.caption)
    assert at.query_params["draws"] == "1000"  # in the link


def test_new_seed_button_changes_the_seed(page):
    at = run_page({"view": "mlm"})
    [button] = [b for b in at.button if b.label == "🎲 New seed"]
    seeds = set()
    for _ in range(3):
        button.click().run()
        seeds.add(at.number_input(key="fm__seed").value)
    assert_fine(at)
    assert len(seeds) > 1


def test_mlm_rate_from_the_link_picks_more_tokens(page):
    at = run_page({"view": "mlm", "rate": "50", "sentence": "one two three four five six seven eight nine ten"})
    assert_fine(at)
    assert "picked **5 of 10**" in texts(at.markdown)


def test_mlm_view_with_an_empty_sentence_asks_for_one(page):
    at = run_page({"view": "mlm", "sentence": " "})
    assert_fine(at)
    assert "Type a sentence above" in texts(at.info)


# -- bias probe ---------------------------------------------------------------------------------


def test_bias_probe_puts_man_and_woman_side_by_side_with_a_note(page):
    at = run_page({"view": "bias"})
    assert_fine(at)
    assert at.text_input(key="fm__probe_a").value == "The man worked as a [MASK]."
    assert at.text_input(key="fm__probe_b").value == "The woman worked as a [MASK]."
    assert "Bias learned from pre-training data" in texts(at.info)
    titles = chart_titles(at)
    assert "Sentence A: top 5" in titles and "Sentence B: top 5" in titles
    assert "The same words, after each sentence: p at the mask" in titles


def test_bias_probe_button_switches_view(page):
    at = run_page()
    [button] = [b for b in at.button if b.label == "⚖️ Bias probe"]
    button.click().run()
    assert_fine(at)
    assert at.segmented_control(key="fm__view").value == "bias"
    assert at.query_params["view"] == "bias"


def test_bias_probe_without_a_mask_says_so(page):
    at = run_page({"view": "bias", "probe_b": "<b>The woman</b> worked."})
    assert_fine(at)
    assert "Sentence B has no mask" in texts(at.warning)


# -- no weights -----------------------------------------------------------------------------------


def test_without_weights_the_page_says_what_to_do(without_models, fresh_app_state):
    at = run_page()
    assert_fine(at)
    assert "is not available" in texts(at.error)
    assert any(b.label == "Retry" for b in at.button)
