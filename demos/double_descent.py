"""Bias–variance and double descent, computed live: the U-curve of the under-parameterised regime, the
peak at the interpolation threshold p = n, the second descent beyond it, and the closed-form theory."""

import math

import streamlit as st

from models import double_descent as dd
from models.limits import MAX_SEED
from ui import double_descent_charts as charts
from ui.figures import show_figure
from ui.lecture import demo_columns, how_it_works, more_controls, page_lead
from ui.url_state import UrlState

VIEWS = {
    "bv": "🎯 Bias–variance",
    "dd": "📉 Double descent",
    "steps": "▶️ Step by step",
    "theory": "📐 Theory: linear model",
    "samples": "📊 More data can hurt",
}
TARGET_NAMES = {"sine": "sin(πx)", "step": "step", "cubic": "cubic"}
MODEL_NAMES = {"polynomial": "polynomial", "knn": "k-NN"}
FEATURE_NAMES = {"relu": "ReLU", "fourier": "Fourier"}
RF_TARGET_NAMES = {"linear": "linear", "nonlinear": "curved", "sign": "sign"}
# The ridge slider's stops, log-spaced, 0 first (the minimum-norm solution).
RIDGE_STOPS = (0.0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)

url = UrlState("dd")


# ---------------------------------------------------------------------------------------
# Cached simulations: the settings dataclasses are frozen, so they hash by their fields


@st.cache_data(max_entries=32, show_spinner="Fitting every capacity to many training sets…")
def bias_variance(settings: dd.BiasVarianceSettings) -> dd.BiasVarianceResult:
    return dd.simulate_bias_variance(settings)


@st.cache_data(max_entries=32, show_spinner="Sweeping the number of features p through p = n…")
def random_features(settings: dd.RandomFeaturesSettings) -> dd.RandomFeaturesResult:
    return dd.simulate_random_features(settings)


@st.cache_data(max_entries=32, show_spinner="Fitting every p to one training set…")
def fit_path(settings: dd.FitPathSettings) -> dd.FitPath:
    return dd.simulate_fit_path(settings)


@st.cache_data(max_entries=32, show_spinner="Simulating the linear model…")
def linear_model(settings: dd.LinearModelSettings) -> dd.LinearModelResult:
    return dd.simulate_linear_model(settings)


# ---------------------------------------------------------------------------------------
# Shared controls and output


def ridge_slider(name: str) -> float:
    """λ on log-spaced stops. A λ from the link that is not a stop snaps to the nearest one."""
    key = url.float(name, 0.0, 0.0, RIDGE_STOPS[-1])
    st.session_state[key] = nearest_stop(st.session_state[key])
    return st.select_slider(
        "Ridge λ",
        RIDGE_STOPS,
        key=key,
        format_func=lambda ridge: "0" if ridge == 0 else f"{ridge:g}",
        help="Explicit regularisation: adds λ‖weights‖² to the training loss. 0 gives the minimum-norm fit.",
    )


def nearest_stop(ridge: float) -> float:
    def distance(stop: float) -> float:
        return abs(math.log10(max(stop, 1e-7)) - math.log10(max(ridge, 1e-7)))

    return min(RIDGE_STOPS, key=distance)


def ridges_with_reference(ridge: float) -> tuple[float, ...]:
    """(0, λ) when λ > 0, so the charts can draw the ridgeless curve faintly behind the chosen one."""
    return (0.0, ridge) if ridge > 0 else (0.0,)


def noise_slider(name: str, default: float) -> float:
    return st.slider(
        "Noise σ",
        0.0,
        dd.MAX_NOISE_SD,
        step=0.05,
        key=url.float(name, default, 0.0, dd.MAX_NOISE_SD),
        help="Standard deviation of the label noise: y = f(x) + noise.",
    )


def target_control(name: str) -> str:
    """The 1-D true function f of the bias–variance and step-by-step views."""
    return st.segmented_control(
        "True function f",
        list(TARGET_NAMES),
        format_func=TARGET_NAMES.get,
        required=True,
        key=url.choice(name, "sine", list(TARGET_NAMES)),
        help="On [−1, 1]: sin(πx), a step at 0, or the cubic 2x³ − x.",
    )


def seed_input(name: str) -> int:
    return st.number_input(
        "Seed",
        0,
        MAX_SEED,
        step=1,
        key=url.int(name, 0, 0, MAX_SEED),
        help="The same seed gives exactly the same data, features and curves.",
    )


