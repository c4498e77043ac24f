"""The Generation page on a vLLM server, in a real Chromium against `streamlit run`: the tokens are the in-process
engine's, Stop cancels the server's request, and a server killed mid-generation leaves a message, the tokens so far
and a page that generates in this app until Retry reconnects."""

from __future__ import annotations

import time

import pytest

from models import generation as gen
from tests.e2e.conftest import exception_texts, open_page, running_server, screenshot, wait_for_app
from tests.e2e.test_generation_e2e import PATH, click_generate, main, start_generating, tall_screenshot
from tests.generation_server import CuttableLine

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def line(vllm_server):
    line = CuttableLine(vllm_server.port)
    yield line
    line.cut()


@pytest.fixture(scope="module")
def server_app(server_model_dir, line, tmp_path_factory, browser):
    """The app pointed at the vLLM server (through a line the tests can cut), on the server's own weights."""
    env = {"LECTURE_LAB_GENERATION_URL": line.url + "/v1"}
    with running_server(server_model_dir, tmp_path_factory.mktemp("logs-server-app"), env) as app:
        context = browser.new_context()
        page = context.new_page()
        open_page(page, app)  # through app.py's navigation first, as a student arriving at the home page
        context.close()
        yield app


@pytest.fixture(autouse=True)
def line_restored(line):
    line.restore()
    yield
    line.restore()


def sidebar_text(page) -> str:
    return page.locator('[data-testid="stSidebar"]').inner_text()


def streamed_pieces(page) -> list[str]:
    return main(page).locator('[data-testid="stTabs"] .ll-token').all_inner_texts()


def test_tokens_come_from_the_server_and_equal_the_in_process_engine(page, server_app, line, server_gpt2):
    open_page(page, server_app, PATH, "max_new=15&stop_nl=0")
    assert exception_texts(page) == []
    click_generate(page)
    assert exception_texts(page) == []
    text = main(page).inner_text()
    assert f"Tokens are computed by the generation server at 127.0.0.1:{line.port}." in text
    assert "15 tokens · stopped at the max new tokens" in text
    assert f"Generation runs on the generation server at 127.0.0.1:{line.port}" in sidebar_text(page)
    prompt = gen.prepare_prompt(
        server_gpt2.tokenizer, gen.build_prompt(*course_prompt_parts()), max_new_tokens=15, context_length=1024
    )
    reference = gen.generate(server_gpt2, prompt, gen.DecodingSettings(max_new_tokens=15))
    shown = streamed_pieces(page)
    assert len(shown) == 15
    expected = main(page).locator('[data-testid="stTabs"] .ll-token').first.get_attribute("title")
    assert expected.startswith(f"step 1: p = {reference.steps[0].probability:.1%}")
    tall_screenshot(page, "generation-on-vllm")


def course_prompt_parts():
    preset = gen.load_presets()[0]
    return preset.task, preset.examples, preset.query, preset.few_k, preset.separator


def test_stop_cancels_the_request_on_the_server(page, server_app, vllm_server):
    open_page(page, server_app, PATH, "preset=unicorn&max_new=200&stop_nl=0")
    before = vllm_server.metric("vllm:generation_tokens_total")
    start_generating(page).click()
    page.wait_for_timeout(300)
    wait_for_app(page)
    assert exception_texts(page) == []
    text = main(page).inner_text()
    assert "stopped at Stop" in text
    deadline = time.monotonic() + 30
    while vllm_server.metric("vllm:num_requests_running") > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert vllm_server.metric("vllm:generation_tokens_total") - before < 200


def test_a_server_killed_mid_generation_leaves_a_message_and_the_page_generates_here(page, server_app, line):
    open_page(page, server_app, PATH, "preset=unicorn&max_new=200&stop_nl=0")
    start_generating(page)
    line.cut()
    page.wait_for_timeout(300)
    wait_for_app(page, timeout_s=60)
    assert exception_texts(page) == []
    text = main(page).inner_text()
    assert "The generation stopped:" in text
    assert "press Generate again to generate in this app" in text
    assert "broke off" in text
    assert "stopped at the lost connection" in text
    assert "Generating in this app instead:" in text  # the page is drawn again with this app's engine
    assert "Tokens are computed by this app's server (CPU)." in text
    main(page).get_by_text("The generation stopped:").scroll_into_view_if_needed()
    screenshot(page, "generation-vllm-killed")

    click_generate(page)
    assert exception_texts(page) == []
    text = main(page).inner_text()
    assert "Generating in this app instead:" in text
    assert "Tokens are computed by this app's server (CPU)." in text
    assert "200 tokens · stopped at the max new tokens" in text
    assert "Generation runs in this app for now" in sidebar_text(page)
    main(page).get_by_text("Generating in this app instead:").scroll_into_view_if_needed()
    screenshot(page, "generation-vllm-fallback")

    line.restore()
    main(page).get_by_role("button", name="Retry the generation server").click()
    page.wait_for_timeout(300)
    wait_for_app(page)
    text = main(page).inner_text()
    assert "Generating in this app instead:" not in text
    assert f"Tokens are computed by the generation server at 127.0.0.1:{line.port}." in text
