"""The fine-tuning lab under AppTest (tiny random-weight encoder): the page before and after Train, the results,
the shared run, and bad input from the link."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

PAGE = str(REPO_ROOT / "demos" / "finetune.py")


def run_page(**params: str) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=300)
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def no_traceback(at: AppTest) -> None:
    assert not at.exception, [error.value for error in at.exception]


def button(at: AppTest, label: str):
    [found] = [b for b in at.button if b.label == label]
    return found


@pytest.fixture
def lab(with_tiny_models, fresh_app_state):
    import streamlit as st

    st.cache_resource.clear()  # a fresh registry of runs: results of other tests must not show here
    yield
    st.cache_resource.clear()


def test_before_training_the_page_says_what_train_will_do(lab):
    at = run_page()
    no_traceback(at)
    assert at.title[0].value.endswith("Fine-tuning lab")
    assert button(at, "Train").disabled is False
    assert any("Press **Train** to train 5 strategies on 32 labelled reviews" in c.value for c in at.caption)
    assert not at.get("plotly_chart")


def test_training_draws_the_curves_and_the_table_and_a_classmate_gets_it_at_once(lab):
    at = run_page(strategies="probe,top", epochs="2", k="4")
    button(at, "Train").click().run()
    no_traceback(at)
    specs = [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]
    titles = [spec["layout"]["title"]["text"] for spec in specs]
    assert titles[0].startswith("Accuracy after each epoch")
    table = at.dataframe[0].value
    assert list(table["strategy"]) == ["Frozen encoder + linear head", "Fine-tune the top layers"]
    assert (table["trainable parameters"] > 0).all()
    assert "100.0%" not in set(table["share trained"]) and not set(table["share trained"]) & {"0%", "0.0000%"}
    assert at.query_params["strategies"] == "probe,top" and at.query_params["epochs"] == "2"
    # Another student with the same link: no training, the result at once, and Train greyed out.
    classmate = run_page(strategies="probe,top", epochs="2", k="4")
    no_traceback(classmate)
    assert button(classmate, "Train").disabled is True
    assert any("trained already" in c.value for c in classmate.caption)
    assert classmate.dataframe[0].value.equals(table)
    # The size chart has the trained size's points.
    assert any(spec["layout"]["title"]["text"].startswith("Few labelled examples") for spec in specs)


def test_no_strategy_picked_says_what_to_do(lab):
    at = run_page(strategies="")
    no_traceback(at)
    assert any("Pick at least one strategy" in info.value for info in at.info)


@pytest.mark.parametrize(
    "query",
    [dict(k="0"), dict(k="1000"), dict(epochs="-3"), dict(head_lr="nan"), dict(strategies="magic"), dict(seed="x")],
)
def test_bad_link_values_are_named_and_the_defaults_used(lab, query):
    at = run_page(**query)
    no_traceback(at)
    notes = " ".join(c.value for c in at.caption)
    assert "Ignored from the link" in notes and list(query)[0] in notes


def test_a_diverging_learning_rate_gets_a_clear_message(lab):
    at = run_page(strategies="full", head_lr="10", enc_lr="10", epochs="6", k="4")
    button(at, "Train").click().run()
    no_traceback(at)
    [diverged] = [w.value for w in at.warning if "diverged" in w.value]
    assert "Full fine-tuning" in diverged and "learning rate is too high" in diverged


def test_a_run_too_long_for_the_class_server_says_what_to_lower(lab):
    at = run_page(k="64", epochs="30", augment="1")
    no_traceback(at)
    [warning] = [w.value for w in at.warning if "training steps" in w.value]
    assert "Lower the epochs" in warning
    assert not [b for b in at.button if b.label == "Train"]