def finish_inputs() -> None:
    """After the last input of a view: mirror every value into the link, say what was ignored."""
    url.write()
    url.show_link_notes()


def show_note(note: str) -> None:
    if note:
        st.info(note, icon="✂️")


def show_clip_note(note: str, chosen_clipped: bool) -> None:
    """The result's clipping note; only a caption when just the faint λ = 0 reference was clipped."""
    if chosen_clipped:
        show_note(note)
    elif note:
        st.caption("In the faint λ = 0 reference curve: " + note)


# ---------------------------------------------------------------------------------------
# 1. Bias–variance


PRESENTER_CHART_ROOM = 470  # px below the view picker and the model's note, on a 1280 × 720 projector
BIAS_VARIANCE_INTRO = (
    "The lecture splits the test error of a learned model into **approximation error** (*bias*: the model "
    "class is too simple to contain the truth) and **estimation error** (*variance*: we only had a finite "
    "training set, and another training set gives another model), plus noise no model can predict. "
    "Here many training sets are drawn from the same distribution, every capacity is fitted to each, "
    "and all three terms are measured."
)


def bias_variance_view() -> None:
    inputs, main = demo_columns()
    with inputs:
        settings = bias_variance_settings()
    result = bias_variance(settings)
    with main:
        show_note(result.note)
        show_figure(
            charts.bias_variance_figure(result),
            name="bias-variance-decomposition",
            table=charts.bias_variance_table(result),
            key="bv-decomposition",
            main=True,
            room=PRESENTER_CHART_ROOM,
        )
        show_figure(
            charts.spread_figure(result), name="bias-variance-fits", table=charts.spread_table(result), key="bv-fits"
        )
    show_bias_variance_summary(result)
    with how_it_works():
        st.markdown(BIAS_VARIANCE_INTRO)


def bias_variance_settings() -> dd.BiasVarianceSettings:
    """The inputs that matter in one column, the sweep's finer settings folded below them."""
    target = target_control("bv_target")
    model = st.segmented_control(
        "Model class",
        list(MODEL_NAMES),
        format_func=MODEL_NAMES.get,
        required=True,
        key=url.choice("bv_model", "polynomial", list(MODEL_NAMES)),
        help="Least-squares polynomials, or k-nearest-neighbour averages.",
    )
    noise_column, n_column = st.columns(2)
    with noise_column:
        noise_sd = noise_slider("bv_noise", 0.3)
    with n_column:
        n_train = st.slider(
            "Training points n",
            1,
            dd.MAX_TRAIN_1D,
            key=url.int("bv_n", 30, 1, dd.MAX_TRAIN_1D),
            help="Points in each training set, x uniform on [−1, 1].",
        )
    capacity = capacity_slider(model, n_train)
    n_resamples, n_curves, seed, largest_degree = sweep_settings(model)
    finish_inputs()
    return dd.BiasVarianceSettings(
        target=target,
        model=model,
        noise_sd=noise_sd,
        n_train=n_train,
        n_resamples=n_resamples,
        max_degree=max(largest_degree, capacity) if model == "polynomial" else 0,
        spread_capacity=capacity,
        n_spread_curves=n_curves,
        seed=seed,
    )


def sweep_settings(model: str) -> tuple[int, int, int, int]:
    """(training sets, fits drawn, seed, largest degree swept; 0 for k-NN), folded in lecture mode."""
    with more_controls():
        sets_column, curves_column = st.columns(2)
        n_resamples = sets_column.slider(
            "Training sets",
            2,
            dd.MAX_RESAMPLES,
            key=url.int("bv_sets", 200, 2, dd.MAX_RESAMPLES),
            help="Independent training sets the averages run over: more sets, smoother curves.",
        )
        n_curves = curves_column.slider(
            "Fits drawn",
            1,
            dd.MAX_SPREAD_CURVES,
            key=url.int("bv_curves", 5, 1, dd.MAX_SPREAD_CURVES),
            help="How many training sets' fits the right-hand chart draws.",
        )
        seed_column, degree_column = st.columns(2)
        with seed_column:
            seed = seed_input("bv_seed")
        largest_degree = 0  # k-NN sweeps k from n down to 1 instead
        if model == "polynomial":
            largest_degree = degree_column.slider(
                "Largest degree in the sweep",
                1,
                dd.MAX_POLY_DEGREE,
                key=url.int("bv_max_degree", 10, 1, dd.MAX_POLY_DEGREE),
                help="The chosen degree is always included.",
            )
    return n_resamples, n_curves, seed, largest_degree


