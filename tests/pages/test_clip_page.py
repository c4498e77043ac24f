"""The CLIP page in Streamlit's AppTest: the three sections, uploads good and bad, labels, URL state."""

from __future__ import annotations

import io
import json
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from models.images import gallery
from models.limits import MAX_LABELS, PROBE_IMAGE_SIDE
from tests.pages import helpers
from tests.pages.helpers import texts

SCRIPT = "clip_zero_shot.py"
PHOTO_FILES = [photo.file for photo in gallery()]
HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>window.__xss=1</script>",
    "**bold** [link](javascript:alert(1))",
    "猫 😺",
    "قطة",
]


def run_page(query: dict[str, str] | None = None) -> AppTest:
    return helpers.run_page(SCRIPT, query)


def charts(at: AppTest) -> dict[str, dict]:
    """Plotly charts on the page by key suffix, as their JSON specs."""
    found = {}
    for chart in at.get("plotly_chart"):
        found[chart.proto.id.rsplit("-", 1)[-1]] = json.loads(chart.proto.spec)
    return found


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg(image: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    data = bytearray(png(Image.new("L", (8, 8))))
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def upload(at: AppTest, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    at.radio(key="clip__source").set_value("upload").run()
    at.file_uploader(key="clip__upload").set_value((name, data, mime))
    return at.run()


@pytest.fixture
def tiny_app(with_tiny_models, fresh_app_state):
    """The tiny random-weight CLIP models, and no model cached from an earlier test."""


# -- what a first visit shows -------------------------------------------------------------


MATRIX, PROBE = {"clip_tab": "Similarity matrix"}, {"clip_tab": "Linear probe"}


def open_tab(at: AppTest, name: str) -> AppTest:
    """Click a tab: the tab is bound to the link, so the browser's URL changes with it."""
    at.session_state["clip_tab"] = name
    at.query_params["clip_tab"] = name
    return at.run()


def test_default_page_shows_gallery_prediction_then_each_tab_its_own(tiny_app):
    at = run_page()
    assert not at.exception
    assert at.title[0].value.startswith("🖼️ CLIP")
    shown = charts(at)
    probabilities = shown["clip_probabilities"]
    assert probabilities["layout"]["title"]["text"].startswith("Most likely:")
    # Ten default labels, each with a probability and its raw cosine alongside.
    assert len(probabilities["data"]) == 2 and len(probabilities["data"][0]["y"]) == 10
    assert "Licence: CC0" in texts(at.caption)
    assert "10 labels × 1 template = 10 prompts" in texts(at.caption)
    assert "clip_matrix" not in shown  # only the open tab does its work
    open_tab(at, "Similarity matrix")
    assert set(charts(at)) == {"clip_matrix"}
    assert "training loss on this batch" in texts(at.caption)
    open_tab(at, "Linear probe")
    assert not charts(at)
    assert any(button.label.startswith("Extract features") for button in at.button)


def test_matrix_choices_and_an_upload_stay_while_another_tab_is_open(tiny_app):
    at = run_page(MATRIX)
    at.multiselect(key="clip__matrix_photos").set_value(list(PHOTO_FILES[:2])).run()
    captions = next(area for area in at.text_area if area.key.startswith("clip__captions__"))
    captions.set_value("one cat\none rocket").run()
    at.radio(key="clip__matrix_view").set_value("image_to_text").run()
    open_tab(at, "Zero-shot")
    upload(at, "mine.png", png(Image.new("RGB", (40, 30), (10, 200, 10))))
    assert "clip_matrix" not in charts(at)
    open_tab(at, "Similarity matrix")
    assert not at.exception
    assert at.multiselect(key="clip__matrix_photos").value == list(PHOTO_FILES[:2])
    assert next(area for area in at.text_area if area.key.startswith("clip__captions__")).value == "one cat\none rocket"
    assert at.radio(key="clip__matrix_view").value == "image_to_text"
    assert at.toggle(key="clip__matrix_own")  # offered: the upload is still there
    open_tab(at, "Zero-shot")
    assert "mine.png" in texts(at.text)


def test_each_upload_is_decoded_once_per_session_and_its_bytes_let_go(tiny_app, monkeypatch):
    from ui import uploads

    released = []
    real_release = uploads._release
    monkeypatch.setattr(uploads, "_release", lambda file_id: released.append(file_id) or real_release(file_id))
    decoded = []
    real = uploads.load_image
    monkeypatch.setattr(uploads, "load_image", lambda data, name, **kw: decoded.append(name) or real(data, name, **kw))
    at = run_page(PROBE)
    at.radio(key="clip__probe_data").set_value("uploads").run()
    # More files than a shared cache of decoded images would hold (the probe accepts 200).
    files = [
        (f"{name}_{n}.png", png(Image.new("RGB", (32, 32), (n, 30, colour))), "image/png")
        for name, colour in (("red", 220), ("blue", 30))
        for n in range(12)
    ]
    at.file_uploader(key="clip__probe_uploads").set_value(files).run()
    assert sorted(decoded) == sorted(name for name, _, _ in files)
    for _ in range(3):  # reruns: lecture mode, a label, another tab and back
        at.run()
    open_tab(at, "Zero-shot")
    open_tab(at, "Linear probe")
    assert not at.exception
    assert len(decoded) == len(files)
    kept = at.session_state["uploads__decoded"]["clip__probe_uploads"]
    assert len(kept) == len(files) and all(max(item.image.image.size) <= PROBE_IMAGE_SIDE for item in kept.values())
    # The server holds the small pictures only: each file's bytes went back to Streamlit's upload store, once.
    # (AppTest uploads its files afresh on every run, so the browser test checks what the page then gets.)
    assert sorted(released) == sorted(kept)
    at.button(key="clip__probe_run").click().run()  # and the probe still trains on them
    assert not at.exception
    assert charts(at)["clip_probe"]["data"][1]["x"][:2] == [1, 2]


def test_a_session_s_uploads_are_bounded_in_memory(tiny_app, monkeypatch):
    monkeypatch.setattr("ui.uploads.MAX_SESSION_IMAGES_MB", 0.5)  # about two of the probe's small copies
    at = run_page(PROBE)
    at.radio(key="clip__probe_data").set_value("uploads").run()
    rng = np.random.default_rng(0)
    files = [
        (f"{name}_{n}.png", png(Image.fromarray(rng.integers(0, 255, (600, 600, 3), dtype=np.uint8))), "image/png")
        for name in ("red", "blue")
        for n in range(4)
    ]
    at.file_uploader(key="clip__probe_uploads").set_value(files).run()
    assert not at.exception
    assert "the most one student's photos may take" in texts(at.warning)
    assert len(at.session_state["uploads__decoded"]["clip__probe_uploads"]) < len(files)


def test_without_weights_the_page_explains_and_does_not_crash(without_models, fresh_app_state):
    at = run_page()
    assert not at.exception
    assert "not available" in texts(at.error)
    assert any(button.label == "Retry" for button in at.button)


# -- labels and templates -----------------------------------------------------------------


def test_no_labels_asks_for_some(tiny_app):
    at = run_page()
    at.text_area(key="clip__labels").set_value("  \n , ").run()
    assert not at.exception
    assert "at least one label" in texts(at.info)
    assert "clip_probabilities" not in charts(at)


def test_one_label_explains_why_the_probability_is_one(tiny_app):
    at = run_page()
    at.text_area(key="clip__labels").set_value("cat").run()
    assert not at.exception
    assert "single option" in texts(at.warning)
    assert charts(at)["clip_probabilities"]["data"][0]["text"] == ["100.0%"]


def test_duplicates_merged_and_cap_applied_with_notices(tiny_app):
    labels = ["cat", "Cat", "dog "] + [f"thing {n}" for n in range(MAX_LABELS + 5)]
    at = run_page()
    at.text_area(key="clip__labels").set_value("\n".join(labels)).run()
    assert not at.exception
    warnings = texts(at.warning)
    assert "Merged 1 duplicate" in warnings
    assert f"Only the first {MAX_LABELS} labels" in warnings
    assert len(charts(at)["clip_probabilities"]["data"][0]["y"]) == MAX_LABELS


def test_label_past_77_tokens_is_cut_with_a_notice(tiny_app):
    at = run_page()
    at.text_area(key="clip__labels").set_value("cat\n" + "very " * 120 + "long dog").run()
    assert not at.exception
    assert "cut to fit" in texts(at.warning)


def test_template_without_slot_is_explained(tiny_app):
    at = run_page()
    at.text_input(key="clip__template").set_value("a photo of").run()
    assert not at.exception
    assert '"{}"' in texts(at.warning)
    assert "a photo of" in texts(at.code)


def test_ensembling_uses_the_chosen_templates(tiny_app):
    at = run_page()
    at.toggle(key="clip__ensemble").set_value(True).run()
    assert not at.exception
    assert "10 labels × 8 templates = 80 prompts" in texts(at.caption)


def test_hostile_labels_are_shown_as_text_only(tiny_app):
    at = run_page()
    at.text_area(key="clip__labels").set_value("\n".join(HOSTILE + HOSTILE[:1])).run()
    assert not at.exception
    for element in (*at.markdown, *at.warning, *at.caption, *at.info):
        assert "<script>" not in str(element.value) and "onerror" not in str(element.value)
    spec = json.dumps(charts(at)["clip_probabilities"], ensure_ascii=False)
    assert "<script>" not in spec and "&lt;script&gt;" in spec
    assert "猫 😺" in spec and "قطة" in spec
    assert "<img src=x onerror=alert(1)>" in texts(at.code)  # the merged duplicate, literally


# -- images -------------------------------------------------------------------------------


def test_upload_of_a_good_photo_is_classified(tiny_app):
    photo = Image.new("RGB", (300, 200), (200, 120, 40))
    at = upload(run_page(), "my photo.png", png(photo))
    assert not at.exception
    assert "clip_probabilities" in charts(at)
    assert "File: my photo.png" in texts(at.text)


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("notes.png", b"this is not an image at all" * 20, "not an image"),
        ("half.jpg", jpeg(Image.new("RGB", (400, 300), (9, 99, 199)))[:600], "truncated"),
        ("empty.png", b"", "empty"),
        ("bomb.png", bomb_png(), "decompression bomb"),
    ],
    ids=["not-an-image", "truncated", "empty", "bomb"],
)
def test_bad_uploads_are_refused_with_a_reason(tiny_app, name, data, reason):
    at = upload(run_page(), name, data)
    assert not at.exception
    assert reason in texts(at.warning)
    assert f"File: {name}" in texts(at.text)
    assert "clip_probabilities" not in charts(at)


