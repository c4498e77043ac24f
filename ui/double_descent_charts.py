"""Plotly figures (and their data tables) for the bias–variance and double-descent page. No Streamlit here.

Every input is a result dataclass from models/double_descent.py; no user text reaches a figure.
Errors span several orders of magnitude (the interpolation peak), so the error axes are logarithmic:
values are clipped at LOG_FLOOR before plotting, because plotly silently drops points ≤ 0 on a log axis.
Where a result holds several ridge values, the LAST one is the chosen λ (drawn in full) and the
others are faint references (the page passes (0, λ) to overlay the ridgeless curve).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from models.double_descent import (
    BAND_PERCENTILES,
    ERROR_CAP,
    BiasVarianceResult,
    FitPath,
    LinearModelResult,
    RandomFeaturesResult,
)
from ui import palette

LOG_FLOOR = 1e-6
HEIGHT = 500

BIAS_COLOUR = palette.BLUE
VARIANCE_COLOUR = palette.ORANGE
NOISE_COLOUR = palette.GREY
TOTAL_COLOUR = palette.INK
MEASURED_COLOUR = palette.RED
TRAIN_COLOUR = palette.GREEN
TEST_COLOUR = palette.PURPLE
REFERENCE_COLOUR = palette.LIGHT_GREY
THRESHOLD_COLOUR = palette.RED
TRUE_COLOUR = palette.GREY  # the true f: dashed, readable on a light and a dark surface
CURVE_COLOURS = palette.SERIES[:9]

BAND_TEXT = f"{BAND_PERCENTILES[0]:.0f}–{BAND_PERCENTILES[1]:.0f}% of repeats"


def ridge_label(ridge: float) -> str:
    return "λ = 0 (minimum norm)" if ridge == 0 else f"λ = {ridge:g}"


# ---------------------------------------------------------------------------------------
# Shared pieces


def _positive(values: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(values, dtype=float), LOG_FLOOR)


def _log_range(*arrays: np.ndarray, margin: float = 2.0) -> list[float]:
    """[log10 low, log10 high] covering the positive values of `arrays`, with a factor `margin` of room."""
    values = np.concatenate([np.ravel(a) for a in arrays])
    values = values[np.isfinite(values) & (values > LOG_FLOOR)]
    if values.size == 0:
        return [math.log10(LOG_FLOOR), 0.0]
    return [math.log10(max(values.min() / margin, LOG_FLOOR)), math.log10(values.max() * margin)]


def _log_axis(*arrays: np.ndarray, margin: float = 2.0) -> dict:
    """A log axis over `arrays`: one label per decade when it spans several, powers of ten rather than SI
    prefixes (100µ); over a narrow range, labels at 1, 2 and 5 of each decade written out in full
    (plotly's own minor labels would write 0.5 as a bare "5")."""
    low, high = _log_range(*arrays, margin=margin)
    axis = {"type": "log", "range": [low, high], "exponentformat": "power"}
    if high - low > 2.5:
        return axis | {"dtick": 1}
    ticks = [
        digit * 10.0**exponent
        for exponent in range(math.floor(low), math.ceil(high) + 1)
        for digit in (1, 2, 5)
        if low <= math.log10(digit * 10.0**exponent) <= high
    ]
    return axis | {"tickvals": ticks, "ticktext": [f"{tick:g}" for tick in ticks]}


def _mark_x(fig: go.Figure, x: float, text: str, log_x: bool, label_left: bool, colour: str = THRESHOLD_COLOUR) -> None:
    """A labelled vertical line at data position x. Callers put the label on its left (label_left) when
    the line is in the right half of the axis, so the label is never cut off at the edge."""
    fig.add_shape(type="line", x0=x, x1=x, y0=0, y1=1, yref="paper", line={"color": colour, "dash": "dash", "width": 2})
    fig.add_annotation(
        x=_annotation_position(x, log_x),
        y=1,
        yref="paper",
        text=text,
        showarrow=False,
        yanchor="top",
        xanchor="right" if label_left else "left",
        xshift=-4 if label_left else 4,
        font={"color": colour},
        bgcolor="rgba(255,255,255,0.8)",
    )


def _mark_y(fig: go.Figure, y: float, text: str, colour: str) -> None:
    """A horizontal reference level on a log y axis (skipped where it is not positive), across the curves drawn so
    far and named in the legend: a label written in the plot sat on the curves wherever they crossed the level."""
    if y <= LOG_FLOOR:
        return
    xs = np.concatenate([np.asarray(trace.x, dtype=float) for trace in fig.data if trace.x is not None])
    fig.add_trace(
        go.Scatter(
            x=[float(np.nanmin(xs)), float(np.nanmax(xs))],
            y=[y, y],
            mode="lines",
            name=text,
            line={"color": colour, "dash": "dot", "width": 1.5},
            hoverinfo="skip",
        )
    )


def _in_right_half(position: float, low: float, high: float) -> bool:
    """Whether `position` lies in the right half of an axis drawn from `low` (left) to `high` (right)."""
    return (position - low) / (high - low) > 0.5 if high != low else False


def _annotation_position(value: float, log: bool) -> float:
    """Shapes take data values on a log axis but annotations take their log10 (plotly's convention),
    which is why add_vline/add_hline(annotation_text=...) put their labels in the wrong place there."""
    return math.log10(value) if log else value


def _band(x: np.ndarray, low: np.ndarray, high: np.ndarray, colour: str, name: str) -> go.Scatter:
    """A filled polygon between low and high (one trace, so it has one legend entry)."""
    return go.Scatter(
        x=np.concatenate([x, x[::-1]]),
        y=np.concatenate([_positive(high), _positive(low)[::-1]]),
        fill="toself",
        fillcolor=_transparent(colour, 0.18),
        line={"width": 0},
        hoverinfo="skip",
        name=name,
    )


def _transparent(colour: str, alpha: float) -> str:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(
        title=title,
        height=HEIGHT,
        xaxis_title=x_title,
        yaxis_title=y_title,
        # the legend below the x-axis title, however large lecture mode makes the type
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0, "xanchor": "left", "x": 0},
        hovermode="x unified",
    )
    return fig


