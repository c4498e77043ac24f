"""Share this view: the sidebar's link and QR code reopen the same view in a fresh browser, lecture mode included."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import exception_texts, open_page, screenshot, wait_for_app

pytestmark = pytest.mark.e2e

SIDEBAR = '[data-testid="stSidebar"]'


def shared_links(page) -> list[str]:
    page.locator(SIDEBAR).get_by_text("Share this view").click()
    codes = page.locator(f"{SIDEBAR} [data-testid='stCode'] code")
    codes.first.wait_for()
    return codes.all_inner_texts()


def test_the_share_panel_gives_a_link_and_a_qr_code_that_reopen_the_view(page, app_server, browser):
    open_page(page, app_server, "double-descent", "view=steps&st_n=12")
    page.locator('[data-testid="stMain"] .js-plotly-plot').first.wait_for()
    link, lecture_link = shared_links(page)
    assert link.startswith(app_server.url) and "view=steps" in link and "st_n=12" in link and "lecture" not in link
    assert "lecture=1" in lecture_link
    qr = page.locator(f"{SIDEBAR} [data-testid='stImage'] img")
    qr.wait_for()
    assert qr.evaluate("img => img.naturalWidth") >= 100
    screenshot(page, "share-panel")
    # A classmate opens the link in a browser of their own: the same view, the same inputs.
    other = browser.new_page()
    try:
        other.goto(link)
        wait_for_app(other)
        assert exception_texts(other) == []
        other.locator('[data-testid="stMain"] .js-plotly-plot .gtitle', has_text="n = 12 points").wait_for()
    finally:
        other.close()


def test_lecture_mode_goes_into_the_link(page, app_server):
    open_page(page, app_server, "attention")
    page.locator(SIDEBAR).get_by_text("Lecture mode", exact=True).click()
    page.wait_for_function("() => window.location.search.includes('lecture=1')", timeout=20_000)
    assert exception_texts(page) == []


def test_a_run_it_link_opens_with_the_generation_done(page, app_server, browser):
    open_page(page, app_server, "generation", "max_new=8&stop_nl=0")
    page.locator('[data-testid="stMain"] .js-plotly-plot').first.wait_for()
    links = shared_links(page)
    run_link = next(link for link in links if "run=generate" in link)
    assert "max_new=8" in run_link and "lecture" not in run_link
    other = browser.new_page()
    try:
        other.goto(run_link)
        wait_for_app(other, timeout_s=120)
        assert exception_texts(other) == []
        other.locator('[data-testid="stMain"]').get_by_text("8 tokens · stopped at the max new tokens").wait_for()
        screenshot(other, "share-run-it-link")
    finally:
        other.close()


def test_a_link_reproduces_the_clip_matrix(page, app_server, browser):
    from tests.pages.test_clip_page import PHOTO_FILES

    photos = ",".join(PHOTO_FILES[1:3])
    open_page(
        page, app_server, "clip", f"clip_tab=Similarity+matrix&matrix_photos={photos}&captions=a+sleepy+cat%0Aa+rocket"
    )
    assert exception_texts(page) == []
    link = shared_links(page)[0]
    other = browser.new_page()
    try:
        other.goto(link)
        wait_for_app(other, timeout_s=120)
        assert exception_texts(other) == []
        area = other.locator('[data-testid="stMain"] textarea').last
        area.wait_for()
        assert area.input_value() == "a sleepy cat\na rocket"
        other.locator('[data-testid="stMain"] .js-plotly-plot').first.wait_for()
    finally:
        other.close()


# Each page opened with inputs away from its defaults; the link the app then gives must carry all of them.
LINKED_VIEWS = {
    "attention": "model=gpt2&layer=0&head=1&text=The%20cat%20sat%20on%20the%20mat.",
    "generation": "shots=one&max_new=5&decode=sample&temp=0.7&seed=3",
    "clip": "labels=cat%0Adog%0Arocket&template=art%20of%20the%20%7B%7D.",
    "fill-mask": "k=3&text=Paris%20is%20the%20%5BMASK%5D%20of%20France.",
    "double-descent": "view=dd&rf_n=40",
    "fine-tuning": "k=8&epochs=3&strategies=probe,lora",
}

# What the page shows as its inputs: every box's value, switch, choice and slider, in page order.
VIEW_STATE = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const state = [];
  for (const el of main.querySelectorAll('textarea, input, [data-baseweb="select"], [role="slider"], button[aria-checked], button[aria-pressed]')) {
    if (el.matches('input[type="checkbox"], input[type="radio"]')) state.push(`check ${el.checked}`);
    else if (el.matches('textarea, input') && el.type !== 'file' && el.type !== 'hidden') state.push(`value ${el.value}`);
    else if (el.matches('[role="slider"]')) state.push(`slider ${el.getAttribute('aria-valuenow')}`);
    else if (el.matches('button')) state.push(`on ${el.getAttribute('aria-checked') || el.getAttribute('aria-pressed')} ${el.innerText}`);
    else if (!el.matches('input')) state.push(`select ${el.innerText}`);
  }
  return state;
}"""


@pytest.mark.parametrize("path", list(LINKED_VIEWS))
def test_a_shared_link_reproduces_every_pages_view_in_a_fresh_browser(page, app_server, browser, path):
    open_page(page, app_server, path, LINKED_VIEWS[path])
    assert exception_texts(page) == []
    state = page.evaluate(VIEW_STATE)
    assert len(state) >= 3, state
    link = shared_links(page)[0]
    for pair in LINKED_VIEWS[path].split("&"):
        assert pair.split("=")[0] + "=" in link, (pair, link)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        fresh = context.new_page()
        fresh.goto(link)
        wait_for_app(fresh, 120)
        assert exception_texts(fresh) == []
        assert fresh.evaluate(VIEW_STATE) == state
    finally:
        context.close()