def capacity_slider(model: str, n_train: int) -> int:
    """The capacity the fitted-curves panel shows: a degree, or k (at most n, so it is clamped to n)."""
    if model == "polynomial":
        return st.slider(
            "Capacity: polynomial degree",
            0,
            dd.MAX_POLY_DEGREE,
            key=url.int("bv_degree", 3, 0, dd.MAX_POLY_DEGREE),
            help="Degree of the fitted polynomial (least squares; minimum norm once degree + 1 > n).",
        )
    key = url.int("bv_k", 5, 1, dd.MAX_TRAIN_1D)
    if n_train == 1:
        st.caption("Capacity: k = 1, the only choice with one training point.")
        return 1
    st.session_state[key] = min(st.session_state[key], n_train)
    return st.slider(
        "Capacity: k neighbours (smaller k is more flexible)",
        1,
        n_train,
        key=key,
        help="k-NN predicts the mean label of the k closest training points. k = n is the flat mean.",
    )


def show_bias_variance_summary(result: dd.BiasVarianceResult) -> None:
    best = int(result.expected_test_error.argmin())
    gap = abs(result.total - result.expected_test_error) / result.expected_test_error
    unit = "degree" if result.settings.model == "polynomial" else "k ="
    first, second, third = st.columns(3)
    first.metric(
        "Lowest measured test error",
        f"{result.expected_test_error[best]:.3g}",
        help=f"at {unit} {result.capacities[best]}",
    )
    second.metric("Best capacity", f"{unit} {result.capacities[best]}")
    third.metric(
        "bias² + variance + noise vs measured",
        f"within {gap.max():.1%}",
        help="Largest relative gap over all capacities; it shrinks as the number of training sets grows.",
    )
    st.markdown(
        "**Reading the charts.** Left: as the class gets richer, bias² falls and variance rises, so their sum "
        "with the noise makes the classic **U-curve**: the bias–variance trade-off. The open dots are the test "
        "error measured on fresh noisy points; they sit on the sum. Right: each thin curve is the fit to "
        "another training set at the chosen capacity. Their **spread** around the average fit (dashed) is the "
        "variance; the gap between the average fit and the true function (black) is the bias."
    )
    st.caption(
        "How bias² is measured: the average fit is itself noisy (it averages only the training sets drawn), so "
        "(average fit − f)² would add about variance ÷ (number of sets) and show bias growing at high capacity, "
        "where it does not. The page averages (fitᵢ − f)(fitⱼ − f) over pairs of *different* training sets "
        "instead, which has no such excess. Its bars are ±2 Monte Carlo standard errors: where they reach the "
        "bottom of the chart, bias² is zero within what these training sets can tell."
    )


# ---------------------------------------------------------------------------------------
# 2. Model-wise double descent with random features


DOUBLE_DESCENT_INTRO = (
    "The lecture's **double descent**: beyond a point, the test error falls again as the model grows. "
    "Random-features regression makes it visible in seconds. Each feature is a fixed random function "
    "of the input (a ReLU or a cosine of a random projection); only the output weights are learned, by "
    "least squares. With p features and n training points, p = n is the **interpolation threshold**."
)
WHY_THE_PEAK = (
    "**Why the peak is at p = n.** With p < n there are more equations than unknowns: least squares "
    "averages the noise away, and adding features trades bias for variance (the U-curve). At p = n the "
    "system is square: exactly one set of weights fits all n training labels, noise included. The feature "
    "matrix's smallest singular value is then close to 0, and the solution divides by it, so the noise is "
    "blown up: the peak.\n\n"
    "**Why it falls again.** With p > n infinitely many weight vectors interpolate the training data. "
    "Least squares (like gradient descent started at zero) returns the one of **minimum norm**, and the "
    "more features there are, the smaller that norm can be: an **implicit regularisation** that grows "
    "with p. A ridge λ > 0 regularises explicitly: it stops dividing by the tiny singular values and "
    "flattens the peak (the faint dashed curve is λ = 0)."
)


def double_descent_view() -> None:
    inputs, main = demo_columns()
    with inputs:
        settings = random_features_settings()
    result = random_features(settings)
    with main:
        show_clip_note(result.note, chosen_clipped=bool(result.test_error[-1].max() >= dd.ERROR_CAP))
        if settings.max_features <= settings.n_train:
            st.info(
                f"Every p here is at most n = {settings.n_train}: raise **Largest p** above n to cross the threshold.",
                icon="↔️",
            )
        show_figure(
            charts.random_features_figure(result),
            name="double-descent-random-features",
            table=charts.random_features_table(result),
            key="dd-random-features",
            main=True,
            room=PRESENTER_CHART_ROOM,
        )
    show_double_descent_summary(result)
    with how_it_works():
        st.markdown(DOUBLE_DESCENT_INTRO)
        st.markdown(WHY_THE_PEAK)


