"""The teaching views added beside the demos, in a real Chromium: each draws from a link, with no error."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import exception_texts, open_page, screenshot, tall_screenshot

pytestmark = pytest.mark.e2e

MAIN = '[data-testid="stMain"]'


def chart_titles(page) -> list[str]:
    return page.locator(f"{MAIN} .js-plotly-plot .gtitle").evaluate_all("nodes => nodes.map(node => node.textContent)")


def test_sampling_settings_redraw_the_next_token(page, app_server):
    open_page(page, app_server, "generation", "decode=sample&temp=0.7&top_k=5")
    page.locator(f"{MAIN} .js-plotly-plot .gtitle", has_text="Sampling keeps").wait_for()
    assert exception_texts(page) == []
    assert any(title.startswith("Sampling keeps 5 tokens") for title in chart_titles(page))
    tall_screenshot(page, "teaching-sampling-filter")


def test_the_80_10_10_rule_over_many_draws(page, app_server):
    open_page(page, app_server, "fill-mask", "view=mlm&draws=1000")
    page.locator(f"{MAIN} .js-plotly-plot .gtitle", has_text="The rule over 1,000 draws").wait_for()
    assert exception_texts(page) == []
    assert "Over 1,000 draws" in page.locator(MAIN).inner_text()
    tall_screenshot(page, "teaching-mlm-tally")


def test_bias_sq_error_bars(page, app_server):
    open_page(page, app_server, "double-descent")
    page.locator(f"{MAIN} .js-plotly-plot").first.wait_for()
    assert exception_texts(page) == []
    assert page.locator(f"{MAIN} .js-plotly-plot .errorbar").count() > 0
    assert "pairs of different training sets" in page.locator(MAIN).inner_text()
    tall_screenshot(page, "teaching-bias-error-bars")


def test_query_key_view_of_one_head(page, app_server):
    open_page(page, app_server, "attention", "model=gpt2&layer=1&head=0&q=3")
    page.locator(f"{MAIN} .js-plotly-plot .gtitle", has_text="Where the row of").wait_for()
    assert exception_texts(page) == []
    assert "q · k / √d" in page.locator(f"{MAIN} .js-plotly-plot").last.text_content()
    tall_screenshot(page, "teaching-query-key")


def click_point(page, chart, index: int) -> None:
    """Click the centre of point `index` of a clickable chart, as a student would."""
    box = chart.locator(".scatterlayer .trace").first.locator(".point").nth(index).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.up()


def line_traces(page) -> int:
    """Drawn line paths of the head view (its token columns are markers, not lines)."""
    return page.locator(f"{MAIN} .js-plotly-plot .scatterlayer .trace .js-line").count()


def test_head_view_lines_and_a_clicked_token(page, app_server):
    open_page(page, app_server, "attention", "model=gpt2&view=lines&layer=1&heads=0,1")
    chart = page.locator(f"{MAIN} .js-plotly-plot", has=page.locator(".gtitle", has_text="each token (left)"))
    chart.wait_for()
    assert exception_texts(page) == []
    assert "Layer 1, heads 0, 1" in chart.locator(".gtitle").text_content()
    # Both heads are in the legend, one colour each.
    assert sorted(chart.locator(".legendtext").all_text_contents()) == ["head 0", "head 1"]
    tall_screenshot(page, "teaching-head-view")
    page.set_viewport_size({"width": 1400, "height": 1400})
    chart.scroll_into_view_if_needed()
    click_point(page, chart, 3)
    # The picker follows the click: only query 3's lines remain, and the link says so.
    page.wait_for_function("() => window.location.search.includes('focus=q3')", timeout=20_000)
    assert exception_texts(page) == []
    picker = page.locator('[data-testid="stSelectbox"]', has_text="Show the lines of")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=stSelectbox]')].some(box => box.innerText.includes('Show the"
        " lines of') && box.querySelector('input')?.value.includes('(query, left)'))",
        timeout=20_000,
    )
    assert picker.locator("input").input_value().startswith("3. ")
    tall_screenshot(page, "teaching-head-view-one-token")


def test_clicking_the_head_map_opens_that_head(page, app_server):
    open_page(page, app_server, "attention", "view=model&layer=0&head=0")
    head_map = page.locator(f"{MAIN} .js-plotly-plot", has=page.locator(".gtitle", has_text="Click a head"))
    head_map.wait_for()
    assert "Enlarged: layer 0, head 0" in page.locator(MAIN).inner_text()
    points = head_map.locator(".scatterlayer .point").count()
    page.set_viewport_size({"width": 1400, "height": 1400})
    head_map.scroll_into_view_if_needed()
    click_point(page, head_map, points - 1)  # the last head of the last layer
    last_layer, last_head = head_map.evaluate("div => div.data[0].customdata.at(-1)")  # the square clicked
    page.locator(MAIN, has_text=f"Enlarged: layer {last_layer}, head {last_head}").wait_for(timeout=20_000)
    assert exception_texts(page) == []
    page.wait_for_function(f"() => window.location.search.includes('head={last_head}')", timeout=20_000)
    tall_screenshot(page, "teaching-head-map-click")


def test_double_descent_plays_p_across_the_sweep(page, app_server):
    open_page(page, app_server, "double-descent", "view=steps")
    chart = page.locator(f"{MAIN} .js-plotly-plot", has=page.locator(".gtitle", has_text="features, n = 15 points"))
    chart.wait_for()
    assert exception_texts(page) == []
    title = chart.locator(".gtitle")
    assert title.text_content().startswith("p = 15 features")
    tall_screenshot(page, "teaching-double-descent-steps")
    page.set_viewport_size({"width": 1400, "height": 1400})
    chart.scroll_into_view_if_needed()
    chart.locator(".updatemenu-button", has_text="Play").click()
    # The browser animates the frames by itself: the title walks through p from 1 without a server round trip.
    page.wait_for_function(
        "() => [...document.querySelectorAll('.gtitle')].some(t => /^p = [0-9]+ features/.test(t.textContent)"
        " && !t.textContent.startsWith('p = 15 '))",
        timeout=20_000,
    )
    chart.locator(".updatemenu-button", has_text="Pause").click()
    assert exception_texts(page) == []


TEACHING_VIEWS = {
    "sampling": ("generation", "decode=sample&temp=0.7&top_k=5", "Sampling keeps"),
    "head-view": ("attention", "model=gpt2&view=lines&heads=0,1", "each token (left)"),
    "head-map": ("attention", "view=model&head=1", "Click a head"),
    "query-key": ("attention", "model=gpt2&layer=1&head=0&q=3", "Where the row of"),
    "mlm-tally": ("fill-mask", "view=mlm&draws=1000", "The rule over 1,000 draws"),
    "steps": ("double-descent", "view=steps", "features, n = 15 points"),
}


@pytest.mark.parametrize("name", list(TEACHING_VIEWS))
def test_teaching_view_in_lecture_mode_and_on_a_phone(page, app_server, name):
    """The view reads on a projector (large type) and fits a phone's width: its chart is drawn inside it."""
    path, query, title = TEACHING_VIEWS[name]
    open_page(page, app_server, path, f"{query}&lecture=1")
    chart = page.locator(f"{MAIN} .js-plotly-plot", has=page.locator(".gtitle", has_text=title))
    chart.wait_for()
    assert exception_texts(page) == []
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('.stApp')).fontSize)") >= 20
    tall_screenshot(page, f"teaching-{name}-lecture")
    page.set_viewport_size({"width": 390, "height": 844})
    open_page(page, app_server, path, query)
    chart.wait_for()
    assert exception_texts(page) == []
    box = chart.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 + 1  # nothing drawn off the side of the screen
    page.set_viewport_size({"width": 390, "height": 2600})
    page.wait_for_timeout(800)
    screenshot(page, f"teaching-{name}-phone")
