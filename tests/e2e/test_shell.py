"""The app shell in a real browser: every page renders, the sidebar works, links restore state."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import exception_texts, open_page, screenshot
from ui.catalogue import DEMOS

pytestmark = pytest.mark.e2e


def test_home_page_renders_with_models_table(page, app_server):
    open_page(page, app_server)
    assert page.get_by_role("heading", name="Lecture Lab").count() >= 1
    assert exception_texts(page) == []
    main = page.locator('[data-testid="stMain"]')
    for demo in DEMOS:
        assert demo.title in main.inner_text()
    # The models table lists every default model with its licence.
    table_text = page.locator('[data-testid="stDataFrame"]').first
    table_text.wait_for()
    screenshot(page, "home")


@pytest.mark.parametrize("demo", DEMOS, ids=[demo.url_path for demo in DEMOS])
def test_every_page_renders_without_exception(page, app_server, demo):
    open_page(page, app_server, demo.url_path)
    assert exception_texts(page) == []
    assert page.locator('[data-testid="stMain"] h1').count() >= 1
    screenshot(page, f"page-{demo.url_path}")


def test_sidebar_shows_device_and_lecture_mode(page, app_server):
    open_page(page, app_server)
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert "Device:" in sidebar.inner_text()
    assert "CPU" in sidebar.inner_text()
    toggle = sidebar.get_by_text("Lecture mode", exact=True)
    toggle.click()
    # Lecture mode enlarges the type of the whole app (the rerun takes a moment on a busy machine).
    font_size = "parseFloat(getComputedStyle(document.querySelector('.stApp')).fontSize)"
    page.wait_for_function(f"{font_size} >= 20", timeout=30_000)
    assert page.evaluate(font_size) >= 20
    screenshot(page, "home-lecture-mode")


def test_a_fresh_servers_first_visitor_gets_the_full_app_on_a_deep_link(page, tiny_model_dir, tmp_path):
    """A lecturer's shared link is often the first request after the app wakes up."""
    from tests.e2e.conftest import StreamlitServer

    server = StreamlitServer(tiny_model_dir, tmp_path / "fresh.log")
    try:
        server.wait_healthy()
        open_page(page, server, "attention")
        assert page.locator('[role="dialog"]').count() == 0, page.locator('[role="dialog"]').all_inner_texts()
        sidebar = page.locator('[data-testid="stSidebar"]')
        assert "Lecture mode" in sidebar.inner_text() and "Device:" in sidebar.inner_text()
        assert exception_texts(page) == []
    finally:
        server.stop()
