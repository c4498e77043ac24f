"""The fill-mask page in a real Chromium: what a student sees in each view, hostile text shown as
text, tokens as buttons, links that restore a view, a phone-sized screen."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from transformers import AutoTokenizer

from tests.e2e.conftest import exception_texts, open_page, screenshot, tall_screenshot, wait_for_app
from ui.text import visible_token

pytestmark = pytest.mark.e2e

PATH = "fill-mask"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script><b>bold?</b> [MASK]'
MAIN = '[data-testid="stMain"]'


@pytest.fixture(scope="module", autouse=True)
def app_shell_ready(browser, app_server):
    """Open the home page once first, so /fill-mask runs through app.py's st.navigation."""
    context = browser.new_context()
    page = context.new_page()
    open_page(page, app_server)
    page.locator('[data-testid="stSidebar"]').get_by_text("Lecture mode", exact=True).wait_for(timeout=60_000)
    context.close()


def main_text(page) -> str:
    return page.locator(MAIN).inner_text()


def plots(page):
    return page.locator(f"{MAIN} .js-plotly-plot")


def tick_texts(page, axis: str = "ytick") -> list[str]:
    # SVG text has no innerText; textContent is what the browser draws.
    return page.locator(f"{MAIN} .js-plotly-plot .{axis} text").evaluate_all(
        "nodes => nodes.map(node => node.textContent)"
    )


def pill_texts(page) -> list[str]:
    return page.locator(f"{MAIN} .st-key-fm__masked button").all_inner_texts()


def test_two_masks_filled_independently_and_left_to_right(page, app_server):
    open_page(page, app_server, PATH)
    assert exception_texts(page) == []
    assert page.get_by_role("heading", name="Fill-mask").count() >= 1
    plots(page).first.wait_for()
    assert plots(page).count() == 3  # mask 1, mask 2, the two strategies
    text = main_text(page)
    assert "Independent" in text and "Left to right" in text
    assert "Mask 1 of 2" in text and "Mask 2 of 2" in text
    assert page.get_by_role("button", name="Download data (CSV)").count() == 3
    tall_screenshot(page, "fill-mask-default")


def test_hostile_text_is_shown_literally_and_runs_nothing(page, app_server):
    open_page(page, app_server, PATH, f"text={quote(XSS)}")
    assert exception_texts(page) == []
    plots(page).first.wait_for()
    assert page.evaluate("window.__xss") is None
    assert page.locator(f'{MAIN} img[src="x"]').count() == 0
    assert page.locator(f"{MAIN} b", has_text="bold?").count() == 0
    assert page.locator(f"{MAIN} textarea").first.input_value() == XSS
    tall_screenshot(page, "fill-mask-hostile")


def test_no_mask_then_one_click_masks_a_word(page, app_server):
    open_page(page, app_server, PATH, f"text={quote('Paris is the capital of France.')}")
    assert "No mask in the text" in main_text(page)
    page.get_by_role("button", name="Mask a word for me").click()
    wait_for_app(page)
    plots(page).first.wait_for()
    assert page.locator(f"{MAIN} textarea").first.input_value() == "Paris is the capital of [MASK]."
    assert "text=" in page.url and "MASK" in page.url
    assert exception_texts(page) == []


def test_click_to_mask_shows_wordpiece_tokens_as_buttons(page, app_server, tiny_model_dir):
    sentence = "Unbelievably ##ing **bold** :smile: <b>x</b>"
    open_page(page, app_server, PATH, f"view=click&sentence={quote(sentence)}")
    assert exception_texts(page) == []
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_model_dir / "bert-base-uncased"))
    pieces = tokenizer.convert_ids_to_tokens(tokenizer(sentence, add_special_tokens=False)["input_ids"])
    # Markdown in labels would eat "#", "*", ":" or the brackets of "[UNK]": every piece must read as typed.
    assert pill_texts(page) == [visible_token(piece) for piece in pieces]
    assert page.locator(f"{MAIN} .st-key-fm__masked strong, {MAIN} .st-key-fm__masked h2").count() == 0
    page.locator(f"{MAIN} .st-key-fm__masked button").nth(0).click()
    wait_for_app(page)
    plots(page).first.wait_for()
    assert "What the model reads" in main_text(page)
    assert "masked=1" in page.url
    assert exception_texts(page) == []
    tall_screenshot(page, "fill-mask-click")


def test_mlm_view_is_reproducible_from_its_link(page, app_server):
    open_page(page, app_server, PATH, "view=mlm&seed=3")
    plots(page).first.wait_for()
    assert exception_texts(page) == []
    text = main_text(page)
    assert "Seed 3 picked" in text and "Why not always" in text
    table = page.locator(f"{MAIN} [data-testid='stDataFrame']").first
    table.wait_for()
    first_summary = [line for line in text.splitlines() if line.startswith("Seed 3 picked")]
    tall_screenshot(page, "fill-mask-mlm", height=3000)
    open_page(page, app_server, PATH, "view=mlm&seed=3")
    again = [line for line in main_text(page).splitlines() if line.startswith("Seed 3 picked")]
    assert again == first_summary


def test_bias_probe_side_by_side(page, app_server):
    open_page(page, app_server, PATH, "view=bias")
    plots(page).first.wait_for()
    assert exception_texts(page) == []
    text = main_text(page)
    assert "Bias learned from pre-training data" in text
    assert plots(page).count() == 3
    tall_screenshot(page, "fill-mask-bias")


def test_compare_models_in_lecture_mode(page, app_server):
    open_page(page, app_server, PATH, "compare=1&lecture=1")
    plots(page).first.wait_for()
    assert exception_texts(page) == []
    text = main_text(page)
    assert "BERT base, uncased" in text and "DistilBERT base, uncased" in text
    tall_screenshot(page, "fill-mask-compare-lecture", height=3200)


def test_phone_screen(page, app_server):
    page.set_viewport_size({"width": 390, "height": 844})
    open_page(page, app_server, PATH)
    plots(page).first.wait_for()
    assert exception_texts(page) == []
    tall_screenshot(page, "fill-mask-phone", height=4200, width=390)


def test_without_weights_the_page_says_what_to_do(page, offline_app_server):
    open_page(page, offline_app_server)
    open_page(page, offline_app_server, PATH)
    assert exception_texts(page) == []
    assert "is not available" in main_text(page)
    screenshot(page, "fill-mask-offline")