# ---------------------------------------------------------------------------------------
# Bias–variance


def bias_variance_table(result: BiasVarianceResult) -> pd.DataFrame:
    return pd.DataFrame(
        {
            result.capacity_label: result.capacities,
            "effective parameters": result.effective_params,
            "bias²": result.bias_sq,
            "bias² Monte Carlo error (1 s.e.)": np.where(result.bias_sq_se < ERROR_CAP, result.bias_sq_se, np.nan),
            "variance": result.variance,
            "noise σ²": result.noise_var,
            "bias² + variance + noise": result.total,
            "measured test error": result.expected_test_error,
            "train error": result.train_error,
        }
    )


def bias_variance_figure(result: BiasVarianceResult) -> go.Figure:
    """Bias², variance, noise and their sum against capacity, with the measured test error as dots.

    Capacity grows to the right: polynomial degree, or k of k-NN on a reversed log axis (k = n is the
    flat mean, k = 1 the most flexible). The chosen capacity is marked.
    """
    x = result.capacities
    log_x = result.settings.model == "knn"
    fig = go.Figure()
    lines = (
        ("bias² (approximation error)", result.bias_sq, BIAS_COLOUR, "solid"),
        ("variance (estimation error)", result.variance, VARIANCE_COLOUR, "solid"),
        ("bias² + variance + noise", result.total, TOTAL_COLOUR, "solid"),
        ("train error", result.train_error, TRAIN_COLOUR, "dot"),
    )
    for name, values, colour, dash in lines:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=_positive(values),
                name=name,
                mode="lines+markers" if x.size < 30 else "lines",
                line={"color": colour, "dash": dash, "width": 3.5 if colour == TOTAL_COLOUR else 2.5},
                marker={"size": 5},
                error_y=_bias_error_bars(result) if colour == BIAS_COLOUR else None,
                hovertemplate="%{y:.4g}",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=_positive(result.expected_test_error),
            name="measured test error (fresh noisy points)",
            mode="markers",
            marker={"color": MEASURED_COLOUR, "size": 10, "symbol": "circle-open", "line": {"width": 2.5}},
            hovertemplate="%{y:.4g}",
        )
    )
    _mark_y(fig, result.noise_var, "noise σ² (irreducible)", NOISE_COLOUR)
    if log_x:  # reversed: k = n at the left, k = 1 at the right
        label_left = _in_right_half(math.log10(result.spread_capacity), math.log10(x.max()), 0.0)
    else:
        label_left = _in_right_half(result.spread_capacity, x.min(), x.max())
    _mark_x(fig, result.spread_capacity, _capacity_text(result), log_x, label_left, colour=TOTAL_COLOUR)
    _layout(fig, "bias² + variance + noise", result.capacity_label + "  →  more flexible", "squared error (log scale)")
    if log_x:  # explicit ticks: a log axis labels 20 and 50 as "2" and "5"
        ticks = [k for k in (1, 2, 5, 10, 20, 50, 100, 200) if k <= x.max()]
        xaxis = {"type": "log", "autorange": "reversed", "tickvals": ticks}
    else:
        xaxis = {"dtick": 1 if x.size <= 21 else None}
    fig.update_layout(
        xaxis=xaxis,
        yaxis=_log_axis(result.bias_sq, result.variance, result.total, result.expected_test_error, [result.noise_var]),
    )
    return fig


