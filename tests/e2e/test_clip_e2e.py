"""The CLIP page in a real Chromium: gallery prediction, an upload, hostile labels, the matrix and the probe."""

from __future__ import annotations

import urllib.parse

import pytest
from PIL import Image

from tests.e2e.conftest import exception_texts, open_page, screenshot, tall_screenshot, wait_for_app

pytestmark = pytest.mark.e2e

PATH = "clip"
CHART = '[data-testid="stPlotlyChart"]'
XSS_LABELS = [
    "<img src=x onerror=window.__xss=1>",
    "<script>window.__xss=1</script>",
    "<img src=x onerror=window.__xss=1>",  # a duplicate: shown back literally in the notice
    "猫 😺",
    "cat",
]


def main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text()


def open_clip(page, server, query: str = "") -> None:
    """Open the page. On a server's very first deep link Streamlit may show "Page not found" over
    the right page (st.navigation registers pages on the first run; streamlit issue #9624): close it."""
    open_page(page, server, PATH, query)
    dialog = page.get_by_role("dialog").filter(has_text="Page not found")
    if dialog.count():
        page.keyboard.press("Escape")
        dialog.wait_for(state="hidden")


def choose_upload(page) -> None:
    page.get_by_text("⬆️ Upload").click()
    wait_for_app(page)


def test_gallery_photo_is_classified_with_bars_and_cosines(page, app_server):
    open_clip(page, app_server)
    assert exception_texts(page) == []
    assert page.get_by_role("heading", name="CLIP zero-shot").count() == 1
    chart = page.locator(CHART).first
    chart.wait_for()
    chart_text = chart.inner_text()
    assert "Most likely:" in chart_text and "cosine similarity" in chart_text
    assert "Licence: CC0" in main_text(page)
    assert page.get_by_role("button", name="Download data (CSV)").count() >= 1
    tall_screenshot(page, "clip-zero-shot")


def test_upload_of_a_photo_and_of_a_non_image(page, app_server, tmp_path):
    open_clip(page, app_server)
    choose_upload(page)
    good = tmp_path / "orange square.png"
    Image.new("RGB", (320, 240), (240, 140, 20)).save(good)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(good))
    wait_for_app(page)
    page.get_by_text("File: orange square.png").wait_for()
    assert exception_texts(page) == []
    assert "Most likely:" in page.locator(CHART).first.inner_text()
    tall_screenshot(page, "clip-upload")
    # Reruns after the server let the file's bytes go (it keeps the decoded picture): the photo stays.
    labels = page.locator('[data-testid="stMain"] textarea').first
    labels.fill("orange\nblue\nsquare")
    labels.press("Control+Enter")
    page.wait_for_timeout(300)
    wait_for_app(page)
    assert exception_texts(page) == []
    page.get_by_text("File: orange square.png").wait_for()
    assert "Most likely:" in page.locator(CHART).first.inner_text() and "3 labels" in main_text(page)

    bad = tmp_path / "not-a-photo.jpg"
    bad.write_bytes(b"%PDF-1.7 definitely not a picture" * 50)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(bad))
    wait_for_app(page)
    page.get_by_text("not an image we can read").wait_for()
    assert exception_texts(page) == []
    tall_screenshot(page, "clip-upload-rejected")


