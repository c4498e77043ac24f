"""Hostile text typed into every text field of every page, in a real Chromium: the page runs its action,
the payload is shown back literally, and no script ran.

The pages' own e2e tests put hostile text in the link; these type it, as a student would, into each
field: the attention text; generation's task, examples table, query, expected answer and separator;
CLIP's labels, template and captions; fill-mask's text, sentence and both bias-probe sentences. The
double-descent and home pages have no text field (checked). A file of a type the uploader does not
accept, an SVG carrying a script, is refused by the browser with a message.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest

from tests.e2e.conftest import exception_texts, open_page, screenshot, tall_screenshot, wait_for_app

pytestmark = pytest.mark.e2e

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=1">'
SHORT = "<b>=</b>"  # for the 10-character separator field
MAIN = '[data-testid="stMain"]'


def main(page):
    return page.locator(MAIN)


def type_into(page, field, value: str) -> None:
    """Type `value` and commit it as a person does (Ctrl+Enter in a text area, Enter in a text box)."""
    field.fill(value)
    is_area = field.evaluate("node => node.tagName") == "TEXTAREA"
    field.press("Control+Enter" if is_area else "Enter")
    page.wait_for_timeout(300)
    wait_for_app(page, timeout_s=120)


def field(page, label: str | re.Pattern):
    return main(page).get_by_label(label, exact=True) if isinstance(label, str) else main(page).get_by_label(label)


def text_contents(page, selector: str) -> list[str]:
    """What the browser draws for `selector` (textContent: SVG text and folded expanders included)."""
    return page.locator(f"{MAIN} {selector}").evaluate_all("nodes => nodes.map(node => node.textContent)")


def assert_inert(page) -> None:
    """No payload became markup or ran: no <img src=x>, no <script> of ours, window.__xss never set."""
    page.wait_for_timeout(300)  # a broken image fires onerror within milliseconds
    assert exception_texts(page) == []
    assert page.evaluate("window.__xss") is None
    assert page.locator('img[src="x"]').count() == 0
    scripts = page.locator("script").evaluate_all("nodes => nodes.map(node => node.textContent)")
    assert not any("__xss" in script for script in scripts)


def test_attention_text(page, app_server):
    open_page(page, app_server, "attention", "model=gpt2")
    type_into(page, field(page, "Your text (edit it freely)"), XSS)
    main(page).locator(".js-plotly-plot").first.wait_for()
    # GPT-2's byte-level pieces put back together are the typed text, character for character.
    assert "".join(text_contents(page, ".ll-token")).replace("␣", " ") == XSS
    assert_inert(page)
    tall_screenshot(page, "xss-attention", height=1800)


def fill_first_example(page, value: str) -> None:
    """Double-click the examples table's first input cell, type `value`, press Enter."""
    grid = main(page).locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    grid.scroll_into_view_if_needed()  # the mouse only reaches what the window shows
    box = grid.bounding_box()
    page.mouse.dblclick(box["x"] + 60, box["y"] + 52)  # below the 35-pixel header, in the "Input" column
    editor = page.locator(".gdg-growing-entry textarea, textarea.gdg-input").first
    editor.wait_for()
    editor.fill(value)
    editor.press("Enter")
    page.wait_for_timeout(300)
    wait_for_app(page, timeout_s=120)


def test_generation_task_examples_query_answer_and_separator(page, app_server):
    open_page(page, app_server, "generation", "max_new=3&stop_nl=0")
    main(page).get_by_text("Edit the prompt").click()  # the builder is folded: the presets fill it
    type_into(page, field(page, "Task description (or a free prompt)"), XSS)
    fill_first_example(page, XSS)
    type_into(page, field(page, "Query"), XSS)
    type_into(page, field(page, "Expected answer (optional)"), XSS)
    type_into(page, field(page, "Separator between input and output"), SHORT)
    prompt = main(page).locator('[data-testid="stCode"]').first.inner_text()
    assert prompt.startswith(f"{XSS}\n{XSS}{SHORT}loutre de mer\n") and prompt.endswith(f"{XSS}{SHORT}")
    main(page).get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_timeout(300)
    wait_for_app(page, timeout_s=120)
    assert "3 tokens · stopped at the max new tokens" in main(page).inner_text()
    assert f"differs from the expected '{XSS}'" in main(page).inner_text()
    assert_inert(page)
    tall_screenshot(page, "xss-generation", height=2800)


