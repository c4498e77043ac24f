"""AppTest of the router, the home page and the sidebar; every model page offline."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from models.registry import MODELS
from tests.conftest import REPO_ROOT
from ui.catalogue import DEMOS

TIMEOUT = 120


def _app() -> AppTest:
    return AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=TIMEOUT)


def test_home_renders_without_any_weights(without_models, fresh_app_state):
    at = _app().run()
    assert not at.exception
    assert at.title[0].value.endswith("Lecture Lab")
    table = at.dataframe[0].value
    assert list(table["Model"]) == [entry.display_name for entry in MODELS]
    assert set(table["Status"]) == {"not loaded"}
    assert all("downloads on first use" in where for where in table["On this machine"])
    assert any("prefetch_models.py" in block.value for block in at.code)


def test_home_sees_a_prefetched_folder(with_tiny_models, fresh_app_state):
    at = _app().run()
    table = at.dataframe[0].value
    assert all(where.startswith("on disk") for where in table["On this machine"])


def test_sidebar_shows_device_models_and_lecture_toggle(without_models, fresh_app_state):
    at = _app().run()
    sidebar_text = " ".join(c.value for c in at.sidebar.caption)
    assert "Device:" in sidebar_text and "CPU" in sidebar_text
    for entry in MODELS:
        assert entry.display_name in sidebar_text
    toggle = at.sidebar.toggle[0]
    assert toggle.label == "Lecture mode" and toggle.value is False


def test_lecture_mode_can_come_from_the_link(without_models, fresh_app_state):
    at = _app()
    at.query_params["lecture"] = "1"
    at.run()
    assert at.sidebar.toggle[0].value is True
    assert any(".stApp" in m.value and "font-size" in m.value for m in at.markdown)


@pytest.mark.parametrize("demo", [d for d in DEMOS if d.models], ids=lambda d: d.url_path)
def test_model_pages_explain_missing_weights_instead_of_crashing(demo, without_models, fresh_app_state):
    at = AppTest.from_file(str(REPO_ROOT / demo.script), default_timeout=TIMEOUT).run()
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "not available" in errors
    assert any(b.label == "Retry" for b in at.button)
    assert any("prefetch_models.py" in m.value for m in at.markdown)


@pytest.mark.parametrize("demo", DEMOS, ids=lambda d: d.url_path)
def test_every_page_runs_through_the_router(demo, with_tiny_models, fresh_app_state):
    at = _app().run()
    at.switch_page(demo.script).run()
    assert not at.exception
    assert at.title, "every page has a title"


def test_the_sidebar_reports_a_loaded_model(with_tiny_models, fresh_app_state):
    at = _app().run()
    at.switch_page("demos/fill_mask.py").run()
    at.switch_page("demos/home.py").run()
    statuses = at.dataframe[0].value.set_index("Model")["Status"]
    assert statuses["BERT base, uncased (110M)"].startswith("loaded in")