def _bias_error_bars(result: BiasVarianceResult) -> dict:
    """±2 Monte Carlo standard errors on bias² (none where unknown); the lower bar stops at the log floor."""
    known = result.bias_sq_se < ERROR_CAP
    up = np.where(known, 2 * result.bias_sq_se, 0.0)
    shown = _positive(result.bias_sq)
    down = np.minimum(up, shown - LOG_FLOOR)
    return {
        "type": "data",
        "symmetric": False,
        "array": up,
        "arrayminus": down,
        "color": BIAS_COLOUR,
        "thickness": 1.5,
        "width": 4,
    }


def _capacity_text(result: BiasVarianceResult) -> str:
    return (
        f"degree {result.spread_capacity}" if result.settings.model == "polynomial" else f"k = {result.spread_capacity}"
    )


def spread_table(result: BiasVarianceResult) -> pd.DataFrame:
    columns = {
        "x": result.grid_x,
        "true f(x)": result.grid_target,
        "average fit (all training sets)": result.spread_mean,
    }
    for number, curve in enumerate(result.spread_curves, start=1):
        columns[f"fit to training set {number}"] = curve
    return pd.DataFrame(columns)


def spread_figure(result: BiasVarianceResult) -> go.Figure:
    """Fits to several training sets at the chosen capacity, their average, and the true function.

    The curves' spread around their average is the variance; the average's gap to f is the bias.
    Wild fits are cut off by a y range set by the data, not by the fits.
    """
    fig = go.Figure()
    for number, (curve, xs, ys) in enumerate(zip(result.spread_curves, result.spread_x, result.spread_y)):
        colour = CURVE_COLOURS[number % len(CURVE_COLOURS)]
        group = f"set {number + 1}"
        fig.add_trace(
            go.Scatter(
                x=result.grid_x,
                y=curve,
                name=f"fit to training set {number + 1}",
                legendgroup=group,
                line={"color": colour, "width": 1.8},
                opacity=0.85,
                hovertemplate="%{y:.3f}",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="markers",
                legendgroup=group,
                showlegend=False,
                hoverinfo="skip",
                marker={"color": colour, "size": 6, "opacity": 0.6},
            )
        )
    fig.add_trace(
        go.Scatter(
            x=result.grid_x,
            y=result.spread_mean,
            name="average fit (all training sets)",
            line={"color": TOTAL_COLOUR, "dash": "dash", "width": 3},
            hovertemplate="%{y:.3f}",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=result.grid_x,
            y=result.grid_target,
            name="true function f",
            line={"color": TRUE_COLOUR, "width": 4},
            hovertemplate="%{y:.3f}",
        )
    )
    data = np.concatenate([result.grid_target, np.ravel(result.spread_y)])
    span = max(float(data.max() - data.min()), 1.0)
    _layout(
        fig,
        f"Fits at {_capacity_text(result)}: spread = variance",
        "x",
        "y",
    )
    fig.update_layout(
        yaxis={"range": [float(data.min()) - 0.25 * span, float(data.max()) + 0.25 * span]},
        hovermode="closest",
    )
    return fig