def random_features_settings() -> dd.RandomFeaturesSettings:
    """n, noise, ridge and seed in view; the features, target, repeats and sizes folded below them."""
    n_column, noise_column = st.columns(2)
    with n_column:
        n_train = st.slider("Training points n", 1, dd.MAX_N, key=url.int("rf_n", 100, 1, dd.MAX_N))
    with noise_column:
        noise_sd = noise_slider("rf_noise", 0.5)
    ridge_column, seed_column = st.columns(2)
    with ridge_column:
        ridge = ridge_slider("rf_ridge")
    with seed_column:
        seed = seed_input("rf_seed")
    with more_controls():
        feature_kind = st.segmented_control(
            "Features",
            list(FEATURE_NAMES),
            format_func=FEATURE_NAMES.get,
            required=True,
            key=url.choice("rf_features", "relu", list(FEATURE_NAMES)),
            help="relu(wᵀx) or √2·cos(wᵀx + b), with w and b drawn at random and then frozen.",
        )
        target = st.segmented_control(
            "Target",
            list(RF_TARGET_NAMES),
            format_func=RF_TARGET_NAMES.get,
            required=True,
            key=url.choice("rf_target", "linear", list(RF_TARGET_NAMES)),
            help="y = f(xᵀβ) + noise with a random unit vector β: f(t) = t, a curved t + (t² − 1)/√2 "
            "(rescaled), or sign(t).",
        )
        repeats_column, width_column, dim_column = st.columns(3)
        n_repeats = repeats_column.slider(
            "Repeats",
            1,
            dd.MAX_REPEATS,
            key=url.int("rf_repeats", 20, 1, dd.MAX_REPEATS),
            help="Independent draws of data and features; the band spans them.",
        )
        max_features = width_column.slider(
            "Largest p", 1, dd.MAX_FEATURES, key=url.int("rf_max_p", 1000, 1, dd.MAX_FEATURES)
        )
        input_dim = dim_column.slider(
            "Input dimension d", 1, dd.MAX_INPUT_DIM, key=url.int("rf_dim", 20, 1, dd.MAX_INPUT_DIM)
        )
    finish_inputs()
    return dd.RandomFeaturesSettings(
        n_train=n_train,
        input_dim=input_dim,
        feature_kind=feature_kind,
        target=target,
        noise_sd=noise_sd,
        ridges=ridges_with_reference(ridge),
        max_features=max_features,
        n_repeats=n_repeats,
        seed=seed,
    )


def show_double_descent_summary(result: dd.RandomFeaturesResult) -> None:
    summary = charts.random_features_summary(result)
    labels = {
        "peak": "Highest test error",
        "best p < n": "Best under-parameterised",
        "largest p": "Most over-parameterised",
    }
    for column, (name, (p, error)) in zip(st.columns(len(summary)), summary.items()):
        column.metric(f"{labels[name]} (p = {p})", f"{error:.3g}", help="Median test error over the repeats.")


# ---------------------------------------------------------------------------------------
# 2b. Double descent step by step


STEP_TEXT = (
    "One training set, one model class, more and more features: press **Play** to sweep p, or pick p below. "
    "The model is the bias–variance view's polynomial (Legendre polynomials, higher degrees made costlier), "
    "now allowed more features p than training points n. **Below n** it is the familiar U: too few features "
    "underfit, more fit better, then start chasing the noise. **At p = n** exactly one curve passes through "
    "every point, noise included, and it swings wildly between them: the test error peaks. **Above n** many "
    "curves pass through every point; least squares returns the one with the smallest coefficients, and with "
    "more features that one gets smoother: the test error comes down again (the second descent)."
)