@pytest.mark.parametrize("mode, note", [("CMYK", "CMYK"), ("L", "greyscale"), ("P", "palette")])
def test_unusual_pixel_formats_are_converted_and_said(tiny_app, mode, note):
    photo = Image.new("RGB", (64, 48), (10, 200, 30)).convert(mode)
    data = jpeg(photo) if mode == "CMYK" else png(photo)
    at = upload(run_page(), f"picture.{'jpg' if mode == 'CMYK' else 'png'}", data)
    assert not at.exception
    assert note in texts(at.caption)
    assert "clip_probabilities" in charts(at)


def test_exif_rotated_upload_is_turned_upright(tiny_app):
    exif = Image.Exif()
    exif[0x0112] = 6
    at = upload(run_page(), "phone.jpg", jpeg(Image.new("RGB", (60, 40)), exif=exif.tobytes()), "image/jpeg")
    assert not at.exception
    assert "EXIF orientation" in texts(at.caption)


def test_hostile_file_name_is_shown_as_text(tiny_app):
    name = "<img src=x onerror=alert(1)>.png"
    at = upload(run_page(), name, b"not an image")
    assert not at.exception
    assert f"File: {name}" in texts(at.text)
    assert all("onerror" not in str(element.value) for element in (*at.markdown, *at.warning))


