"""models/double_descent.py against theory, invariants and independent computations.

Nothing here compares against a number the module itself produced earlier: expected values come from
the closed-form risk of Hastie et al. (2019), a numerical integral over the Marchenko–Pastur law,
numpy's own least squares (lstsq, polyfit), brute-force k-NN, or exact identities.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import integrate

from models import double_descent as dd

GAMMAS = (0.5, 0.8, 1.5, 2.0, 4.0)


# ---------------------------------------------------------------- independent theory, written here


def ridgeless_risk(gamma: float, signal_sq: float, noise_var: float) -> float:
    """Hastie, Montanari, Rosset & Tibshirani (2019), Theorem 1, isotropic features."""
    if gamma < 1:
        return noise_var * gamma / (1 - gamma)
    return signal_sq * (1 - 1 / gamma) + noise_var / (gamma - 1)


def ridge_risk_by_integration(gamma: float, signal_sq: float, noise_var: float, ridge: float) -> float:
    """Ridge risk as integrals over the Marchenko–Pastur law of XᵀX/n (ratio γ = p/n):
    bias = r² λ² ∫ dF(s) / (s + λ)², variance = σ² γ ∫ s dF(s) / (s + λ)²;
    for γ > 1 the law has an atom of mass 1 − 1/γ at 0 (only the bias sees it)."""
    low, high = (1 - np.sqrt(gamma)) ** 2, (1 + np.sqrt(gamma)) ** 2

    def density(s: float) -> float:
        return np.sqrt(max((high - s) * (s - low), 0.0)) / (2 * np.pi * gamma * s)

    bias_integral = integrate.quad(lambda s: density(s) / (s + ridge) ** 2, low, high, epsabs=1e-12, limit=200)[0]
    variance_integral = integrate.quad(lambda s: density(s) * s / (s + ridge) ** 2, low, high, epsabs=1e-12, limit=200)[
        0
    ]
    atom = max(1 - 1 / gamma, 0.0)
    bias = signal_sq * ridge**2 * (bias_integral + atom / ridge**2)
    return bias + noise_var * gamma * variance_integral


def all_finite(result) -> bool:
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, (np.ndarray, float)) and not np.all(np.isfinite(value)):
            return False
    return True


def assert_identical(a, b) -> None:
    for field in dataclasses.fields(a):
        left, right = getattr(a, field.name), getattr(b, field.name)
        if isinstance(left, np.ndarray):
            assert np.array_equal(left, right), field.name
        else:
            assert left == right, field.name


# ---------------------------------------------------------------- the shared solver


@pytest.mark.parametrize("n", [1, 7, 40])
def test_min_norm_fit_matches_lstsq_on_every_column_prefix(n):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, 3 * n + 5)), rng.standard_normal(n)
    sizes = sorted({1, max(n - 1, 1), n, n + 1, 2 * n, 3 * n + 5})
    for p, coef in zip(sizes, dd.fit_nested(x, y, sizes, np.zeros(1))):
        expected = np.linalg.lstsq(x[:, :p], y, rcond=None)[0]  # minimum-norm solution, via SVD
        np.testing.assert_allclose(coef[:, 0], expected, rtol=1e-7, atol=1e-9)


def test_min_norm_fit_matches_lstsq_on_every_row_prefix():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((90, 30)), rng.standard_normal(90)
    sizes = [1, 10, 29, 30, 31, 60, 90]
    for n, coef in zip(sizes, dd.fit_nested(x, y, sizes, np.zeros(1), nested="rows")):
        expected = np.linalg.lstsq(x[:n], y[:n], rcond=None)[0]
        np.testing.assert_allclose(coef[:, 0], expected, rtol=1e-7, atol=1e-9)


def test_ridge_fit_matches_normal_equations_batched_and_per_size_targets():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 20, 50))  # a batch of 3 problems
    sizes = [5, 20, 50]
    targets = rng.standard_normal((3, 20, len(sizes)))  # a different target vector per size
    penalties = np.array([0.1, 10.0])
    for i, (p, coef) in enumerate(zip(sizes, dd.fit_nested(x, targets, sizes, penalties))):
        for b in range(3):
            xp = x[b, :, :p]
            for j, penalty in enumerate(penalties):
                expected = np.linalg.solve(xp.T @ xp + penalty * np.eye(p), xp.T @ targets[b, :, i])
                np.testing.assert_allclose(coef[b, :, j], expected, rtol=1e-8, atol=1e-10)


def test_rank_deficient_features_give_the_minimum_norm_solution():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((30, 10))
    x = np.concatenate([base, base], axis=1)  # every column twice: rank 10 at p = 20
    y = rng.standard_normal(30)
    (coef,) = dd.fit_nested(x, y, [20], np.zeros(1))
    np.testing.assert_allclose(coef[:, 0], np.linalg.pinv(x) @ y, rtol=1e-7, atol=1e-9)


def test_sweep_grid_passes_through_the_threshold():
    grid = dd.sweep_grid(100, 1000, 40)
    assert grid.size >= 40 and grid[0] == 1 and grid[-1] == 1000
    assert {99, 100, 101} <= set(grid.tolist())
    assert np.all(np.diff(grid) > 0)


# ---------------------------------------------------------------- double descent


@pytest.fixture(scope="module")
def random_features_sweep():
    """n = 60, p from 1 to 600; ridges: exactly 0, practically 0, and two large ones."""
    settings = dd.RandomFeaturesSettings(
        n_train=60, max_features=600, n_repeats=10, noise_sd=0.5, ridges=(0.0, 1e-8, 1e-2, 1.0)
    )
    return dd.simulate_random_features(settings)


@pytest.mark.parametrize("ridge_index", [0, 1])
def test_ridgeless_test_error_peaks_at_the_interpolation_threshold(random_features_sweep, ridge_index):
    r = random_features_sweep
    curve = r.test_median[ridge_index]
    peak_p = r.n_features[np.argmax(curve)]
    assert r.threshold / 1.5 <= peak_p <= 1.5 * r.threshold
    # a real peak: well above the error of both the small and the very wide models
    assert curve.max() > 3 * curve[r.n_features <= r.threshold // 4].max()
    assert curve.max() > 3 * curve[-1]


def test_ridgeless_fit_interpolates_beyond_the_threshold(random_features_sweep):
    r = random_features_sweep
    over = r.n_features >= r.threshold
    assert np.all(r.train_mean[0, over] < 1e-8)
    assert np.all(r.train_mean[0, r.n_features < r.threshold - 5] > 1e-3)
    assert np.all(r.train_mean[2:, over] > 1e-4)  # a real ridge never interpolates


@pytest.mark.parametrize("ridge_index", [2, 3])
def test_a_large_ridge_removes_the_peak(random_features_sweep, ridge_index):
    r = random_features_sweep
    curve = r.test_mean[ridge_index]
    # monotone up to noise: no step up by more than 5 %, and nothing near p = n above the small models
    assert np.all(np.diff(curve) <= 0.05 * curve[:-1])
    near = (r.n_features >= r.threshold / 2) & (r.n_features <= 2 * r.threshold)
    assert curve[near].max() <= 1.1 * curve[r.n_features <= r.threshold / 4].min()


def test_errors_never_exceed_the_cap_and_clipping_is_reported():
    # exactly at p = n with strong noise and no ridge, the excess risk σ² tr((XᵀX)⁻¹) explodes
    settings = dd.LinearModelSettings(n_train=200, sweep_sizes=(200,), noise_sd=2.0, n_repeats=10)
    r = dd.simulate_linear_model(settings)
    assert r.clipped and "clipped" in r.note
    assert r.excess_risk.max() == dd.ERROR_CAP and all_finite(r)


def test_clipping_replaces_nan_and_inf_and_counts_them():
    clipped, count = dd._clip_errors(np.array([0.5, np.nan, np.inf, 2 * dd.ERROR_CAP]))
    assert count == 3 and clipped.tolist() == [0.5, dd.ERROR_CAP, dd.ERROR_CAP, dd.ERROR_CAP]


# ---------------------------------------------------------------- theory: linear model


@pytest.mark.parametrize("gamma", GAMMAS)
@pytest.mark.parametrize("ridge", [0.05, 0.5])
def test_ridge_theory_matches_marchenko_pastur_integral(gamma, ridge):
    got = dd.linear_excess_risk_theory(gamma, signal_sq=1.5, noise_var=0.3, ridge=ridge)
    assert got == pytest.approx(ridge_risk_by_integration(gamma, 1.5, 0.3, ridge), rel=1e-6)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_theory_is_the_ridgeless_formula_at_zero_ridge_and_continuous_in_ridge(gamma):
    expected = ridgeless_risk(gamma, 1.5, 0.3)
    assert dd.linear_excess_risk_theory(gamma, 1.5, 0.3, 0.0) == pytest.approx(expected, rel=1e-12)
    assert dd.linear_excess_risk_theory(gamma, 1.5, 0.3, 1e-7) == pytest.approx(expected, rel=1e-4)


def test_theory_is_capped_at_the_threshold():
    assert dd.linear_excess_risk_theory(1.0, 1.0, 0.25, 0.0) == dd.ERROR_CAP


@pytest.mark.parametrize("sweep", ["features", "samples"])
def test_linear_model_simulation_matches_theory(sweep):
    ridges = (0.0, 0.1)
    if sweep == "features":  # n = 200, p = γ n
        settings = dd.LinearModelSettings(
            sweep="features",
            n_train=200,
            sweep_max=800,
            sweep_sizes=(100, 160, 300, 400, 800),
            ridges=ridges,
            n_repeats=30,
        )
    else:  # p = 100, n = p / γ
        settings = dd.LinearModelSettings(
            sweep="samples",
            n_features=100,
            sweep_max=200,
            sweep_sizes=(25, 50, 67, 125, 200),
            ridges=ridges,
            n_repeats=30,
        )
    r = dd.simulate_linear_model(settings)
    signal_sq, noise_var = settings.signal**2, settings.noise_sd**2
    for i, gamma in enumerate(r.gamma):
        theory = (
            ridgeless_risk(gamma, signal_sq, noise_var),
            ridge_risk_by_integration(gamma, signal_sq, noise_var, 0.1),
        )
        for j in range(len(ridges)):
            # sampling tolerance: 4 standard errors of the mean over repeats, plus 6 % for finite n
            # (at n = 200, γ = 0.8 the exact finite-n risk is already 2.6 % above the limit)
            samples = r.excess_risk[j, i]
            tolerance = 4 * samples.std(ddof=1) / np.sqrt(samples.size) + 0.06 * theory[j]
            assert abs(r.risk_mean[j, i] - theory[j]) <= tolerance, (gamma, ridges[j])
    assert not r.clipped


def test_more_data_can_hurt_near_n_equals_p():
    settings = dd.LinearModelSettings(
        sweep="samples", n_features=50, sweep_max=200, sweep_sizes=(25, 50, 200), n_repeats=10
    )
    r = dd.simulate_linear_model(settings)
    half, matched, plenty = np.median(r.excess_risk[0], axis=-1)  # n = p/2, n = p, n = 4p
    assert matched > 3 * half  # doubling the data to n = p made the fit far worse...
    assert plenty < half  # ...until there is much more of it


# ---------------------------------------------------------------- bias–variance


@pytest.mark.parametrize("model", ["polynomial", "knn"])
def test_bias_variance_and_noise_add_up_to_the_measured_test_error(model):
    settings = dd.BiasVarianceSettings(
        model=model, target="sine", n_train=30, max_degree=8, noise_sd=0.5, n_resamples=200, n_test=500
    )
    r = dd.simulate_bias_variance(settings)
    np.testing.assert_allclose(r.total, r.expected_test_error, rtol=0.03)
    np.testing.assert_allclose(r.total, r.bias_sq + r.variance + 0.25, rtol=1e-12)
    assert not r.clipped


@pytest.mark.parametrize("model", ["polynomial", "knn"])
def test_without_noise_the_decomposition_is_exact(model):
    r = dd.simulate_bias_variance(dd.BiasVarianceSettings(model=model, target="step", noise_sd=0.0, n_resamples=50))
    np.testing.assert_allclose(r.bias_sq + r.variance, r.expected_test_error, rtol=1e-9)


@pytest.mark.parametrize("model", ["polynomial", "knn"])
def test_the_constant_model_has_the_textbook_bias_and_variance(model):
    # degree 0 and k = n both predict the training mean ȳ: bias² = E[f²] = 1/2 for sin(πx) on
    # U[-1, 1] (E f = 0), variance = Var(ȳ) = (Var f + σ²) / n
    n, noise_sd = 10, 0.5
    settings = dd.BiasVarianceSettings(
        model=model, target="sine", n_train=n, noise_sd=noise_sd, n_resamples=300, n_test=1000, max_degree=0
    )
    r = dd.simulate_bias_variance(settings)
    constant = 0 if model == "polynomial" else int(np.flatnonzero(r.capacities == n)[0])
    assert r.bias_sq[constant] == pytest.approx(0.5, rel=0.1)
    assert r.variance[constant] == pytest.approx((0.5 + noise_sd**2) / n, rel=0.25)


def test_polynomial_fits_match_numpy_polyfit():
    r = dd.simulate_bias_variance(dd.BiasVarianceSettings(model="polynomial", spread_capacity=5, n_resamples=20))
    for x, y, curve in zip(r.spread_x, r.spread_y, r.spread_curves):
        expected = np.polynomial.Polynomial.fit(x, y, 5)(r.grid_x)
        np.testing.assert_allclose(curve, expected, rtol=1e-8, atol=1e-8)


def test_knn_fits_match_brute_force():
    r = dd.simulate_bias_variance(dd.BiasVarianceSettings(model="knn", spread_capacity=4, n_resamples=20))
    for x, y, curve in zip(r.spread_x, r.spread_y, r.spread_curves):
        nearest = np.argsort(np.abs(r.grid_x[:, None] - x[None, :]), axis=1)[:, :4]
        np.testing.assert_allclose(curve, y[nearest].mean(axis=1), rtol=1e-12)


def test_bias_falls_and_variance_rises_with_capacity():
    r = dd.simulate_bias_variance(dd.BiasVarianceSettings(model="knn", n_train=40, noise_sd=0.5))
    assert r.bias_sq[0] > 10 * r.bias_sq[-1]  # k = n vs k = 1
    assert r.variance[-1] > 3 * r.variance[0]
    assert r.train_error[-1] == pytest.approx(0.0, abs=1e-12)  # 1-NN predicts its own label


# ---------------------------------------------------------------- reproducibility, limits, edges


@pytest.mark.parametrize(
    "simulate, settings",
    [
        (dd.simulate_bias_variance, dd.BiasVarianceSettings(n_resamples=30)),
        (dd.simulate_bias_variance, dd.BiasVarianceSettings(model="knn", n_resamples=30)),
        (
            dd.simulate_random_features,
            dd.RandomFeaturesSettings(n_train=30, max_features=200, n_repeats=3, ridges=(0.0, 0.1)),
        ),
        (
            dd.simulate_random_features,
            dd.RandomFeaturesSettings(n_train=30, max_features=200, n_repeats=3, feature_kind="fourier"),
        ),
        (dd.simulate_linear_model, dd.LinearModelSettings(n_train=30, sweep_max=200, n_repeats=3)),
        (
            dd.simulate_linear_model,
            dd.LinearModelSettings(sweep="samples", n_features=30, sweep_max=200, n_repeats=3),
        ),
    ],
)
def test_same_seed_same_result_other_seed_other_result(simulate, settings):
    first, again = simulate(settings), simulate(settings)
    assert_identical(first, again)
    other = simulate(dataclasses.replace(settings, seed=settings.seed + 1))
    with pytest.raises(AssertionError):
        assert_identical(first, other)


@pytest.mark.parametrize("n, p", [(1, 1), (1, 5), (5, 1), (2, 2), (30, 30)])
@pytest.mark.parametrize("noise_sd", [0.0, 0.5])
def test_tiny_problems_stay_finite(n, p, noise_sd):
    for kind in ("relu", "fourier"):
        rf = dd.RandomFeaturesSettings(
            n_train=n,
            max_features=p,
            input_dim=1,
            feature_kind=kind,
            noise_sd=noise_sd,
            n_repeats=3,
            ridges=(0.0, 1e-3),
        )
        assert all_finite(dd.simulate_random_features(rf))
    for sweep in ("features", "samples"):
        linear = dd.LinearModelSettings(
            sweep=sweep,
            n_train=n,
            n_features=p,
            sweep_max=max(n, p),
            noise_sd=noise_sd,
            n_repeats=3,
            ridges=(0.0, 0.1),
        )
        assert all_finite(dd.simulate_linear_model(linear))
    for model in ("polynomial", "knn"):
        bv = dd.BiasVarianceSettings(
            model=model,
            n_train=n,
            noise_sd=noise_sd,
            max_degree=min(p, dd.MAX_POLY_DEGREE),
            spread_capacity=min(p, dd.MAX_POLY_DEGREE),
            n_resamples=5,
        )
        assert all_finite(dd.simulate_bias_variance(bv))


def test_zero_ridge_exactly_at_p_equals_n_without_noise_recovers_the_signal():
    # noiseless, square, invertible: the unique solution is β itself
    r = dd.simulate_linear_model(dd.LinearModelSettings(n_train=50, sweep_sizes=(50,), noise_sd=0.0, n_repeats=3))
    assert r.excess_risk.max() < 1e-12
    assert np.all(r.theory_risk == 0.0)  # and so says the theory: no noise, nothing to overfit


def test_largest_slider_values_stay_finite():
    # the numerically extreme corners; repeats and grid sizes only cost time, so those stay small
    rf = dd.RandomFeaturesSettings(
        n_train=dd.MAX_N,
        max_features=dd.MAX_FEATURES,
        input_dim=dd.MAX_INPUT_DIM,
        noise_sd=dd.MAX_NOISE_SD,
        ridges=(0.0, dd.MAX_RIDGE),
        n_grid=8,
        n_repeats=2,
        n_test=dd.MAX_TEST_POINTS,
    )
    assert all_finite(dd.simulate_random_features(rf))
    linear = dd.LinearModelSettings(
        n_train=dd.MAX_N,
        sweep_max=dd.MAX_FEATURES,
        signal=dd.MAX_SIGNAL,
        noise_sd=dd.MAX_NOISE_SD,
        ridges=(0.0, dd.MAX_RIDGE),
        n_grid=8,
        n_repeats=2,
    )
    assert all_finite(dd.simulate_linear_model(linear))
    bv = dd.BiasVarianceSettings(
        n_train=dd.MAX_TRAIN_1D,
        n_resamples=20,
        max_degree=dd.MAX_POLY_DEGREE,
        spread_capacity=dd.MAX_POLY_DEGREE,
        noise_sd=dd.MAX_NOISE_SD,
        n_spread_curves=dd.MAX_SPREAD_CURVES,
    )
    assert all_finite(dd.simulate_bias_variance(bv))
    high_degree = dd.BiasVarianceSettings(
        n_train=12, n_resamples=50, max_degree=dd.MAX_POLY_DEGREE, noise_sd=dd.MAX_NOISE_SD
    )
    assert all_finite(dd.simulate_bias_variance(high_degree))


@pytest.mark.parametrize(
    "make",
    [
        lambda: dd.RandomFeaturesSettings(n_train=0),
        lambda: dd.RandomFeaturesSettings(n_train=dd.MAX_N + 1),
        lambda: dd.RandomFeaturesSettings(n_train=2.5),
        lambda: dd.RandomFeaturesSettings(ridges=(-1.0,)),
        lambda: dd.RandomFeaturesSettings(ridges=()),
        lambda: dd.RandomFeaturesSettings(feature_kind="tanh"),
        lambda: dd.RandomFeaturesSettings(max_features=100, sweep_sizes=(101,)),
        lambda: dd.LinearModelSettings(noise_sd=float("nan")),
        lambda: dd.LinearModelSettings(sweep="samples", sweep_max=dd.MAX_N + 1),
        lambda: dd.BiasVarianceSettings(target="square wave"),
        lambda: dd.BiasVarianceSettings(n_resamples=dd.MAX_RESAMPLES + 1),
        lambda: dd.BiasVarianceSettings(seed=-1),
    ],
)
def test_settings_outside_the_limits_are_refused(make):
    with pytest.raises(ValueError):
        make()


def _mean_and_error(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(len(values))


def test_bias_sq_is_unbiased_where_the_plug_in_estimate_is_not():
    """Averaged over many runs, bias² from 3 training sets equals bias² from 300; the plug-in (mean fit − f)²
    from the same fits overshoots by about variance / 3, so it would show bias growing with capacity."""
    few = [dd.simulate_bias_variance(dd.BiasVarianceSettings(max_degree=4, n_resamples=3, seed=k)) for k in range(300)]
    many = [
        dd.simulate_bias_variance(dd.BiasVarianceSettings(max_degree=4, n_resamples=300, seed=10_000 + k))
        for k in range(20)
    ]
    reference, reference_error = _mean_and_error(np.array([r.bias_sq for r in many]))
    shown, shown_error = _mean_and_error(np.array([r.bias_sq for r in few]))
    plug_in, plug_in_error = _mean_and_error(np.array([r.bias_sq + r.variance / 3 for r in few]))
    assert np.all(np.abs(shown - reference) < 4 * np.hypot(shown_error, reference_error)), (shown, reference)
    assert np.max((plug_in - reference) / np.hypot(plug_in_error, reference_error)) > 8, (plug_in, reference)


def test_bias_sq_standard_error_matches_its_spread_over_repeated_draws():
    """The jackknife over one experiment's R fits against the actual spread of bias² over 400 experiments."""
    rng = np.random.default_rng(0)
    offset = rng.normal(0.0, 0.1, 20)  # a bias that varies over 20 test inputs
    draws = [dd._bias_and_variance(offset + rng.standard_t(4, (1, 50, 20)) * 0.3) for _ in range(400)]
    spread = np.std([bias[0] for bias, _, _ in draws], ddof=1)
    typical_error = np.mean([error[0] for _, error, _ in draws])
    assert 0.8 < typical_error / spread < 1.25, (typical_error, spread)


