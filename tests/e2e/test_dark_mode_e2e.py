"""Dark mode: a browser that prefers dark gets the dark theme on every page, and the charts follow it."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import exception_texts, open_page, screenshot

pytestmark = pytest.mark.e2e

MAIN = '[data-testid="stMain"]'
PAGES = {
    "home": ("", ""),
    "attention": ("attention", ""),
    "generation": ("generation", ""),
    "clip": ("clip", ""),
    "fill-mask": ("fill-mask", ""),
    "double-descent": ("double-descent", "view=steps"),
    "fine-tuning": ("fine-tuning", ""),
}


def luminance(rgb: str) -> float:
    """0 (black) to 1 (white), from a CSS rgb()/rgba() string."""
    numbers = [float(part) for part in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    return sum(numbers) / (3 * 255)


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_follows_a_dark_preference(page, app_server, name):
    path, query = PAGES[name]
    page.emulate_media(color_scheme="dark")
    open_page(page, app_server, path, query)
    assert exception_texts(page) == []
    background = page.evaluate("getComputedStyle(document.querySelector('.stApp')).backgroundColor")
    assert luminance(background) < 0.25, background
    if name not in ("home", "fine-tuning"):  # the lab draws its charts once a run has trained
        chart = page.locator(f"{MAIN} .js-plotly-plot").first
        chart.wait_for(timeout=120_000)
        page.wait_for_timeout(1500)  # the theme reaches the server after the first run; the chart is redrawn
        surface = chart.locator(".bg").first.evaluate("node => getComputedStyle(node).fill")
        assert luminance(surface) < 0.25, surface
    page.set_viewport_size({"width": 1400, "height": 2600})
    page.wait_for_timeout(800)
    screenshot(page, f"dark-{name}")