def test_camera_shot_is_classified(tiny_app):
    at = run_page()
    at.radio(key="clip__source").set_value("camera").run()
    assert "Allow the camera" in texts(at.info)
    at.camera_input(key="clip__camera").set_value(("shot.jpg", jpeg(Image.new("RGB", (64, 48), "white")), "image/jpeg"))
    at.run()
    assert not at.exception
    assert "clip_probabilities" in charts(at)
    assert not at.get("image")  # the camera widget shows its photo; the page does not show it a second time


# -- similarity matrix and linear probe ----------------------------------------------------


def test_matrix_with_extra_caption_has_no_loss_and_hostile_captions_are_escaped(tiny_app):
    at = run_page(MATRIX)
    captions_area = next(area for area in at.text_area if area.key.startswith("clip__captions__"))
    photos = len(at.multiselect(key="clip__matrix_photos").value)
    captions_area.set_value("\n".join(["a cat"] * photos + [HOSTILE[1]])).run()
    assert not at.exception
    matrix = charts(at)["clip_matrix"]
    assert len(matrix["layout"]["xaxis"]["ticktext"]) == photos + 1
    assert "<script>" not in json.dumps(matrix)
    assert "needs as many captions as photos" in texts(at.caption)


def test_matrix_views_switch(tiny_app):
    at = run_page(MATRIX)
    at.radio(key="clip__matrix_view").set_value("image_to_text").run()
    assert not at.exception
    assert "each row sums to 1" in charts(at)["clip_matrix"]["layout"]["title"]["text"]


