"""The attention page in a real Chromium: what a student sees, hostile text shown as text, links restore views."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.e2e.conftest import exception_texts, open_page, tall_screenshot, wait_for_app

pytestmark = pytest.mark.e2e

PATH = "attention"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script><b>bold?</b>'


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def plot_count(page) -> int:
    return page.locator('[data-testid="stMain"] .js-plotly-plot').count()


def tick_texts(page) -> list[str]:
    # SVG text has no innerText; textContent is what the browser draws.
    return page.locator('[data-testid="stMain"] .js-plotly-plot .xtick text').evaluate_all(
        "nodes => nodes.map(node => node.textContent)"
    )


def test_heatmap_of_the_default_preset(page, app_server):
    open_page(page, app_server, PATH)
    assert exception_texts(page) == []
    assert page.get_by_role("heading", name="Attention").count() >= 1
    text = main_text(page)
    assert "query" in text and "softmax" in text
    assert "/ 256 tokens" in text
    page.locator('[data-testid="stMain"] .js-plotly-plot').first.wait_for()
    assert plot_count(page) == 1
    # The key axis is labelled with the sentence's own tokens.
    assert "his" in tick_texts(page)
    assert page.get_by_role("button", name="Download data (CSV)").count() == 1
    tall_screenshot(page, "attention-heatmap")


def test_hostile_text_is_shown_literally_and_runs_nothing(page, app_server):
    open_page(page, app_server, PATH, f"model=gpt2&text={quote(XSS)}")
    assert exception_texts(page) == []
    page.locator('[data-testid="stMain"] .js-plotly-plot').first.wait_for()
    assert page.evaluate("window.__xss") is None
    assert page.locator('[data-testid="stMain"] img[src="x"]').count() == 0
    assert page.locator('[data-testid="stMain"] b', has_text="bold?").count() == 0
    # The pieces appear as text: in the token chips and as plotly tick labels.
    chips = page.locator(".ll-token").all_inner_texts()
    assert "<" in chips and "script" in chips
    assert any("<" in label for label in tick_texts(page))
    tall_screenshot(page, "attention-hostile")


def test_model_view_picks_and_enlarges_a_head(page, app_server):
    open_page(page, app_server, PATH, "view=model&layer=1&head=1")
    assert exception_texts(page) == []
    page.locator('[data-testid="stMain"] .js-plotly-plot').first.wait_for()
    assert plot_count(page) == 3  # the head map, every head, the enlarged head
    text = main_text(page)
    assert "Enlarged: layer 1, head 1" in text
    assert "previous-token" in text
    tall_screenshot(page, "attention-model-view")


def test_rollout_carries_the_not_explanation_note(page, app_server):
    open_page(page, app_server, PATH, "view=rollout&hide=1&merge=1")
    assert exception_texts(page) == []
    assert "Attention is not explanation" in main_text(page)
    assert plot_count(page) == 1
    tall_screenshot(page, "attention-rollout")


def test_bert_and_gpt2_side_by_side(page, app_server):
    open_page(
        page, app_server, PATH, "view=compare&preset=unicorn&text=" + quote("The unicorns spoke perfect English.")
    )
    assert exception_texts(page) == []
    page.locator('[data-testid="stMain"] .js-plotly-plot').nth(1).wait_for()
    assert plot_count(page) == 2
    text = main_text(page)
    assert "bidirectional" in text and "upper triangle is empty" in text
    tall_screenshot(page, "attention-compare")


def test_induction_heads_view(page, app_server):
    open_page(page, app_server, PATH, "view=induction&period=20&seed=3")
    assert exception_texts(page) == []
    page.locator('[data-testid="stMain"] .js-plotly-plot').nth(2).wait_for()
    assert plot_count(page) == 3
    text = main_text(page)
    assert "A B … A → B" in text
    assert "Top heads:" in text and "Loss on the second copy" in text
    tall_screenshot(page, "attention-induction")


def test_switching_view_updates_the_link(page, app_server):
    open_page(page, app_server, PATH)
    page.locator('[data-testid="stButtonGroup"] button', has_text="Model view").click()
    wait_for_app(page)
    assert "view=model" in page.url
    assert plot_count(page) == 3  # the head map, every head, the enlarged head
    assert exception_texts(page) == []


def test_empty_and_long_text_say_what_to_do(page, app_server):
    open_page(page, app_server, PATH, "text=%20%20")
    assert exception_texts(page) == []
    assert "Type or paste a sentence" in main_text(page)
    assert plot_count(page) == 0
    long_text = quote(" ".join(["unicorns"] * 400))
    open_page(page, app_server, PATH, f"text={long_text}")
    assert exception_texts(page) == []
    assert "dropped" in main_text(page)


def test_lecture_mode_heatmap(page, app_server):
    open_page(
        page,
        app_server,
        PATH,
        "lecture=1&preset=unicorn&text="
        + quote("In a shocking finding, scientist discovered a herd of unicorns living in a remote valley."),
    )
    assert exception_texts(page) == []
    page.locator('[data-testid="stMain"] .js-plotly-plot').first.wait_for()
    tall_screenshot(page, "attention-lecture-mode")


def test_gpt2_first_word_stays_when_special_tokens_are_hidden_and_the_sink_toggle_hides_it(page, app_server):
    open_page(page, app_server, PATH, "model=gpt2&hide=1&text=" + quote("Unicorns spoke perfect English."))
    assert exception_texts(page) == []
    main = page.locator('[data-testid="stMain"]')
    assert main.get_by_text("Hide the first token: the attention sink").count() == 1
    before = tick_texts(page)
    open_page(page, app_server, PATH, "model=gpt2&hide=1&sink=1&text=" + quote("Unicorns spoke perfect English."))
    assert exception_texts(page) == []
    after = tick_texts(page)
    assert len(after) < len(before) and set(after) < set(before)
    tall_screenshot(page, "attention-gpt2-sink-hidden")
