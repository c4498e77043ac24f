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