def double_descent_steps_view() -> None:
    st.markdown(STEP_TEXT)
    n_column, noise_column, ridge_column, target_column = st.columns(4)
    with n_column:
        n_train = st.slider("Training points n", 2, dd.MAX_STEP_TRAIN, key=url.int("st_n", 15, 2, dd.MAX_STEP_TRAIN))
    with noise_column:
        noise_sd = noise_slider("st_noise", 0.3)
    with ridge_column:
        ridge = ridge_slider("st_ridge")
    with target_column:
        target = target_control("st_target")
    with more_controls():
        largest_column, seed_column = st.columns(2)
        largest = largest_column.slider(
            "Largest p",
            1,
            dd.MAX_STEP_FEATURES,
            key=url.int("st_max_p", 300, 1, dd.MAX_STEP_FEATURES),
        )
        with seed_column:
            seed = seed_input("st_seed")
    settings = dd.FitPathSettings(
        target=target, n_train=n_train, noise_sd=noise_sd, ridge=ridge, max_features=largest, seed=seed
    )
    path = fit_path(settings)
    p_values = [int(p) for p in path.n_features]
    p_key = url.int("st_p", n_train, 1, dd.MAX_STEP_FEATURES)
    # The sweep's p values change with n and the largest p: snap the chosen p to the nearest one.
    st.session_state[p_key] = min(p_values, key=lambda p: abs(p - st.session_state[p_key]))
    chosen = st.select_slider("Features p (step through the sweep)", p_values, key=p_key)
    finish_inputs()
    index = p_values.index(chosen)
    show_note(path.note)
    show_figure(
        charts.fit_path_figure(path, index),
        name="double-descent-step-by-step",
        table=charts.fit_path_table(path),
        key="dd-steps",
    )
    show_step_summary(path, index)


def show_step_summary(path: dd.FitPath, index: int) -> None:
    p, n = int(path.n_features[index]), path.threshold
    train, test, norm = st.columns(3)
    train.metric(
        f"Train error at p = {p}",
        f"{path.train_error[index]:.3g}",
        help="Mean squared error on the n training points: 0 once the curve passes through all of them.",
    )
    error = path.test_error[index]
    test.metric(
        f"Test error at p = {p}",
        f"≥ {dd.ERROR_CAP:g}" if error >= dd.ERROR_CAP else f"{error:.3g}",
        help="Expected squared error on a fresh point (x uniform on [−1, 1], with noise): at least σ².",
    )
    norm.metric(
        "Size of the coefficients ‖c‖",
        f"{path.weight_norm[index]:.3g}",
        help="Past p = n, the minimum-norm fit's coefficients shrink as p grows: the implicit regularisation.",
    )
    if p == n:
        st.caption("p = n: as many features as points. One curve fits every noisy point exactly, whatever it takes.")
    elif p > n:
        st.caption(
            f"p > n: {p - n} more features than points. Infinitely many curves fit every point; this is the "
            "one with the smallest coefficients."
        )


# ---------------------------------------------------------------------------------------
# 3 and 4. The linear model and its closed-form risk


THEORY_FORMULA = (
    r"R(\gamma) = \begin{cases} \sigma^2 \dfrac{\gamma}{1-\gamma} & \gamma < 1 \\[6pt]"
    r" r^2\left(1 - \dfrac{1}{\gamma}\right) + \dfrac{\sigma^2}{\gamma - 1} & \gamma > 1 \end{cases}"
)


def theory_view() -> None:
    st.markdown(
        "In the simplest model, **y = xᵀβ + noise** with Gaussian inputs x in p dimensions and ‖β‖ = r, "
        "Hastie, Montanari, Rosset & Tibshirani (2019, *Surprises in high-dimensional ridgeless least squares "
        "interpolation*) computed the excess test error of the minimum-norm least-squares fit exactly, in the "
        "limit n, p → ∞ with γ = p / n fixed:"
    )
    st.latex(THEORY_FORMULA)
    st.markdown(
        "Below the threshold there is no bias (the true β is in the class) and the variance grows as γ → 1. "
        "Above it the fit interpolates: the variance falls as p grows, while the bias rises, since the n "
        "training points can only pin down an n-dimensional part of β. The chart adds σ² to R to give the "
        "test error; the dots are the simulation at finite n, and they should sit on the curve."
    )
    n_column, noise_column, signal_column, ridge_column = st.columns(4)
    with n_column:
        n_train = st.slider("Training points n", 1, dd.MAX_N, key=url.int("lm_n", 100, 1, dd.MAX_N))
    with noise_column:
        noise_sd = noise_slider("lm_noise", 0.5)
    with signal_column:
        signal = st.slider(
            "Signal ‖β‖ = r",
            0.0,
            dd.MAX_SIGNAL,
            step=0.1,
            key=url.float("lm_signal", 1.0, 0.0, dd.MAX_SIGNAL),
        )
    with ridge_column:
        ridge = ridge_slider("lm_ridge")
    with more_controls():
        repeats_column, width_column, seed_column = st.columns(3)
        n_repeats = repeats_column.slider(
            "Repeats", 1, dd.MAX_REPEATS, key=url.int("lm_repeats", 20, 1, dd.MAX_REPEATS)
        )
        largest = width_column.slider(
            "Largest p", 1, dd.MAX_FEATURES, key=url.int("lm_max_p", 1000, 1, dd.MAX_FEATURES)
        )
        with seed_column:
            seed = seed_input("lm_seed")
    finish_inputs()

    settings = dd.LinearModelSettings(
        sweep="features",
        n_train=n_train,
        sweep_max=largest,
        signal=signal,
        noise_sd=noise_sd,
        ridges=ridges_with_reference(ridge),
        n_repeats=n_repeats,
        seed=seed,
    )
    show_linear_model(settings, "theory-linear-model-features")
    if noise_sd == 0:
        st.caption("Without noise there is nothing to blow up: no peak at γ = 1, only the bias beyond it.")