def test_linear_probe_on_digits_draws_the_curve_and_says_what_it_shows(tiny_app):
    at = run_page(PROBE)
    at.button(key="clip__probe_run").click().run()
    assert not at.exception
    probe = charts(at)["clip_probe"]
    assert probe["data"][1]["x"] == [1, 2, 4, 8, 16]
    summary = texts(at.markdown)
    assert "frozen CLIP features" in summary and "zero-shot" in summary


def test_linear_probe_on_labelled_uploads(tiny_app):
    at = run_page(PROBE)
    at.radio(key="clip__probe_data").set_value("uploads").run()
    colours = {"red": (220, 30, 30), "blue": (30, 30, 220)}
    files = [
        (f"{name}_{n}.png", png(Image.new("RGB", (32, 32), colour)), "image/png")
        for name, colour in colours.items()
        for n in range(4)
    ]
    at.file_uploader(key="clip__probe_uploads").set_value(files).run()
    at.button(key="clip__probe_run").click().run()
    assert not at.exception
    assert charts(at)["clip_probe"]["data"][1]["x"] == [1, 2]


def test_labelled_uploads_of_one_class_are_explained(tiny_app):
    at = run_page(PROBE)
    at.radio(key="clip__probe_data").set_value("uploads").run()
    at.file_uploader(key="clip__probe_uploads").set_value(
        [(f"cat_{n}.png", png(Image.new("RGB", (8, 8))), "image/png") for n in range(3)]
    ).run()
    assert not at.exception
    assert "at least 2 classes" in texts(at.warning)


# -- URL state ----------------------------------------------------------------------------


def test_url_restores_labels_template_model_and_ensemble(tiny_app):
    at = run_page(
        {
            "labels": "zebra\nhorse",
            "template": "a drawing of a {}",
            "model": "clip-vit-b-32-laion2b",
            "ensemble": "1",
            "ens": "0,1",
        }
    )
    assert not at.exception
    assert at.text_area(key="clip__labels").value == "zebra\nhorse"
    assert at.text_input(key="clip__template").value == "a drawing of a {}"
    assert at.selectbox(key="clip__model").value == "clip-vit-b-32-laion2b"
    assert "2 labels × 3 templates = 6 prompts" in texts(at.caption)
    assert "LAION-2B" in texts(at.caption)


def test_changed_inputs_are_written_to_the_url(tiny_app):
    at = run_page()
    at.text_area(key="clip__labels").set_value("cat\ndog").run()
    at.text_input(key="clip__template").set_value("art of the {}.").run()
    assert at.query_params["labels"] == "cat\ndog"
    assert at.query_params["template"] == "art of the {}."


def test_malformed_url_values_are_ignored_and_reported(tiny_app):
    at = run_page({"model": "no-such-model", "ens": "0,999", "ensemble": "maybe"})
    assert not at.exception
    ignored = texts(at.caption)
    assert "Ignored from the link" in ignored and "no-such-model" in ignored
    assert at.selectbox(key="clip__model").value == "clip-vit-b-32-openai"


def test_a_link_reproduces_the_matrix_photos_captions_and_view(tiny_app):
    photos = list(PHOTO_FILES[1:3])
    at = run_page(
        dict(
            MATRIX,
            matrix_photos=",".join(photos),
            captions="a sleepy cat\na rocket launch",
            matrix_view="image_to_text",
        )
    )
    assert not at.exception
    assert at.multiselect(key="clip__matrix_photos").value == photos
    captions = next(area for area in at.text_area if area.key.startswith("clip__captions__"))
    assert captions.value == "a sleepy cat\na rocket launch"
    assert at.radio(key="clip__matrix_view").value == "image_to_text"
    # And the other way: what a student picks goes into the address.
    at.multiselect(key="clip__matrix_photos").set_value(list(PHOTO_FILES[:2])).run()
    assert at.query_params["matrix_photos"] == ",".join(PHOTO_FILES[:2])
    captions = next(area for area in at.text_area if area.key.startswith("clip__captions__"))
    captions.set_value("one cat\none rocket").run()
    assert at.query_params["captions"] == "one cat\none rocket"


def test_a_link_reproduces_the_probe_data_set_and_bad_values_are_named(tiny_app):
    at = run_page(dict(PROBE, probe_data="uploads"))
    assert not at.exception
    assert at.radio(key="clip__probe_data").value == "uploads"
    at = run_page(dict(PROBE, probe_data="<b>x</b>"))
    assert not at.exception
    assert at.radio(key="clip__probe_data").value == "digits"
    assert "probe_data" in texts(at.caption)
