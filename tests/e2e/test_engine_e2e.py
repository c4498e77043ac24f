"""The engine in a real Chromium against `streamlit run`, with a full-size GPT-2 (random weights), slow enough
on a CPU to be caught mid-generation: Stop, and a tab closed mid-generation, each stop the request and give
its place back, and the sidebar shows the class's load to everyone."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import StreamlitServer, exception_texts, open_page, running_server, screenshot
from tests.model_factory import build_model_dir

pytestmark = pytest.mark.e2e

LONG_GENERATION = "preset=unicorn&max_new=200&stop_nl=0"
DEADLINE_MS = 120_000


@pytest.fixture(scope="module")
def full_gpt2_server(tmp_path_factory):
    root = build_model_dir(tmp_path_factory.mktemp("full-gpt2"), size="full", keys=("gpt2",))
    with running_server(root, tmp_path_factory.mktemp("logs-engine")) as server:
        yield server


def gpt2_line(page, server: StreamlitServer) -> str:
    """GPT-2's line in the sidebar's model list, as another student's freshly opened page shows it."""
    open_page(page, server)
    sidebar = page.locator('[data-testid="stSidebar"]').text_content() or ""
    return next((line for line in re.split(r"(?=[⚪⏳🟢🔴])", sidebar) if "GPT-2 (124M)" in line), "")


def stopped_count(line: str) -> int:
    found = re.search(r"(\d+) stopped", line)
    return int(found.group(1)) if found else 0


def wait_for_line(page, server: StreamlitServer, accept) -> str:
    """Reload a watching page until GPT-2's line passes `accept` (a deadline, not a speed check)."""
    deadline_checks = DEADLINE_MS // 1000
    line = ""
    for _ in range(deadline_checks):
        line = gpt2_line(page, server)
        if accept(line):
            return line
        page.wait_for_timeout(1000)
    raise AssertionError(f"the sidebar never showed what was expected; last: {line!r}")


def start_long_generation(page, server: StreamlitServer) -> None:
    open_page(page, server, "generation", LONG_GENERATION)
    assert exception_texts(page) == []
    page.locator('[data-testid="stMain"]').get_by_role("button", name="Generate", exact=True).click()
    # The live counter under the streaming tokens: the generation is under way.
    page.locator('[data-testid="stMain"]').get_by_text(re.compile(r"\d+ / 200 tokens")).wait_for(timeout=DEADLINE_MS)


def test_closing_the_tab_mid_generation_frees_its_place(browser, full_gpt2_server):
    watcher = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    before = stopped_count(gpt2_line(watcher, full_gpt2_server))
    student = browser.new_context(viewport={"width": 1400, "height": 1000})
    start_long_generation(student.new_page(), full_gpt2_server)
    busy = gpt2_line(watcher, full_gpt2_server)
    assert "1 running" in busy, busy
    student.close()  # the tab goes mid-generation: 200 tokens take far longer than this test waits
    line = wait_for_line(watcher, full_gpt2_server, lambda text: stopped_count(text) > before)
    assert "running" not in line, line
    watcher.context.close()


def test_stop_keeps_the_tokens_so_far_and_frees_the_place(browser, full_gpt2_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    watcher = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    before = stopped_count(gpt2_line(watcher, full_gpt2_server))
    start_long_generation(page, full_gpt2_server)
    page.get_by_test_id("stTabs").get_by_role("button", name="Stop").click()
    page.locator('[data-testid="stMain"]').get_by_text("stopped at Stop").wait_for(timeout=DEADLINE_MS)
    assert exception_texts(page) == []
    line = wait_for_line(watcher, full_gpt2_server, lambda text: stopped_count(text) > before)
    assert "running" not in line, line
    screenshot(page, "engine_stop_mid_generation")
    context.close()
    watcher.context.close()
