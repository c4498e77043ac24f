"""The bias–variance and double-descent page in a real Chromium: every view draws its charts, a moved
slider lands in the link and the link restores it, hostile link values are shown literally, and the
page holds up in lecture mode and on a phone."""

from __future__ import annotations

import urllib.parse

import pytest

from tests.e2e.conftest import exception_texts, open_page, tall_screenshot, wait_for_app

pytestmark = pytest.mark.e2e

PATH = "double-descent"
CHART = ".js-plotly-plot"


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def chart_text(page, index: int = 0) -> str:
    chart = page.locator(CHART).nth(index)
    chart.wait_for()
    return chart.inner_text()


def slider(page, label: str):
    return page.locator('[data-testid="stSlider"]').filter(has_text=label)


def slider_value(page, label: str) -> str:
    return slider(page, label).locator('[data-testid="stSliderThumbValue"]').inner_text().strip()


@pytest.mark.parametrize(
    "view, charts, expected",
    [
        ("bv", 2, ["bias² (approximation error)", "variance (estimation error)", "true function f"]),
        ("dd", 1, ["interpolation threshold p = n = 100", "test error, 10–90% of repeats", "predict 0"]),
        ("theory", 1, ["γ = 1: p = n", "theory (Hastie et al.)", "simulation: mean of 20"]),
        ("samples", 1, ["n = p = 50", "theory (Hastie et al.)"]),
    ],
)
def test_every_view_draws_its_charts(page, app_server, view, charts, expected):
    open_page(page, app_server, PATH, f"view={view}")
    assert exception_texts(page) == []
    page.locator(CHART).nth(charts - 1).wait_for()
    assert page.locator(CHART).count() == charts
    drawn = "\n".join(chart_text(page, i) for i in range(charts))
    for text in expected:
        assert text in drawn
    assert page.get_by_role("button", name="Download data (CSV)").count() == charts
    tall_screenshot(page, f"double-descent-{view}")


def test_a_moved_slider_lands_in_the_link_and_the_link_restores_it(page, app_server):
    open_page(page, app_server, PATH, "view=dd")
    assert slider_value(page, "Ridge λ") == "0"
    ridge = slider(page, "Ridge λ").locator('input[type="range"]')
    ridge.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")  # 0 → 1e-6 → 1e-5
    page.wait_for_function("() => window.location.search.includes('rf_ridge=1e-05')")
    wait_for_app(page)
    assert "λ = 1e-05" in chart_text(page)
    link = page.url
    assert "view=dd" in link and "rf_ridge=1e-05" in link

    restored = page.context.new_page()
    restored.goto(link)
    wait_for_app(restored)
    assert exception_texts(restored) == []
    assert slider_value(restored, "Ridge λ") == "1e-05"
    assert "test error (median of 20), λ = 1e-05" in chart_text(restored)
    assert "test error, λ = 0 (minimum norm)" in chart_text(restored)  # the faint reference
    tall_screenshot(restored, "double-descent-restored-link")


def test_a_large_ridge_from_the_link_flattens_the_peak(page, app_server):
    open_page(page, app_server, PATH, "view=dd&rf_ridge=1&rf_n=60&rf_seed=3")
    assert exception_texts(page) == []
    assert slider_value(page, "Ridge λ") == "1"
    assert slider_value(page, "Training points n") == "60"
    assert "interpolation threshold p = n = 60" in chart_text(page)
    assert "In the faint λ = 0 reference curve" in main_text(page)
    tall_screenshot(page, "double-descent-ridge")


def test_hostile_link_values_are_shown_literally_and_never_run(page, app_server):
    payloads = {
        "bv_target": "<img src=x onerror=window.__xss=1>",
        "bv_model": "<script>window.__xss=1</script>",
        "bv_seed": "猫 😺 القطة",
    }
    open_page(page, app_server, PATH, urllib.parse.urlencode(payloads))
    assert exception_texts(page) == []
    text = main_text(page)
    assert "Ignored from the link" in text
    for name, payload in payloads.items():
        assert f"{name}={payload}" in text
    assert page.evaluate("window.__xss") is None
    assert page.locator('[data-testid="stMain"] img[src="x"]').count() == 0
    assert page.locator(CHART).count() == 2  # the defaults are used instead
    tall_screenshot(page, "double-descent-hostile")


def test_edge_cases_from_the_issue_draw_without_error(page, app_server):
    # n = 1, p = 1, noise 0; then λ = 0 exactly at p = n with the largest noise
    for query in ("view=dd&rf_n=1&rf_max_p=1&rf_noise=0", "view=theory&lm_noise=2&lm_max_p=100", "bv_n=1&bv_model=knn"):
        open_page(page, app_server, PATH, query)
        assert exception_texts(page) == [], query
        page.locator(CHART).first.wait_for()
    assert "k = 1, the only choice" in main_text(page)
    tall_screenshot(page, "double-descent-edge-n1")


def test_lecture_mode_and_phone(page, app_server):
    open_page(page, app_server, PATH, "view=dd&lecture=1")
    assert exception_texts(page) == []
    page.locator(CHART).first.wait_for()
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.stApp')).fontSize)")
    assert size >= 20
    assert not page.get_by_text("Largest p").is_visible()  # secondary controls folded away
    tall_screenshot(page, "double-descent-lecture-mode")

    page.set_viewport_size({"width": 390, "height": 844})
    open_page(page, app_server, PATH, "view=bv")
    assert exception_texts(page) == []
    page.locator(CHART).nth(1).wait_for()
    tall_screenshot(page, "double-descent-phone", width=390, height=2600)
