"""The bias–variance and double-descent page in Streamlit's AppTest: the four views, the edge cases the
issue lists (n = 1, p = 1, noise 0, λ = 0 exactly at p = n, every slider at its largest), the page's
state in its URL (restored, written back, malformed values ignored with a notice), and lecture mode.

The page needs no model weights, so it runs with none (the `without_models` fixture)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models import double_descent as dd
from tests.pages.helpers import plotly_numbers

PAGE = "../../demos/double_descent.py"


def run_page(query: dict[str, str] | None = None, lecture: bool = False) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    if lecture:
        at.session_state["lecture_mode"] = True
    return at.run()


def assert_fine(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def chart_specs(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def chart_titles(at: AppTest) -> list[str]:
    return [spec["layout"]["title"]["text"] for spec in chart_specs(at)]


def assert_charts_finite_and_positive(at: AppTest) -> None:
    """No NaN or infinity reaches a chart, and nothing ≤ 0 sits on a log axis (plotly would drop it)."""
    specs = chart_specs(at)
    assert specs
    for spec in specs:
        log_y = spec["layout"].get("yaxis", {}).get("type") == "log"
        for trace in spec["data"]:
            for axis in ("x", "y"):
                values = plotly_numbers(trace[axis])
                assert values.size and np.all(np.isfinite(values)), (trace.get("name"), axis)
                if axis == "y" and log_y:
                    assert np.all(values > 0), trace.get("name")


def trace(at: AppTest, chart: int, name_start: str) -> dict:
    [found] = [t for t in chart_specs(at)[chart]["data"] if t.get("name", "").startswith(name_start)]
    return found


@pytest.fixture
def page(without_models, fresh_app_state):
    return None


# -- the four views ----------------------------------------------------------------------------


def test_default_view_decomposes_the_test_error(page):
    at = run_page()
    assert_fine(at)
    assert "Bias–variance & double descent" in at.title[0].value
    assert at.segmented_control(key="dd__view").value == "bv"
    assert chart_titles(at) == ["bias² + variance + noise", "Fits at degree 3: spread = variance"]
    assert len(at.get("download_button")) == 2  # every chart has its CSV
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Best capacity"].startswith("degree ")
    # the sum of the three terms matches the measured test error (the decomposition, shown to students)
    assert float(metrics["bias² + variance + noise vs measured"].removeprefix("within ").rstrip("%")) < 5
    assert "approximation error" in texts(at.markdown) and "estimation error" in texts(at.markdown)
    fits = [t for t in chart_specs(at)[1]["data"] if t.get("name", "").startswith("fit to training set")]
    assert len(fits) == 5
    assert_charts_finite_and_positive(at)


def test_bias_sq_carries_its_monte_carlo_error_bars(page):
    import models.double_descent as dd

    at = run_page()
    assert_fine(at)
    bias = trace(at, 0, "bias² (")
    expected = dd.simulate_bias_variance(dd.BiasVarianceSettings())  # the page's defaults
    np.testing.assert_allclose(plotly_numbers(bias["error_y"]["array"]), 2 * expected.bias_sq_se, rtol=1e-9)
    lower = plotly_numbers(bias["error_y"]["arrayminus"])
    assert np.all(plotly_numbers(bias["y"]) - lower > 0)  # a bar never runs below the log axis
    assert "pairs of *different* training sets" in texts(at.caption)


def test_k_nn_sweeps_k_on_a_reversed_axis_and_marks_the_chosen_k(page):
    at = run_page({"bv_model": "knn", "bv_k": "7"})
    assert_fine(at)
    assert at.slider(key="dd__bv_k").value == 7
    assert chart_titles(at)[1] == "Fits at k = 7: spread = variance"
    axis = chart_specs(at)[0]["layout"]["xaxis"]
    assert axis["type"] == "log" and axis["autorange"] == "reversed"
    assert "Largest degree in the sweep" not in [s.label for s in at.slider]


def test_double_descent_view_marks_the_threshold_and_peaks_there(page):
    at = run_page({"view": "dd"})
    assert_fine(at)
    spec = chart_specs(at)[0]
    assert spec["layout"]["title"]["text"] == "Double descent: test error against p"
    assert spec["layout"]["xaxis"]["type"] == "log"
    annotations = [a["text"] for a in spec["layout"]["annotations"]]
    assert "interpolation threshold p = n = 100" in annotations
    assert any(shape["x0"] == 100 for shape in spec["layout"]["shapes"])
    median = trace(at, 0, "test error (median")
    peak_p = plotly_numbers(median["x"])[np.argmax(plotly_numbers(median["y"]))]
    assert 100 / 1.5 <= peak_p <= 150
    assert any(m.label == f"Highest test error (p = {int(peak_p)})" for m in at.metric)
    # λ = 0 exactly at p = n: the explosion is clipped with a note, never NaN or inf
    assert "clipped" in texts(at.info)
    assert_charts_finite_and_positive(at)
    assert "smallest singular value" in texts(at.markdown) and "implicit regularisation" in texts(at.markdown)


def test_a_large_ridge_flattens_the_peak_with_the_ridgeless_curve_kept_faintly(page):
    at = run_page({"view": "dd", "rf_ridge": "1"})
    assert_fine(at)
    assert at.select_slider(key="dd__rf_ridge").value == 1.0
    chosen = plotly_numbers(trace(at, 0, "test error (median")["y"])
    reference = plotly_numbers(trace(at, 0, "test error, λ = 0")["y"])
    assert chosen.max() < 2 and reference.max() > 10 * chosen.max()
    assert not any("clipped" in info.value for info in at.info)  # only the faint reference was clipped...
    assert "In the faint λ = 0 reference curve" in texts(at.caption)  # ...and it says so quietly


def test_theory_view_overlays_the_closed_form_curve(page):
    at = run_page({"view": "theory"})
    assert_fine(at)
    assert chart_titles(at) == ["Theory vs simulation, against γ = p / n"]
    assert len(at.latex) == 1 and "gamma" in at.latex[0].value
    theory = trace(at, 0, "theory (Hastie et al.)")
    simulated = trace(at, 0, "simulation")
    gamma, mse = plotly_numbers(simulated["x"]), plotly_numbers(simulated["y"])
    expected = dd.linear_excess_risk_theory(gamma, 1.0, 0.25) + 0.25
    away = (gamma < 0.5) | (gamma > 2)  # away from the threshold the simulation sits on the theory
    np.testing.assert_allclose(mse[away], expected[away], rtol=0.25)
    assert plotly_numbers(theory["y"]).size > 100  # a smooth curve, not the sweep points
    assert simulated["error_y"]["type"] == "data"
    assert_charts_finite_and_positive(at)


def test_sample_wise_view_says_more_data_hurt(page):
    at = run_page({"view": "samples"})
    assert_fine(at)
    assert chart_titles(at) == ["More data can hurt: test error against n"]
    assert "training points raised the mean test error" in texts(at.markdown)
    annotations = [a["text"] for a in chart_specs(at)[0]["layout"]["annotations"]]
    assert "n = p = 50" in annotations
    assert_charts_finite_and_positive(at)


def test_switching_views_keeps_the_page_working(page):
    at = run_page()
    for view, title in [
        ("dd", "Double descent: test error against p"),
        ("theory", "Theory vs simulation, against γ = p / n"),
        ("samples", "More data can hurt: test error against n"),
        ("bv", "bias² + variance + noise"),
    ]:
        at.segmented_control(key="dd__view").set_value(view).run()
        assert_fine(at)
        assert chart_titles(at)[0] == title


# -- the URL -----------------------------------------------------------------------------------


def test_link_restores_every_control_and_moves_are_written_back(page):
    query = {
        "view": "dd",
        "rf_n": "40",
        "rf_noise": "0.25",
        "rf_ridge": "0.01",
        "rf_seed": "7",
        "rf_features": "fourier",
        "rf_repeats": "5",
        "rf_max_p": "300",
        "rf_dim": "10",
    }
    at = run_page(query)
    assert_fine(at)
    assert at.slider(key="dd__rf_n").value == 40
    assert at.slider(key="dd__rf_noise").value == 0.25
    assert at.select_slider(key="dd__rf_ridge").value == 0.01
    assert at.number_input(key="dd__rf_seed").value == 7
    assert at.segmented_control(key="dd__rf_features").value == "fourier"
    assert "interpolation threshold p = n = 40" in [a["text"] for a in chart_specs(at)[0]["layout"]["annotations"]]
    at.slider(key="dd__rf_n").set_value(60).run()
    at.select_slider(key="dd__rf_ridge").set_value(1e-6).run()
    assert_fine(at)
    assert at.query_params["rf_n"] == "60" and at.query_params["rf_ridge"] == "1e-06"
    # back to a default: the parameter leaves the link
    at.slider(key="dd__rf_n").set_value(100).run()
    assert "rf_n" not in at.query_params


def test_a_ridge_between_stops_snaps_to_the_nearest(page):
    at = run_page({"view": "dd", "rf_ridge": "3e-3"})
    assert_fine(at)
    assert at.select_slider(key="dd__rf_ridge").value == 1e-3


@pytest.mark.parametrize(
    "query, ignored",
    [
        ({"view": "dd", "rf_n": "0"}, "rf_n=0"),
        ({"view": "dd", "rf_n": str(dd.MAX_N + 1)}, f"rf_n={dd.MAX_N + 1}"),
        ({"view": "dd", "rf_noise": "nan"}, "rf_noise=nan"),
        ({"view": "dd", "rf_ridge": "-1"}, "rf_ridge=-1"),
        ({"view": "dd", "rf_max_p": "1e9"}, "rf_max_p=1e9"),
        ({"view": "theory", "lm_signal": "inf"}, "lm_signal=inf"),
        ({"view": "samples", "sw_p": "abc"}, "sw_p=abc"),
        ({"bv_model": "svm"}, "bv_model=svm"),
        ({"bv_sets": "1"}, "bv_sets=1"),
        ({"bv_seed": "-3"}, "bv_seed=-3"),
        ({"view": "nope"}, "view=nope"),
    ],
)
def test_malformed_link_values_are_ignored_with_a_notice(page, query, ignored):
    at = run_page(query)
    assert_fine(at)
    assert "Ignored from the link" in texts(at.caption) and ignored in texts(at.caption)
    assert at.get("plotly_chart")  # the defaults are used and the page still draws


@pytest.mark.parametrize(
    "hostile",
    ["<img src=x onerror=alert(1)>", "<script>window.__xss=1</script>", "**bold** [x](javascript:1)", "猫 😺", "القطة"],
)
def test_hostile_link_values_are_only_quoted_back(page, hostile):
    at = run_page({"bv_target": hostile})
    assert_fine(at)
    caption = texts(at.caption)
    assert "Ignored from the link" in caption and f"`bv_target={hostile[:40]}" in caption
    assert at.segmented_control(key="dd__bv_target").value == "sine"


# -- edge cases from the issue ----------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {"view": "dd", "rf_n": "1"},  # n = 1
        {"view": "dd", "rf_max_p": "1"},  # p = 1 only: no threshold crossed
        {"view": "dd", "rf_noise": "0"},  # noise 0
        {"view": "dd", "rf_n": "1", "rf_max_p": "1", "rf_noise": "0", "rf_dim": "1"},
        {"view": "theory", "lm_n": "1", "lm_noise": "0"},
        {"view": "theory", "lm_noise": "0", "lm_signal": "0"},  # nothing to learn: every error is 0
        {"view": "theory", "lm_max_p": "1"},
        {"view": "samples", "sw_p": "1", "sw_max_n": "1"},
        {"view": "samples", "sw_noise": "0", "sw_ridge": "10"},
        {"bv_n": "1", "bv_degree": str(dd.MAX_POLY_DEGREE)},
        {"bv_n": "1", "bv_model": "knn"},  # k = 1 is the only choice: no slider
        {"bv_noise": "0", "bv_target": "step", "bv_model": "knn", "bv_k": "1"},
    ],
)
def test_edge_cases_draw_finite_charts(page, query):
    at = run_page(query)
    assert_fine(at)
    assert_charts_finite_and_positive(at)


def test_p_never_reaching_n_says_how_to_cross_the_threshold(page):
    at = run_page({"view": "dd", "rf_max_p": "50"})
    assert_fine(at)
    assert "raise **Largest p** above n" in texts(at.info)


def test_one_training_point_for_k_nn_needs_no_k_slider(page):
    at = run_page({"bv_n": "1", "bv_model": "knn"})
    assert_fine(at)
    assert "k = 1, the only choice" in texts(at.caption)
    assert "Fits at k = 1: spread = variance" in chart_titles(at)


def test_k_follows_n_down(page):
    at = run_page({"bv_model": "knn", "bv_k": "25"})
    at.slider(key="dd__bv_n").set_value(10).run()
    assert_fine(at)
    assert at.slider(key="dd__bv_k").value == 10
    assert "Fits at k = 10: spread = variance" in chart_titles(at)


@pytest.mark.slow
@pytest.mark.parametrize(
    "query",
    [
        {
            "view": "dd",
            "rf_n": str(dd.MAX_N),
            "rf_max_p": str(dd.MAX_FEATURES),
            "rf_repeats": str(dd.MAX_REPEATS),
            "rf_dim": str(dd.MAX_INPUT_DIM),
            "rf_noise": str(dd.MAX_NOISE_SD),
            "rf_ridge": "10",
        },
        {
            "view": "theory",
            "lm_n": str(dd.MAX_N),
            "lm_max_p": str(dd.MAX_FEATURES),
            "lm_repeats": str(dd.MAX_REPEATS),
            "lm_noise": str(dd.MAX_NOISE_SD),
            "lm_signal": str(dd.MAX_SIGNAL),
        },
        {"view": "samples", "sw_p": str(dd.MAX_N), "sw_repeats": str(dd.MAX_REPEATS), "sw_noise": str(dd.MAX_NOISE_SD)},
        {
            "bv_model": "knn",
            "bv_n": str(dd.MAX_TRAIN_1D),
            "bv_sets": str(dd.MAX_RESAMPLES),
            "bv_curves": str(dd.MAX_SPREAD_CURVES),
            "bv_k": str(dd.MAX_TRAIN_1D),
            "bv_noise": str(dd.MAX_NOISE_SD),
        },
        {
            "bv_n": "12",
            "bv_degree": str(dd.MAX_POLY_DEGREE),
            "bv_max_degree": str(dd.MAX_POLY_DEGREE),
            "bv_noise": str(dd.MAX_NOISE_SD),
            "bv_sets": str(dd.MAX_RESAMPLES),
        },
    ],
    ids=["random-features", "theory", "samples", "knn", "polynomial"],
)
def test_every_slider_at_its_largest(page, query):
    at = run_page(query)
    assert_fine(at)
    assert "Ignored from the link" not in texts(at.caption)  # the largest values are all allowed
    assert_charts_finite_and_positive(at)


def test_seed_changes_the_draw_and_the_same_seed_repeats_it(page):
    first = chart_specs(run_page({"bv_seed": "3"}))[1]["data"]
    again = chart_specs(run_page({"bv_seed": "3"}))[1]["data"]
    other = chart_specs(run_page({"bv_seed": "4"}))[1]["data"]
    assert first == again and first != other


def test_lecture_mode_folds_the_secondary_controls(page):
    at = run_page({"view": "dd"}, lecture=True)
    assert_fine(at)
    folded = {expander.label: not expander.proto.expanded for expander in at.expander}
    assert folded == {"More controls": True, "How it works": True}
    assert at.get("plotly_chart")


# -- double descent step by step ----------------------------------------------------------------


def test_step_by_step_opens_at_p_equals_n_with_a_frame_per_p(page):
    at = run_page({"view": "steps"})
    assert_fine(at)
    [spec] = chart_specs(at)
    assert spec["layout"]["title"]["text"].startswith("p = 15 features, n = 15 points: the interpolation threshold")
    names = [frame["name"] for frame in spec["frames"]]
    assert "15" in names and names == sorted(names, key=int)
    assert spec["layout"]["sliders"][0]["active"] == names.index("15")
    assert [button["label"] for button in spec["layout"]["updatemenus"][0]["buttons"]][0].startswith("▶ Play")
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Test error at p = 15"].startswith("≥ 1000")  # the peak: off the chart, and said so


def test_stepping_p_past_n_interpolates_and_is_in_the_link(page):
    at = run_page({"view": "steps", "st_n": "10", "st_p": "40"})
    assert_fine(at)
    p = at.select_slider(key="dd__st_p").value
    assert p > 10  # snapped to a swept value near 40
    assert float({m.label: m.value for m in at.metric}[f"Train error at p = {p}"]) < 1e-6
    at.select_slider(key="dd__st_p").set_value(at.select_slider(key="dd__st_p").options[0]).run()
    assert_fine(at)
    assert at.query_params["st_p"] == "1" and at.query_params["st_n"] == "10"


def test_step_by_step_with_a_ridge_has_no_clipping_note(page):
    at = run_page({"view": "steps", "st_ridge": "0.01"})
    assert_fine(at)
    assert not any("clipped" in info.value for info in at.info)
    bare = run_page({"view": "steps"})
    assert any("clipped" in info.value for info in bare.info)
