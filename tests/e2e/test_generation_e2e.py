"""The generation page in a real Chromium: a generation streams and completes, Stop keeps the tokens so far,
hostile text stays text, a seeded link reproduces its sample, shots side by side and the k experiment plot."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.e2e.conftest import exception_texts, open_page, screenshot, tall_screenshot, wait_for_app

pytestmark = pytest.mark.e2e

PATH = "generation"
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=1</script><b>bold?</b>'


@pytest.fixture(scope="module", autouse=True)
def app_shell_ready(browser, app_server):
    """Open the home page once first, so /generation goes through app.py's st.navigation (a fresh server's
    first request to a page path otherwise runs the page file alone)."""
    context = browser.new_context()
    page = context.new_page()
    open_page(page, app_server)
    page.locator('[data-testid="stSidebar"]').get_by_text("Lecture mode", exact=True).wait_for(timeout=60_000)
    context.close()


def main(page):
    return page.locator('[data-testid="stMain"]')


def click_generate(page) -> None:
    main(page).get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_timeout(300)
    wait_for_app(page, timeout_s=120)


def plain_output(page) -> str:
    """The "Prompt + generated text" block, opened."""
    main(page).get_by_text("Prompt + generated text, as plain text").click()
    block = main(page).locator('[data-testid="stCode"]').last
    block.wait_for()
    return block.inner_text()


def test_a_generation_completes_and_shows_its_tokens(page, app_server):
    open_page(page, app_server, PATH, "stop_nl=0")
    assert exception_texts(page) == []
    assert page.get_by_role("heading", name="Generation: zero-, one- and few-shot prompts").count() == 1
    text = main(page).inner_text()
    assert "sea otter => loutre de mer" in text and "cheese =>" in text
    main(page).locator(".js-plotly-plot").first.wait_for()  # the next-token distribution, before generating
    click_generate(page)
    assert exception_texts(page) == []
    text = main(page).inner_text()
    assert "10 tokens · stopped at the max new tokens" in text
    assert main(page).locator(".ll-token >> visible=true").count() >= 10
    assert main(page).locator(".js-plotly-plot").count() >= 3  # next token, alternatives at a step, per-token
    tall_screenshot(page, "generation-after-generate")


def start_generating(page):
    """Press Generate and wait for the first streamed token; returns the page's Stop button."""
    main(page).get_by_role("button", name="Generate", exact=True).click()
    stop = main(page).get_by_role("button", name="Stop", exact=True)
    stop.wait_for(timeout=60_000)
    main(page).locator(".ll-token >> visible=true").first.wait_for()  # a streamed token (the prompt's are folded)
    return stop


def test_stop_keeps_the_tokens_so_far(page, app_server):
    open_page(page, app_server, PATH, "preset=unicorn&max_new=200&stop_nl=0")
    stop = start_generating(page)
    # What a student sees while tokens stream: one Stop (Streamlit's own is hidden meanwhile), one set of tabs.
    assert page.get_by_role("button", name="Stop", exact=True).locator("visible=true").count() == 1
    assert main(page).get_by_test_id("stTabs").locator("visible=true").count() == 1
    stop.click()
    page.wait_for_timeout(300)
    wait_for_app(page)
    assert exception_texts(page) == []
    text = main(page).inner_text()
    assert "stopped at Stop" in text
    shown = int(text.split(" tokens · stopped at Stop")[0].rsplit("\n", 1)[-1])
    assert 1 <= shown < 200
    screenshot(page, "generation-stopped")


def test_hostile_text_is_shown_literally_and_runs_nothing(page, app_server):
    open_page(page, app_server, PATH, f"task={quote(XSS)}&query={quote(XSS)}&answer={quote(XSS)}")
    assert exception_texts(page) == []
    assert XSS in main(page).locator('[data-testid="stCode"]').first.inner_text()
    click_generate(page)
    assert exception_texts(page) == []
    assert page.evaluate("window.__xss") is None
    assert main(page).locator('img[src="x"]').count() == 0
    assert main(page).locator("b", has_text="bold?").count() == 0
    assert XSS in plain_output(page)
    assert page.evaluate("window.__xss") is None
    tall_screenshot(page, "generation-hostile")


def test_a_seeded_link_reproduces_its_sample(page, app_server):
    query = "preset=unicorn&decode=sample&seed=42&temp=1.2&max_new=12"
    outputs = []
    for _ in range(2):
        open_page(page, app_server, PATH, query)
        click_generate(page)
        assert exception_texts(page) == []
        outputs.append(plain_output(page))
    assert outputs[0] == outputs[1]
    assert "seed=42" in page.url
    screenshot(page, "generation-seeded-sample")


def test_shots_side_by_side_and_the_k_experiment(page, app_server):
    open_page(page, app_server, PATH)
    main(page).get_by_role("tab", name="k = 0 / 1 / few").click()
    main(page).get_by_role("button", name="Compare side by side").click()
    page.wait_for_timeout(300)
    wait_for_app(page, timeout_s=120)
    assert exception_texts(page) == []
    text = main(page).inner_text()
    for k in (0, 1, 3):
        assert f"k = {k} (" in text
    assert text.count("P(expected 'fromage')") == 3
    tall_screenshot(page, "generation-shots")
    main(page).get_by_role("tab", name="k = 0…8 experiment").click()
    main(page).get_by_role("button", name="Run k = 0…8").click()
    page.wait_for_timeout(300)
    wait_for_app(page, timeout_s=180)
    assert exception_texts(page) == []
    plot = main(page).locator(".js-plotly-plot", has_text="In-context learning")
    plot.wait_for()
    assert "k, examples in the prompt" in plot.inner_text()
    tall_screenshot(page, "generation-experiment")


def test_lecture_mode_and_a_narrow_screen(page, app_server):
    open_page(page, app_server, PATH, "lecture=1")
    assert exception_texts(page) == []
    tall_screenshot(page, "generation-lecture-mode")
    page.set_viewport_size({"width": 400, "height": 2400})
    open_page(page, app_server, PATH)
    assert exception_texts(page) == []
    screenshot(page, "generation-phone")