# ---------------------------------------------------------------------------------------
# Double descent with random features


def random_features_table(result: RandomFeaturesResult) -> pd.DataFrame:
    rows = []
    for j, ridge in enumerate(result.ridges):
        rows.append(
            pd.DataFrame(
                {
                    "p (features)": result.n_features,
                    "n (samples)": result.threshold,
                    "p / n": result.n_features / result.threshold,
                    "ridge λ": ridge,
                    "train error (mean)": result.train_mean[j],
                    "test error (mean)": result.test_mean[j],
                    "test error (median)": result.test_median[j],
                    f"test error (p{BAND_PERCENTILES[0]:.0f})": result.test_low[j],
                    f"test error (p{BAND_PERCENTILES[1]:.0f})": result.test_high[j],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def random_features_figure(result: RandomFeaturesResult) -> go.Figure:
    """Train and test error against p (log-log), test with its band over repeats, p = n marked.

    The chosen λ (last) is drawn in full; a λ = 0 reference (first), when present, as a faint dashed line.
    Training error falls to ~0 once p >= n (the fit interpolates) and so leaves the plot at the bottom.
    """
    p = result.n_features
    chosen = len(result.ridges) - 1
    repeats = result.settings.n_repeats
    fig = go.Figure()
    for j in range(chosen):
        fig.add_trace(
            go.Scatter(
                x=p,
                y=_positive(result.test_median[j]),
                name=f"test error, {ridge_label(result.ridges[j])}",
                line={"color": REFERENCE_COLOUR, "dash": "dash", "width": 2},
                hovertemplate="%{y:.4g}",
            )
        )
    if repeats > 1:
        fig.add_trace(
            _band(p, result.test_low[chosen], result.test_high[chosen], TEST_COLOUR, f"test error, {BAND_TEXT}")
        )
    fig.add_trace(
        go.Scatter(
            x=p,
            y=_positive(result.test_median[chosen]),
            name=f"test error (median of {repeats}), {ridge_label(result.ridges[chosen])}",
            line={"color": TEST_COLOUR, "width": 3.5},
            hovertemplate="%{y:.4g}",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=p,
            y=_positive(result.train_mean[chosen]),
            name="train error (mean)",
            line={"color": TRAIN_COLOUR, "dash": "dot", "width": 2.5},
            hovertemplate="%{y:.3g}",
        )
    )
    # small p sits near "predict 0", large p nearer the noise: label each level where the curve is not
    _mark_y(fig, result.noise_var, "noise σ² (best possible)", NOISE_COLOUR)
    _mark_y(fig, result.null_error, "predict 0", REFERENCE_COLOUR)
    x_axis = _log_axis(p, [result.threshold], margin=1.3)
    label_left = _in_right_half(math.log10(result.threshold), *x_axis["range"])
    _mark_x(
        fig, result.threshold, f"interpolation threshold p = n = {result.threshold}", log_x=True, label_left=label_left
    )
    _layout(
        fig,
        "Double descent: test error against p",
        "p, number of random features (log scale)",
        "mean squared error (log scale)",
    )
    fig.update_layout(
        xaxis=x_axis,
        yaxis=_log_axis(result.test_low, result.test_high, [result.noise_var, result.null_error]),
    )
    return fig


def random_features_summary(result: RandomFeaturesResult) -> dict[str, tuple[int, float]]:
    """For the chosen λ: (p, median test error) at the peak, at the best p < n, and at the largest p."""
    curve = result.test_median[-1]
    p = result.n_features
    summary = {"peak": (int(p[np.argmax(curve)]), float(curve.max()))}
    under = np.flatnonzero(p < result.threshold)
    if under.size:
        best = under[np.argmin(curve[under])]
        summary["best p < n"] = (int(p[best]), float(curve[best]))
    summary["largest p"] = (int(p[-1]), float(curve[-1]))
    return summary


# ---------------------------------------------------------------------------------------
# The linear model against the theory of Hastie, Montanari, Rosset & Tibshirani


def _standard_error(samples: np.ndarray) -> np.ndarray:
    """Standard error of the mean over the last axis (0 with one sample: no error bar to draw)."""
    count = samples.shape[-1]
    if count < 2:
        return np.zeros(samples.shape[:-1])
    return samples.std(axis=-1, ddof=1) / math.sqrt(count)


def _linear_axis(result: LinearModelResult) -> tuple[np.ndarray, np.ndarray, float, str, str]:
    """x values of the points and of the theory curve, the threshold, the axis title, the marker text."""
    s = result.settings
    if s.sweep == "features":
        return result.gamma, result.theory_gamma, 1.0, f"γ = p / n  (n = {s.n_train}; log scale)", "γ = 1: p = n"
    return (
        result.sizes.astype(float),
        result.theory_sizes,
        float(result.threshold),
        f"n, number of training samples (p = {s.n_features}; log scale)",
        f"n = p = {s.n_features}",
    )


def linear_model_table(result: LinearModelResult) -> pd.DataFrame:
    sweep_name = "p (features)" if result.settings.sweep == "features" else "n (samples)"
    standard_error = _standard_error(result.excess_risk)
    rows = []
    for j, ridge in enumerate(result.ridges):
        rows.append(
            pd.DataFrame(
                {
                    sweep_name: result.sizes,
                    "γ = p / n": result.gamma,
                    "ridge λ": ridge,
                    "excess risk (mean)": result.risk_mean[j],
                    "excess risk (standard error)": standard_error[j],
                    f"excess risk (p{BAND_PERCENTILES[0]:.0f})": result.risk_low[j],
                    f"excess risk (p{BAND_PERCENTILES[1]:.0f})": result.risk_high[j],
                    "excess risk (theory)": result.theory_risk[j],
                    "test MSE (mean)": result.test_mse_mean[j],
                    "test MSE (theory)": result.theory_risk[j] + result.noise_var,
                    "train MSE (mean)": result.train_mean[j],
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def linear_model_figure(result: LinearModelResult) -> go.Figure:
    """Simulated test MSE (mean ± 2 standard errors over repeats) against the asymptotic theory curve.

    x is γ = p/n for the feature sweep and n for the sample sweep; both on log axes, threshold marked.
    """
    x, theory_x, threshold, x_title, threshold_text = _linear_axis(result)
    chosen = len(result.ridges) - 1
    noise_var = result.noise_var
    error_bars = 2 * _standard_error(result.excess_risk)
    fig = go.Figure()
    for j in range(chosen):
        fig.add_trace(
            go.Scatter(
                x=theory_x,
                y=_positive(result.theory_risk_fine[j] + noise_var),
                name=f"theory, {ridge_label(result.ridges[j])}",
                line={"color": REFERENCE_COLOUR, "dash": "dash", "width": 2},
                hovertemplate="%{y:.4g}",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=theory_x,
            y=_positive(result.theory_risk_fine[chosen] + noise_var),
            name=f"theory (Hastie et al.), {ridge_label(result.ridges[chosen])}",
            line={"color": TOTAL_COLOUR, "width": 3},
            hovertemplate="%{y:.4g}",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=_positive(result.test_mse_mean[chosen]),
            mode="markers",
            name=f"simulation: mean of {result.settings.n_repeats} (± 2 s.e.)",
            marker={"color": MEASURED_COLOUR, "size": 8},
            error_y={
                "type": "data",
                "array": error_bars[chosen],
                "color": MEASURED_COLOUR,
                "thickness": 1.5,
                "width": 3,
            },
            hovertemplate="%{y:.4g}",
        )
    )
    _mark_y(fig, noise_var, "noise σ² (best possible)", NOISE_COLOUR)
    _mark_y(fig, result.settings.signal**2 + noise_var, "predict 0: r² + σ²", REFERENCE_COLOUR)
    x_axis = _log_axis(theory_x, [threshold], margin=1.3)
    _mark_x(
        fig, threshold, threshold_text, log_x=True, label_left=_in_right_half(math.log10(threshold), *x_axis["range"])
    )
    title = (
        "Theory vs simulation, against γ = p / n"
        if result.settings.sweep == "features"
        else "More data can hurt: test error against n"
    )
    _layout(fig, title, x_title, "test MSE = excess risk + σ² (log scale)")
    visible = result.test_mse_mean[chosen], result.theory_risk[chosen] + noise_var, [noise_var]
    fig.update_layout(
        xaxis=x_axis,
        yaxis=_log_axis(*visible),
    )
    return fig


def sample_wise_summary(result: LinearModelResult) -> tuple[int, float, float] | None:
    """For an n sweep, chosen λ: (n, mean test MSE) at the best n below p, and the test MSE at n = p,
    when adding data up to n = p made the fit worse; else None."""
    sizes, curve = result.sizes, result.test_mse_mean[-1]
    below = np.flatnonzero(sizes < result.threshold)
    at_threshold = np.flatnonzero(sizes == result.threshold)
    if result.settings.sweep != "samples" or not below.size or not at_threshold.size:
        return None
    best = below[np.argmin(curve[below])]
    if curve[at_threshold[0]] <= curve[best]:
        return None
    return int(sizes[best]), float(curve[best]), float(curve[at_threshold[0]])


# ---------------------------------------------------------------------------------------
# Double descent step by step

STEP_FRAME_MS = 450  # one value of p per frame: the 40-step sweep plays in about 18 s
STEP_Y_RANGE = (-2.5, 2.5)  # the fit panel's y range; wilder fits leave it, as they should


def _step_title(path: FitPath, index: int) -> str:
    p, n = int(path.n_features[index]), path.threshold
    where = (
        "fewer features than points"
        if p < n
        else ("the interpolation threshold" if p == n else "more features than points")
    )
    return f"p = {p} features, n = {n} points: {where}"


def fit_path_table(path: FitPath) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "p": path.n_features,
            "train_error": path.train_error,
            "test_error": path.test_error,
            "coefficient_norm": path.weight_norm,
        }
    )


def fit_path_figure(path: FitPath, index: int) -> go.Figure:
    """Left: the data, the true f and the fit with p features; right: test and train error against p with p
    marked. The figure carries one frame per p and a Play button, so the sweep animates in the browser
    (no server work per step); it opens at `index`.

    Traces 2 (the fit), 5 and 6 (the markers on the error curves) are the ones each frame replaces.
    """
    p_values = path.n_features
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.55, 0.45],
        horizontal_spacing=0.1,
        subplot_titles=("the fit", "error against p (log scales)"),
    )
    fig.add_trace(
        go.Scatter(
            x=path.grid_x,
            y=path.grid_target,
            name="true f",
            line={"color": TRUE_COLOUR, "dash": "dash", "width": 2},
            hoverinfo="skip",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=path.x_train,
            y=path.y_train,
            name="training points",
            mode="markers",
            marker={"color": TRAIN_COLOUR, "size": 10},
            hovertemplate="x %{x:.2f}, y %{y:.2f}<extra></extra>",
        ),
        row=1,
        col=1,
    )

    def fit_trace(i: int) -> go.Scatter:
        return go.Scatter(
            x=path.grid_x,
            y=path.fitted[i].astype(np.float32),
            name="fit with p features",
            line={"color": TEST_COLOUR, "width": 3.5},
            hoverinfo="skip",
        )

    def marker(i: int, values: np.ndarray, colour: str, name: str) -> go.Scatter:
        return go.Scatter(
            x=[p_values[i]],
            y=[max(float(values[i]), LOG_FLOOR)],
            mode="markers",
            name=name,
            showlegend=False,
            marker={"color": colour, "size": 15, "line": {"color": "#ffffff", "width": 2}},
            hovertemplate=f"p = %{{x}}: %{{y:.3g}}<extra>{name}</extra>",
        )

    fig.add_trace(fit_trace(index), row=1, col=1)
    fig.add_trace(
        go.Scatter(
            x=p_values,
            y=_positive(path.test_error),
            name="test error",
            line={"color": TEST_COLOUR, "width": 2.5},
            hovertemplate="p = %{x}: %{y:.3g}<extra>test error</extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(
            x=p_values,
            y=_positive(path.train_error),
            name="train error",
            line={"color": TRAIN_COLOUR, "dash": "dot", "width": 2.5},
            hovertemplate="p = %{x}: %{y:.3g}<extra>train error</extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(marker(index, path.test_error, TEST_COLOUR, "test error at p"), row=1, col=2)
    fig.add_trace(marker(index, path.train_error, TRAIN_COLOUR, "train error at p"), row=1, col=2)
    fig.frames = [
        # A frame carries only what changes (the fit's y, as float32; the markers' place): a few KB each.
        go.Frame(
            name=str(int(p)),
            traces=[2, 5, 6],
            data=[
                go.Scatter(y=path.fitted[i].astype(np.float32)),
                go.Scatter(x=[p], y=[max(float(path.test_error[i]), LOG_FLOOR)]),
                go.Scatter(x=[p], y=[max(float(path.train_error[i]), LOG_FLOOR)]),
            ],
            layout={"title": {"text": _step_title(path, i)}},
        )
        for i, p in enumerate(p_values)
    ]
    fig.add_vline(x=path.threshold, line={"color": THRESHOLD_COLOUR, "dash": "dash", "width": 2}, row=1, col=2)
    errors = np.concatenate([_positive(path.test_error), _positive(path.train_error)])
    low = max(float(np.min(errors)), 1e-4)
    fig.update_xaxes(type="log", title_text="p (features)", row=1, col=2)
    fig.update_yaxes(type="log", range=[math.log10(low) - 0.3, math.log10(ERROR_CAP) + 0.2], row=1, col=2)
    fig.update_xaxes(title_text="x", range=[-1.05, 1.05], row=1, col=1)
    fig.update_yaxes(range=list(STEP_Y_RANGE), row=1, col=1)
    play = {
        "frame": {"duration": STEP_FRAME_MS, "redraw": True},
        "fromcurrent": False,
        "transition": {"duration": 0},
        "mode": "immediate",
    }
    fig.update_layout(
        title=_step_title(path, index),
        height=HEIGHT + 80,
        hovermode="closest",
        legend={"orientation": "h", "yref": "container", "yanchor": "bottom", "y": 0, "xanchor": "left", "x": 0},
        margin={"b": 150},
        updatemenus=[
            {
                "type": "buttons",
                "bgcolor": "#e5e7eb",
                "font": {"color": palette.INK},
                "direction": "left",
                "x": 0.0,
                "xanchor": "left",
                "y": -0.13,
                "yanchor": "top",
                "buttons": [
                    {"label": "▶ Play p from 1", "method": "animate", "args": [None, play]},
                    {
                        "label": "⏸ Pause",
                        "method": "animate",
                        "args": [
                            [None],
                            {
                                "frame": {"duration": 0, "redraw": False},
                                "mode": "immediate",
                                "transition": {"duration": 0},
                            },
                        ],
                    },
                ],
            }
        ],
        sliders=[
            {
                "active": index,
                "x": 0.3,
                "len": 0.7,
                "y": -0.1,
                "yanchor": "top",
                "pad": {"t": 10},
                "currentvalue": {"prefix": "p = "},
                "steps": [
                    {
                        "label": str(int(p)),
                        "method": "animate",
                        "args": [
                            [str(int(p))],
                            {
                                "frame": {"duration": 0, "redraw": True},
                                "mode": "immediate",
                                "transition": {"duration": 0},
                            },
                        ],
                    }
                    for p in p_values
                ],
            }
        ],
    )
    return fig
