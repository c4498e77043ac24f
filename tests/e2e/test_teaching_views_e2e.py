"""The teaching views added beside the demos, in a real Chromium: each draws from a link, with no error."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import exception_texts, open_page, screenshot

pytestmark = pytest.mark.e2e

MAIN = '[data-testid="stMain"]'


def chart_titles(page) -> list[str]:
    return page.locator(f"{MAIN} .js-plotly-plot .gtitle").evaluate_all("nodes => nodes.map(node => node.textContent)")


def tall(page, name: str) -> None:
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.wait_for_timeout(800)
    screenshot(page, name)


def test_sampling_settings_redraw_the_next_token(page, app_server):
    open_page(page, app_server, "generation", "decode=sample&temp=0.7&top_k=5")
    page.locator(f"{MAIN} .js-plotly-plot .gtitle", has_text="Sampling keeps").wait_for()
    assert exception_texts(page) == []
    assert any(title.startswith("Sampling keeps 5 tokens") for title in chart_titles(page))
    tall(page, "teaching-sampling-filter")


def test_the_80_10_10_rule_over_many_draws(page, app_server):
    open_page(page, app_server, "fill-mask", "view=mlm&draws=1000")
    page.locator(f"{MAIN} .js-plotly-plot .gtitle", has_text="The rule over 1,000 draws").wait_for()
    assert exception_texts(page) == []
    assert "Over 1,000 draws" in page.locator(MAIN).inner_text()
    tall(page, "teaching-mlm-tally")


def test_bias_sq_error_bars(page, app_server):
    open_page(page, app_server, "double-descent")
    page.locator(f"{MAIN} .js-plotly-plot").first.wait_for()
    assert exception_texts(page) == []
    assert page.locator(f"{MAIN} .js-plotly-plot .errorbar").count() > 0
    assert "pairs of different training sets" in page.locator(MAIN).inner_text()
    tall(page, "teaching-bias-error-bars")


def test_query_key_view_of_one_head(page, app_server):
    open_page(page, app_server, "attention", "model=gpt2&layer=1&head=0&q=3")
    page.locator(f"{MAIN} .js-plotly-plot .gtitle", has_text="Where the row of").wait_for()
    assert exception_texts(page) == []
    assert "q · k / √d" in page.locator(f"{MAIN} .js-plotly-plot").last.text_content()
    tall(page, "teaching-query-key")
