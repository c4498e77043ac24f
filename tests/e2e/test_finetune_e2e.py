"""The fine-tuning lab in a real Chromium: Train draws the curves and the table; Stop ends a run mid-way with a
clear message and the page keeps working."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import exception_texts, open_page, tall_screenshot

pytestmark = pytest.mark.e2e

MAIN = '[data-testid="stMain"]'


def test_train_shows_curves_and_the_strategies_table(page, app_server):
    open_page(page, app_server, "fine-tuning", "strategies=probe,top,lora&epochs=3&k=4&seed=7")
    assert exception_texts(page) == []
    assert "never appear in the training" in page.locator(MAIN).inner_text()
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator(f"{MAIN} [data-testid='stDataFrame']").wait_for(timeout=120_000)
    assert exception_texts(page) == []
    titles = page.locator(f"{MAIN} .js-plotly-plot .gtitle").all_text_contents()
    assert any(title.startswith("Accuracy after each epoch") for title in titles)
    assert any(title.startswith("Few labelled examples") for title in titles)
    tall_screenshot(page, "finetune-trained")


def test_stop_mid_run_says_nothing_was_kept(page, app_server):
    open_page(page, app_server, "fine-tuning", "strategies=scratch,full,lora,top&epochs=15&k=64&seed=8")
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator(MAIN, has_text="Training…").wait_for(timeout=120_000)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.locator(MAIN, has_text="nothing was kept").wait_for(timeout=60_000)
    assert exception_texts(page) == []
    assert page.get_by_role("button", name="Train", exact=True).is_enabled()
    tall_screenshot(page, "finetune-stopped")


def test_lecture_mode_and_phone(page, app_server):
    open_page(page, app_server, "fine-tuning", "lecture=1")
    assert exception_texts(page) == []
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('.stApp')).fontSize)") >= 20
    tall_screenshot(page, "finetune-lecture")
    page.set_viewport_size({"width": 390, "height": 844})
    open_page(page, app_server, "fine-tuning", "strategies=probe&epochs=2&k=4")
    page.get_by_role("button", name="Train", exact=True).click()
    page.locator(f"{MAIN} [data-testid='stDataFrame']").wait_for(timeout=120_000)
    assert exception_texts(page) == []
    tall_screenshot(page, "finetune-phone", width=390)