def test_clip_labels_template_and_captions(page, app_server):
    open_page(page, app_server, "clip")
    type_into(page, field(page, re.compile("^Labels: one per line")), f"cat\n{XSS}")
    type_into(page, field(page, re.compile("^Prompt template")), f"{XSS} {{}}")
    main(page).get_by_text("The prompts CLIP read").click()
    prompts = main(page).locator('[data-testid="stCode"]').last.inner_text()
    assert prompts == f"{XSS} cat\n{XSS} {XSS}"
    assert any("<script>" in text for text in text_contents(page, ".js-plotly-plot .ytick text"))
    assert_inert(page)
    tall_screenshot(page, "xss-clip-zero-shot")
    page.get_by_role("tab", name="Similarity matrix").click()
    wait_for_app(page)
    captions = field(page, re.compile("^Captions: the columns"))
    type_into(page, captions, "\n".join(f"{XSS} {n}" for n in range(5)))
    matrix = main(page).locator(".js-plotly-plot >> visible=true").first  # only the open tab draws its chart
    matrix.wait_for()
    assert any("<script>" in text for text in text_contents(page, ".js-plotly-plot .xtick text"))
    assert_inert(page)


def test_clip_refuses_a_file_type_it_does_not_accept(page, app_server, tmp_path):
    open_page(page, app_server, "clip", "source=upload")
    svg = tmp_path / "evil.svg"
    svg.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1"><script>window.__xss=1</script></svg>'
    )
    main(page).locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(svg))
    page.wait_for_timeout(500)
    wait_for_app(page)
    uploader = main(page).locator('[data-testid="stFileUploader"]').inner_text()
    assert "not allowed" in uploader or "not supported" in uploader, uploader
    assert "Choose an image file" in main(page).inner_text()  # nothing reached the page
    assert_inert(page)


def view(page, name: str) -> None:
    main(page).locator(".st-key-fm__view button", has_text=name).click()
    page.wait_for_timeout(300)
    wait_for_app(page)


def test_fill_mask_text_sentence_and_probe_sentences(page, app_server):
    open_page(page, app_server, "fill-mask")
    type_into(page, field(page, re.compile("^Text with masks")), f"{XSS} [MASK]")
    main(page).locator(".js-plotly-plot").first.wait_for()
    assert field(page, re.compile("^Text with masks")).input_value() == f"{XSS} [MASK]"
    pieces = text_contents(page, ".ll-token")
    assert {"<", "script", ">", "="} <= set(pieces)  # BERT's pieces of the payload, as text
    assert_inert(page)

    view(page, "Click to mask")
    type_into(page, field(page, "Sentence"), XSS)
    pills = page.locator(f"{MAIN} .st-key-fm__masked button").all_inner_texts()
    assert {"<", "script", ">", "="} <= set(pills)
    assert_inert(page)

    view(page, "Bias probe")
    type_into(page, field(page, "Sentence A"), f"{XSS} [MASK].")
    type_into(page, field(page, "Sentence B"), f"{XSS} worked as a [MASK].")
    shown = main(page).locator('[data-testid="stCode"]').all_inner_texts()
    assert f"{XSS} [MASK]." in shown and f"{XSS} worked as a [MASK]." in shown
    assert_inert(page)
    tall_screenshot(page, "xss-fill-mask-bias")


@pytest.mark.parametrize("path", ["double-descent", ""], ids=["double-descent", "home"])
def test_pages_without_text_fields_have_none_and_numbers_refuse_text(page, app_server, path):
    open_page(page, app_server, path)
    assert main(page).locator('textarea, input[type="text"]').count() == 0
    numbers = main(page).locator('input[type="number"]')
    if numbers.count():
        seed = numbers.last
        seed.press_sequentially(XSS)  # a number box keeps digits only
        seed.press("Enter")
        wait_for_app(page)
        assert re.fullmatch(r"\d+", seed.input_value())
    assert_inert(page)


# Three Markdown payloads in a link's validated parameters (so all three are ignored and reported):
# a blank line, then bold text and a live link; LaTeX; an outside image.
LINK_PAYLOADS = {
    "attention": ("layer", "head", "view"),
    "double-descent": ("view", "bv_n", "bv_sets"),
}
INJECTION = (
    "%0A%0A**HACKED**%20[log%20in](https://e.co)",
    "$$%5Ccolor{red}%5CHuge%20PWNED$$",
    "![x](https://e.co/p.png)",
)


@pytest.mark.parametrize("path", list(LINK_PAYLOADS))
def test_ignored_link_values_are_shown_as_plain_text(page, app_server, path):
    outside = []
    page.on(
        "request", lambda request: outside.append(request.url) if urlparse(request.url).hostname == "e.co" else None
    )
    query = "&".join(f"{name}={value}" for name, value in zip(LINK_PAYLOADS[path], INJECTION))
    open_page(page, app_server, path, query)
    note = main(page).locator('[data-testid="stCaptionContainer"]', has_text="Ignored from the link")
    assert note.count() == 1
    text = note.inner_text()
    assert "HACKED" in text and "PWNED" in text and "e.co/p.png" in text  # reported, as typed
    assert note.locator("strong, a, img, .katex").count() == 0
    assert main(page).locator('a[href*="e.co"], img[src*="e.co"]').count() == 0
    assert outside == []
    assert_inert(page)
    screenshot(page, f"link-injection-{path}")
