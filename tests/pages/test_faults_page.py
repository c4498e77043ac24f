"""Faults through the pages, in AppTest: the hub unreachable or hanging, a half-downloaded model in the
cache, a local model folder with a file missing. Each page says what is wrong and what to do, the rest
of the app keeps working, and Retry works once the files are fixed. A model that cannot go to the GPU
runs on the CPU, and the page says so.
"""

from __future__ import annotations

import shutil

import pytest
import torch
from streamlit.testing.v1 import AppTest

import ui.loaders
from models.loading import MODEL_DIR_ENV, PREFETCH_COMMAND, DeviceChoice
from tests.conftest import REPO_ROOT
from tests.unit.test_faults import broken_copy, cached_copy, hanging_hub  # noqa: F401 (a fixture)

TIMEOUT = 120


def page(script: str) -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "demos" / script), default_timeout=TIMEOUT)


def routed(script: str) -> AppTest:
    """The whole app (router and sidebar), switched to `script`."""
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT).run()
    return at.switch_page(f"demos/{script}").run()


def said(at: AppTest) -> str:
    return "\n".join(str(element.value) for element in (*at.error, *at.text, *at.markdown, *at.warning))


def assert_unavailable(at: AppTest, *fragments: str) -> None:
    assert not at.exception, [exception.value for exception in at.exception]
    message = said(at)
    assert "is not available on this machine" in message
    for fragment in fragments:
        assert fragment in message, message
    assert [button.label for button in at.button if (button.key or "").startswith("retry_button__")] == ["Retry"]
    assert not at.get("plotly_chart")


def folded(at: AppTest) -> list[str]:
    """What sits inside a status panel or an expander (folded away until the visitor opens it)."""
    found: list[str] = []

    def walk(node, inside: bool) -> None:
        kind = getattr(node, "type", None)
        if inside and kind in ("error", "markdown", "text", "button"):
            found.append(str(getattr(node, "value", None) or getattr(node, "label", "")))
        for child in getattr(node, "children", {}).values():
            walk(child, inside or kind in ("status", "expandable"))

    walk(at._tree, False)
    return found


def retry(at: AppTest) -> AppTest:
    next(button for button in at.button if (button.key or "").startswith("retry_button__")).click().run()
    return at


def assert_works(at: AppTest) -> None:
    assert not at.exception, [exception.value for exception in at.exception]
    assert "is not available" not in said(at)
    assert at.get("plotly_chart")


@pytest.fixture
def fast_hub_probe(monkeypatch):
    """The app's probe deadline down to 1 s, so the hanging hub costs the suite little."""
    from models import loading

    monkeypatch.setattr(loading.probe_hub, "__defaults__", (1.0,))


def test_hanging_hub_explains_itself_and_other_pages_keep_working(
    without_models,
    fresh_app_state,
    hanging_hub,  # noqa: F811 (a fixture, imported above)
    fast_hub_probe,
):
    at = routed("generation.py")
    assert_unavailable(at, "did not answer within 1 s", PREFETCH_COMMAND)
    assert hanging_hub.accepted, "the page never asked the hub"
    at.switch_page("demos/double_descent.py").run()
    assert_works(at)
    at.switch_page("demos/home.py").run()
    assert not at.exception
    statuses = at.dataframe[0].value.set_index("Model")["Status"]
    assert statuses["GPT-2 (124M)"].startswith("unavailable")


def test_a_failure_is_remembered_so_a_class_does_not_each_wait_for_the_hub(
    without_models, fresh_app_state, monkeypatch
):
    at = page("fill_mask.py").run()
    assert_unavailable(at, "HF_HUB_OFFLINE")
    attempts = []
    monkeypatch.setattr(ui.loaders, "load_model", lambda *args, **kwargs: attempts.append(args) or 1 / 0)
    for _ in range(3):  # three more students open the page
        assert_unavailable(page("fill_mask.py").run())
    assert attempts == []
    retry(at)  # Retry always tries at once
    assert len(attempts) == 1
    assert_unavailable(at, "ZeroDivisionError")


def test_every_visitor_sees_the_real_reason_fix_and_retry_unfolded(tiny_model_dir, without_models, fresh_app_state):
    with cached_copy(tiny_model_dir, "bert-base-uncased", keep=("config.json",)):
        first = page("fill_mask.py").run()
        later = page("fill_mask.py").run()  # a second student, within the minute the failure is remembered
        for visitor in (first, later):
            assert_unavailable(visitor, "interrupted download", "Delete that folder or cache entry")
            assert not any(
                "not available" in text or text == "Retry" or "interrupted" in text for text in folded(visitor)
            ), folded(visitor)


def test_half_downloaded_model_in_the_cache_then_retry_after_the_download(
    tiny_model_dir, without_models, fresh_app_state
):
    with cached_copy(tiny_model_dir, "bert-base-uncased", keep=("config.json",)) as snapshot:
        at = page("fill_mask.py").run()
        assert_unavailable(at, "loading from cache", "interrupted download", PREFETCH_COMMAND)
        for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(tiny_model_dir / "bert-base-uncased" / name, snapshot / name)
        assert_works(retry(at))


def test_missing_file_in_the_local_folder_then_retry_once_it_is_back(
    tiny_model_dir, tmp_path, monkeypatch, fresh_app_state
):
    root = broken_copy(tiny_model_dir, tmp_path, "gpt2", "tokenizer.json")
    shutil.copytree(tiny_model_dir / "bert-base-uncased", root / "bert-base-uncased")
    monkeypatch.setenv(MODEL_DIR_ENV, str(root))
    at = routed("generation.py")
    assert_unavailable(at, "local model folder is incomplete", "no tokenizer files")
    at.switch_page("demos/fill_mask.py").run()  # BERT is complete: its page works meanwhile
    assert_works(at)
    at.switch_page("demos/generation.py").run()
    assert_unavailable(at)
    shutil.copy(tiny_model_dir / "gpt2" / "tokenizer.json", root / "gpt2" / "tokenizer.json")
    assert_works(retry(at))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the move to it would succeed")
def test_a_model_that_fails_to_load_on_the_gpu_runs_on_the_cpu_with_a_notice(
    with_tiny_models, fresh_app_state, monkeypatch
):
    gpu = DeviceChoice("cuda", torch.float16, "CUDA GPU: Test GPU (fp16)")
    monkeypatch.setattr(ui.loaders, "current_device", lambda: gpu)
    at = page("fill_mask.py").run()
    assert_works(at)
    notice = "\n".join(warning.value for warning in at.warning)
    assert "Could not load on CUDA GPU: Test GPU (fp16)" in notice and "running on the CPU instead" in notice
    assert ui.loaders.get_model("bert-base-uncased").device == "cpu"