def test_exif_rotated_upload_is_shown_upright(page, app_server, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = tmp_path / "phone.jpg"
    Image.new("RGB", (300, 100), (30, 120, 200)).save(rotated, "JPEG", exif=exif.tobytes())
    open_clip(page, app_server)
    choose_upload(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(rotated))
    wait_for_app(page)
    page.get_by_text("EXIF orientation").wait_for()
    shown = page.locator('[data-testid="stMain"] [data-testid="stImage"] img').first  # not the sidebar's QR code
    box = shown.bounding_box()
    assert box["height"] > box["width"]  # stored 300 × 100, shown upright as 100 × 300
    assert exception_texts(page) == []


def test_hostile_labels_are_shown_literally_and_never_run(page, app_server):
    query = urllib.parse.urlencode({"labels": "\n".join(XSS_LABELS)})
    open_clip(page, app_server, query)
    page.locator(CHART).first.wait_for()
    assert exception_texts(page) == []
    assert page.evaluate("window.__xss") is None
    assert page.locator('[data-testid="stMain"] img[src="x"]').count() == 0
    # The duplicate notice shows the label back as text, and the chart's axis too.
    assert "<img src=x onerror=window.__xss=1>" in main_text(page)
    assert "<script>window.__xss=1</script>" in page.locator(CHART).first.inner_text()  # a tick, as text
    assert "猫 😺" in page.locator(CHART).first.inner_text()
    tall_screenshot(page, "clip-hostile-labels")


def test_similarity_matrix_tab(page, app_server):
    open_clip(page, app_server)
    page.get_by_role("tab", name="Similarity matrix").click()
    wait_for_app(page)
    matrix = page.locator(f"{CHART} >> visible=true").first  # only the open tab draws its chart
    matrix.wait_for()
    assert "Most likely" not in main_text(page)
    assert "matching pairs outlined on the diagonal" in matrix.inner_text()
    assert "training loss on this batch" in main_text(page)
    assert exception_texts(page) == []
    tall_screenshot(page, "clip-similarity-matrix")


def test_a_link_opens_a_tab_directly(page, app_server):
    open_clip(page, app_server, urllib.parse.urlencode({"clip_tab": "Similarity matrix"}))
    page.get_by_text("The contrastive objective, made visible").wait_for()
    assert page.get_by_role("tab", name="Similarity matrix").get_attribute("aria-selected") == "true"
    assert exception_texts(page) == []


def test_linear_probe_runs_with_a_progress_bar_and_explains_itself(page, app_server):
    open_clip(page, app_server)
    page.get_by_role("tab", name="Linear probe").click()
    page.get_by_role("button", name="Extract features and train the probe").click()
    wait_for_app(page, timeout_s=240)
    probe = page.locator(f"{CHART} >> visible=true").first
    probe.wait_for()
    assert "Linear probe vs zero-shot" in probe.inner_text()
    assert "frozen CLIP features" in main_text(page)
    assert exception_texts(page) == []
    tall_screenshot(page, "clip-linear-probe")


def test_linear_probe_on_my_labelled_photos_survives_reruns(page, app_server, tmp_path):
    """The server decodes each photo once and lets its bytes go; the probe and later reruns use the pictures."""
    files = []
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for n in range(4):
            path = tmp_path / f"{name}_{n}.png"
            Image.new("RGB", (64, 48), (colour[0], 30 + 20 * n, colour[2])).save(path)
            files.append(str(path))
    open_clip(page, app_server, urllib.parse.urlencode({"clip_tab": "Linear probe"}))
    page.get_by_text("My labelled photos").click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(files)
    wait_for_app(page)
    page.get_by_role("button", name="Extract features and train the probe").click()
    wait_for_app(page, timeout_s=240)
    page.locator(f"{CHART} >> visible=true").first.wait_for()
    page.get_by_role("tab", name="Zero-shot").click()  # a rerun of the whole page, and back
    wait_for_app(page)
    page.get_by_role("tab", name="Linear probe").click()
    wait_for_app(page)
    assert exception_texts(page) == []
    assert "Linear probe vs zero-shot" in page.locator(f"{CHART} >> visible=true").first.inner_text()
    assert "upload it again" not in main_text(page)


def test_lecture_mode_and_shared_link(page, app_server):
    query = urllib.parse.urlencode({"lecture": "1", "labels": "cat\ndog\nrocket", "template": "art of the {}."})
    open_clip(page, app_server, query)
    page.locator(CHART).first.wait_for()
    assert page.locator("textarea").first.input_value() == "cat\ndog\nrocket"
    assert exception_texts(page) == []
    tall_screenshot(page, "clip-lecture-mode")


def test_phone_width_has_no_horizontal_scroll(browser, app_server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    phone = context.new_page()
    try:
        open_clip(phone, app_server)
        phone.locator(CHART).first.wait_for()
        assert exception_texts(phone) == []
        overflow = phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1
        screenshot(phone, "clip-phone")
    finally:
        context.close()
