"""A class on one small server, in a real Chromium: eight students at once on different pages, with a memory
budget small enough that models are let go while others still use them. One student switches GPT-2 ↔
DistilGPT-2 while two others generate. Every session must finish with its own result and no error, and the
server must log no traceback."""

from __future__ import annotations


import pytest

from tests.e2e.conftest import exception_texts, running_server, screenshot, wait_for_app

pytestmark = pytest.mark.e2e

MAIN = '[data-testid="stMain"]'
# The tiny models add little to the server's memory, but each load still reserves its registry size (and a
# causal LM its key/value budget): under 1,000 MB almost every load lets the others go, even mid-use.
BUDGET_MB = "1000"
DEADLINE_S = 300


@pytest.fixture(scope="module")
def small_server(tiny_model_dir, tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LECTURE_LAB_MEMORY_BUDGET_MB", BUDGET_MB)
        logs = tmp_path_factory.mktemp("logs-class")
        with running_server(tiny_model_dir, logs) as server:
            yield server, logs / "streamlit.log"


def student(browser, server, path: str, query: str = ""):
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{server.url}/{path}" + (f"?{query}" if query else ""))
    return page


def settle(page) -> None:
    page.wait_for_timeout(300)
    wait_for_app(page, timeout_s=DEADLINE_S)


def generate(page) -> None:
    settle(page)
    page.locator(MAIN).get_by_role("button", name="Generate", exact=True).click()


def choose_model(page, name: str) -> None:
    settle(page)
    page.locator(MAIN).get_by_label("Model").first.click()
    page.get_by_role("option", name=name).click()


def charts(page) -> int:
    return page.locator(f"{MAIN} .js-plotly-plot").count()


def test_eight_students_at_once_with_models_let_go_under_them(browser, small_server):
    server, log = small_server
    long_run = student(browser, server, "generation", "model=gpt2&max_new=40&stop_nl=0")
    switcher = student(browser, server, "generation", "model=gpt2")
    short_run = student(browser, server, "generation", "model=distilgpt2&max_new=6&stop_nl=0")
    readers = {
        "attention-bert": student(browser, server, "attention"),
        "attention-gpt2": student(browser, server, "attention", "model=gpt2"),
        "fill-mask": student(browser, server, "fill-mask"),
        "clip": student(browser, server, "clip"),
        "double-descent": student(browser, server, "double-descent"),
    }
    generate(long_run)
    choose_model(switcher, "DistilGPT-2 (82M)")  # while the first student's tokens stream
    generate(short_run)
    choose_model(switcher, "GPT-2 (124M)")
    for page in (long_run, switcher, short_run, *readers.values()):
        settle(page)

    everyone = {"long generation": long_run, "switcher": switcher, "short generation": short_run, **readers}
    for name, page in everyone.items():
        assert exception_texts(page) == [], name
        assert "is not available" not in page.locator(MAIN).inner_text(), name
    # Each generating student sees their own result, with their own settings.
    assert "40 tokens · stopped at the max new tokens" in long_run.locator(MAIN).inner_text()
    assert "6 tokens · stopped at the max new tokens" in short_run.locator(MAIN).inner_text()
    assert "tokens · stopped at" not in switcher.locator(MAIN).inner_text()  # never pressed Generate
    model_box = switcher.locator(f'{MAIN} [data-testid="stSelectbox"]').filter(has_text="Model").first
    chosen = model_box.locator("input").first.input_value() or model_box.inner_text()
    assert chosen == "GPT-2 (124M)", chosen
    for name, page in readers.items():
        assert charts(page) >= 1, name
    screenshot(long_run, "class-long-generation")
    # The budget let models go while they were in use; the server carried on without a traceback.
    readers["double-descent"].reload()
    settle(readers["double-descent"])
    sidebar = readers["double-descent"].locator('[data-testid="stSidebar"]').text_content() or ""
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
    assert "let go to stay within the memory budget" in sidebar, sidebar