def samples_view() -> None:
    st.markdown(
        "**Sample-wise double descent.** Fix the number of parameters p and add training data instead. "
        "Near n = p the system becomes square again, so the same peak appears: for a while, **more data "
        "makes the minimum-norm fit worse**. A ridge λ > 0 removes the effect."
    )
    p_column, noise_column, ridge_column = st.columns(3)
    with p_column:
        n_features = st.slider("Parameters p", 1, dd.MAX_N, key=url.int("sw_p", 50, 1, dd.MAX_N))
    with noise_column:
        noise_sd = noise_slider("sw_noise", 0.5)
    with ridge_column:
        ridge = ridge_slider("sw_ridge")
    with more_controls():
        largest_column, signal_column, repeats_column, seed_column = st.columns(4)
        largest = largest_column.slider("Largest n", 1, dd.MAX_N, key=url.int("sw_max_n", dd.MAX_N, 1, dd.MAX_N))
        signal = signal_column.slider(
            "Signal ‖β‖ = r",
            0.0,
            dd.MAX_SIGNAL,
            step=0.1,
            key=url.float("sw_signal", 1.0, 0.0, dd.MAX_SIGNAL),
        )
        n_repeats = repeats_column.slider(
            "Repeats", 1, dd.MAX_REPEATS, key=url.int("sw_repeats", 20, 1, dd.MAX_REPEATS)
        )
        with seed_column:
            seed = seed_input("sw_seed")
    finish_inputs()

    settings = dd.LinearModelSettings(
        sweep="samples",
        n_features=n_features,
        sweep_max=largest,
        signal=signal,
        noise_sd=noise_sd,
        ridges=ridges_with_reference(ridge),
        n_repeats=n_repeats,
        seed=seed,
    )
    if largest <= n_features:
        st.info(
            f"Every n here is at most p = {n_features}: raise **Largest n** above p to cross the threshold.", icon="↔️"
        )
    result = show_linear_model(settings, "theory-linear-model-samples")
    hurt = charts.sample_wise_summary(result)
    if hurt:
        best_n, best_error, threshold_error = hurt
        st.markdown(
            f"Here, going from **n = {best_n}** to **n = {n_features}** training points raised the mean test "
            f"error from **{best_error:.3g}** to **{threshold_error:.3g}**."
        )


def show_linear_model(settings: dd.LinearModelSettings, name: str) -> dd.LinearModelResult:
    result = linear_model(settings)
    show_clip_note(result.note, chosen_clipped=bool(result.excess_risk[-1].max() >= dd.ERROR_CAP))
    show_figure(charts.linear_model_figure(result), name=name, table=charts.linear_model_table(result), key=name)
    return result


# ---------------------------------------------------------------------------------------
# The page

LEAD = (
    "Test error against model capacity, computed live: the classic U of **bias–variance**, and the **double "
    "descent** past the interpolation threshold, where a model just able to fit every training point peaks."
)


def page() -> None:
    page_lead("📉 Bias–variance & double descent", LEAD)
    view = st.segmented_control(
        "View", list(VIEWS), format_func=VIEWS.get, key=url.choice("view", "bv", list(VIEWS)), required=True
    )
    if view == "dd":
        double_descent_view()
    elif view == "steps":
        double_descent_steps_view()
    elif view == "theory":
        theory_view()
    elif view == "samples":
        samples_view()
    else:
        bias_variance_view()


page()