def test_bias_and_variance_still_add_up_exactly_to_the_error_against_the_clean_target():
    r = dd.simulate_bias_variance(dd.BiasVarianceSettings(noise_sd=0.0, n_resamples=40))
    np.testing.assert_allclose(r.bias_sq + r.variance, r.expected_test_error, rtol=1e-9)
    assert np.all(r.bias_sq_se > 0)


# --- double descent step by step: one training set, p swept -------------------------------------


def test_fit_path_is_the_minimum_norm_least_squares_fit_at_every_p():
    settings = dd.FitPathSettings(n_train=12, max_features=80, seed=3)
    path = dd.simulate_fit_path(settings)
    features = dd.step_features(path.x_train, settings.max_features)
    grid = dd.step_features(path.grid_x, settings.max_features)
    for index, p in enumerate(path.n_features):
        reference = np.linalg.lstsq(features[:, :p], path.y_train, rcond=None)[0]
        fitted = np.clip(grid[:, :p] @ reference, -dd.STEP_CURVE_LIMIT, dd.STEP_CURVE_LIMIT)
        if path.test_error[index] < 10:  # away from the ill-conditioned peak, both solvers agree closely
            np.testing.assert_allclose(path.fitted[index], fitted, atol=1e-6)
            np.testing.assert_allclose(path.weight_norm[index], np.linalg.norm(reference), rtol=1e-6)


def test_fit_path_interpolates_past_p_equals_n_and_its_norm_only_shrinks_there():
    path = dd.simulate_fit_path(dd.FitPathSettings(n_train=15, max_features=300, seed=0))
    # At p = n itself the system is so ill-conditioned that the solver drops its tiniest directions (and
    # misses the points by ~1e-3); one feature more and every training point is hit.
    past = path.n_features > path.threshold
    assert (path.train_error[past] < 1e-6).all()
    assert (path.train_error[path.n_features < path.threshold] > 1e-4).all()
    # Padding a minimum-norm solution with zeros keeps it an interpolant: more features can only lower the norm.
    norms = path.weight_norm[past]
    assert (np.diff(norms) <= norms[:-1] * 1e-6).all()
    # Double descent: the peak is at the threshold, and the far end is far below it.
    assert (
        path.n_features[np.argmax(path.test_error)] in (path.threshold - 1, path.threshold, path.threshold + 1)
        or path.clipped
    )
    assert path.test_error[-1] < 0.01 * path.test_error.max()
    assert path.test_error.min() >= path.noise_var


def test_fit_path_with_a_ridge_has_no_peak_and_is_repeatable():
    ridged = dd.simulate_fit_path(dd.FitPathSettings(ridge=1e-2))
    assert not ridged.clipped and ridged.test_error.max() < 2.0
    again = dd.simulate_fit_path(dd.FitPathSettings(ridge=1e-2))
    np.testing.assert_array_equal(ridged.fitted, again.fitted)
    with pytest.raises(ValueError):
        dd.FitPathSettings(n_train=1)
    with pytest.raises(ValueError):
        dd.FitPathSettings(max_features=dd.MAX_STEP_FEATURES + 1)


def test_fit_path_figure_has_one_frame_per_p_and_opens_at_the_chosen_one():
    from ui import double_descent_charts as charts

    path = dd.simulate_fit_path(dd.FitPathSettings())
    index = int(np.flatnonzero(path.n_features == path.threshold)[0])
    fig = charts.fit_path_figure(path, index)
    assert [frame.name for frame in fig.frames] == [str(int(p)) for p in path.n_features]
    np.testing.assert_allclose(np.asarray(fig.data[2].y), path.fitted[index], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(fig.frames[-1].data[0].y), path.fitted[-1], rtol=1e-6, atol=1e-6)
    assert fig.layout.sliders[0].active == index
    assert "interpolation threshold" in fig.layout.title.text
    assert len(charts.fit_path_table(path)) == len(path.n_features)
