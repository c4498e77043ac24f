"""Bias–variance and double descent, simulated live in numpy.

Three experiments, each split as settings (frozen dataclass) -> simulate_*() -> result (frozen dataclass):

1. simulate_bias_variance: 1-D regression with polynomials (Legendre basis) or k-NN, fitted to many
   resampled training sets, so bias², variance and noise can be measured and checked against the
   measured expected test error.
2. simulate_random_features: model-wise double descent. Random ReLU or Fourier features, minimum-norm
   (or ridge) least squares, the number of features p swept through the interpolation threshold p = n.
3. simulate_linear_model: the isotropic Gaussian linear model of Hastie, Montanari, Rosset & Tibshirani
   (2019), "Surprises in high-dimensional ridgeless least squares interpolation", simulated with p swept
   (model-wise) or n swept (sample-wise), next to the closed-form asymptotic risk (linear_excess_risk_theory).

All of them share one solver, fit_nested: ridge / minimum-norm least squares on the leading p columns
(or leading n rows) of one matrix, for every size in a sweep at once. It eigendecomposes the smaller
Gram matrix of each sub-block (that is the SVD of the sub-block, U S² Uᵀ), so every ridge value costs
almost nothing once the decomposition exists, and the Gram matrices are accumulated block by block
instead of recomputed per size.

Conventions, used everywhere in this module:
- ridge λ minimises (1/n)‖y − F c‖² + λ‖c‖²; λ = 0 means the minimum-norm least-squares solution
  (the limit λ → 0), which interpolates the training data once p ≥ n.
- "test error" is the expected test MSE on fresh noisy labels: error against the clean target plus
  the noise variance σ² (added exactly rather than sampled, which removes Monte-Carlo noise).
- "excess risk" (linear model) is E_x[(xᵀ(β̂ − β))²] = ‖β̂ − β‖² for isotropic x; test MSE = risk + σ².
- Errors that explode (p = n with λ = 0) are clipped at ERROR_CAP and the result says so; no result
  ever holds NaN or inf.
- One numpy Generator per call, seeded from settings.seed: the same settings give identical results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.polynomial import legendre

# ----------------------------------------------------------------------------------------------
# Limits (slider bounds). Settings outside them raise ValueError, so a page that uses these as its
# slider limits never sees one. They are sized so the slowest allowed run stays interactive
# (seconds, on two CPU cores).

# Bias–variance (1-D, cheap)
MAX_TRAIN_1D = 200  # training points per resampled training set
MAX_RESAMPLES = 500  # resampled training sets
MAX_POLY_DEGREE = 20
MAX_NOISE_SD = 2.0
MAX_SPREAD_CURVES = 20  # fitted curves shown in the spread panel

# Random features and the linear model (an eigendecomposition per size and repeat)
MAX_N = 400  # training samples n (the fixed n of a feature sweep, or the top of a sample sweep)
MAX_FEATURES = 4000  # features p (the top of a feature sweep, or the fixed p of a sample sweep)
MAX_INPUT_DIM = 100  # input dimension d of the random-features data
MAX_REPEATS = 50  # independent draws of data (and features) per sweep point
MAX_GRID_POINTS = 80  # values of p (or n) in one sweep
MAX_TEST_POINTS = 2000
MAX_RIDGES = 8  # ridge values compared in one run
MAX_RIDGE = 1e3
MAX_SIGNAL = 10.0  # ‖β‖ in the linear model

# Results
ERROR_CAP = 1e3  # errors above this (in squared target units) are clipped and flagged
BAND_PERCENTILES = (10.0, 90.0)  # the spread band drawn around mean curves

# Eigenvalues of a Gram matrix below this fraction of the largest (times the matrix size) are
# treated as exact zeros: forming XᵀX costs ~1e-16 relative accuracy, so smaller eigenvalues are
# rounding noise, and inverting them would be the blow-up a pseudo-inverse exists to avoid.
# Genuine ones are far above it: at p = n = MAX_N the smallest is ~1e-8 of the largest.
_GRAM_RCOND_PER_DIM = 100 * np.finfo(float).eps

# ----------------------------------------------------------------------------------------------
# Targets

# 1-D targets on [-1, 1] for the bias–variance experiment.
TARGETS_1D: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sine": lambda x: np.sin(np.pi * x),
    "step": lambda x: np.where(x < 0.0, -0.7, 0.7),
    "cubic": lambda x: 2.0 * x**3 - x,
}

# Targets for random features, as functions of t = xᵀβ with ‖β‖ = 1, so t ~ N(0, 1).
# Each has unit variance, so a test MSE of 1 + σ² is what predicting zero scores.
TARGETS_RF: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda t: t,
    "nonlinear": lambda t: (t + (t**2 - 1.0) / np.sqrt(2.0)) / np.sqrt(2.0),
    "sign": lambda t: np.sign(t),
}

FeatureKind = Literal["relu", "fourier"]


# ----------------------------------------------------------------------------------------------
# The shared solver: ridge / minimum-norm least squares along a nested sweep


def fit_nested(
    features: np.ndarray,
    targets: np.ndarray,
    sizes: Sequence[int],
    penalties: np.ndarray,
    nested: Literal["columns", "rows"] = "columns",
) -> list[np.ndarray]:
    """Ridge / minimum-norm least squares on nested sub-blocks of `features`, for every size.

    nested="columns": for each p in sizes, fit on features[..., :, :p] (model-wise sweep).
    nested="rows":    for each n in sizes, fit on features[..., :n, :] and targets[..., :n]
                      (sample-wise sweep).

    features:  (..., N, P), leading axes are a batch (e.g. resampled training sets)
    targets:   (..., N); for nested="columns" also (..., N, S), one target vector per size
    sizes:     S ascending sizes, each in [1, P] (columns) or [1, N] (rows)
    penalties: (L,) or (S, L), the penalty μ ≥ 0 in ‖y − F c‖² + μ‖c‖² (so μ = n λ);
               μ = 0 gives the minimum-norm least-squares solution
    returns:   list of S coefficient arrays, (..., p, L) where p is the sub-block's column count
    """
    sizes = [int(s) for s in sizes]
    if sizes != sorted(sizes) or sizes[0] < 1:
        raise ValueError(f"sizes must be ascending and >= 1, got {sizes}")
    penalties = np.broadcast_to(np.asarray(penalties, dtype=float), (len(sizes), np.size(penalties) if np.ndim(penalties) == 1 else np.shape(penalties)[-1]))
    per_size_targets = targets.ndim == features.ndim

    # A row-nested sweep is a column-nested sweep of the transpose; only the Gram's meaning flips.
    nested_matrix = features if nested == "columns" else np.swapaxes(features, -1, -2)
    coefs = []
    grams = _leading_column_grams(nested_matrix, sizes)
    for i, (size, gram, gram_over_columns) in enumerate(grams):
        if nested == "columns":
            x = features[..., :, :size]
            y = targets[..., i] if per_size_targets else targets
            gram_is_xtx = gram_over_columns
        else:
            x = features[..., :size, :]
            y = targets[..., :size]
            gram_is_xtx = not gram_over_columns
        coefs.append(_ridge_from_gram(x, y, gram, gram_is_xtx, penalties[i]))
    return coefs


def _leading_column_grams(matrix: np.ndarray, sizes: list[int]) -> Iterator[tuple[int, np.ndarray, bool]]:
    """Yield (s, gram, over_columns) with the smaller Gram matrix of matrix[..., :, :s] for each s.

    over_columns=True:  gram = M_sᵀ M_s, (..., s, s), used while s <= rows. All of these are leading
                        blocks of one product, computed once.
    over_columns=False: gram = M_s M_sᵀ, (..., rows, rows), accumulated one column block at a time,
                        so the whole sweep reads each column once.
    """
    rows = matrix.shape[-2]
    narrow = [s for s in sizes if s <= rows]
    if narrow:
        left = matrix[..., :, : narrow[-1]]
        column_gram = np.swapaxes(left, -1, -2) @ left
    row_gram = np.zeros(matrix.shape[:-2] + (rows, rows))
    columns_done = 0
    for s in sizes:
        if s <= rows:
            yield s, column_gram[..., :s, :s], True
        else:
            block = matrix[..., :, columns_done:s]
            row_gram = row_gram + block @ np.swapaxes(block, -1, -2)
            columns_done = s
            yield s, row_gram, False


def _ridge_from_gram(
    x: np.ndarray, y: np.ndarray, gram: np.ndarray, gram_is_xtx: bool, penalties: np.ndarray
) -> np.ndarray:
    """Coefficients c = (xᵀx + μ I)⁺ xᵀ y for every penalty μ, from the eigendecomposition of a Gram.

    x (..., n, p), y (..., n), gram (..., k, k) equal to xᵀx (k = p) or x xᵀ (k = n),
    penalties (L,) -> (..., p, L).
    With x = U S Vᵀ, the Gram's eigenvalues are S², and c = V diag(s / (s² + μ)) Uᵀ y, the same
    in both forms; eigenvalues under the rounding floor are dropped (pseudo-inverse).
    """
    eigenvalues, eigenvectors = np.linalg.eigh(gram)  # ascending
    floor = np.maximum(eigenvalues[..., -1:], 0.0) * max(x.shape[-2:]) * _GRAM_RCOND_PER_DIM
    keep = (eigenvalues > floor) & (eigenvalues > 0.0)
    denominator = eigenvalues[..., None] + penalties  # (..., k, L)
    shrink = np.divide(1.0, denominator, out=np.zeros_like(denominator), where=keep[..., None])
    if gram_is_xtx:  # c = V (S² + μ)⁻¹ Vᵀ xᵀ y
        projected = np.swapaxes(eigenvectors, -1, -2) @ (np.swapaxes(x, -1, -2) @ y[..., None])
        return eigenvectors @ (projected * shrink)
    # c = xᵀ U (S² + μ)⁻¹ Uᵀ y
    projected = np.swapaxes(eigenvectors, -1, -2) @ y[..., None]
    return np.swapaxes(x, -1, -2) @ (eigenvectors @ (projected * shrink))


# ----------------------------------------------------------------------------------------------
# Small shared helpers


def sweep_grid(threshold: int, largest: int, n_points: int) -> np.ndarray:
    """Integer sizes in [1, largest], log-spaced, that always include threshold - 1, threshold,
    threshold + 1 (where in range), so the sweep passes exactly through the interpolation threshold.

    Returns (G,) ascending unique ints with G >= min(n_points, largest).
    """
    around_threshold = [s for s in (threshold - 1, threshold, threshold + 1) if 1 <= s <= largest]
    wanted = min(n_points, largest)
    # Rounding a log grid merges its small values, so ask for more points until enough are distinct.
    for n_log in range(wanted, 4 * largest + 2):
        log_grid = np.round(np.geomspace(1, largest, n_log)).astype(int)
        grid = np.unique(np.concatenate([log_grid, around_threshold]))
        if grid.size >= wanted:
            return grid
    return np.arange(1, largest + 1)


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (np.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}={value!r} is outside the allowed range [{low:g}, {high:g}]")


def _check_ridges(ridges: tuple[float, ...]) -> None:
    if not 1 <= len(ridges) <= MAX_RIDGES:
        raise ValueError(f"give between 1 and {MAX_RIDGES} ridge values, got {len(ridges)}")
    for ridge in ridges:
        _check_range("ridge", ridge, 0.0, MAX_RIDGE)


def _clip_errors(errors: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace non-finite values and values above ERROR_CAP by ERROR_CAP; also return how many."""
    errors = np.nan_to_num(errors, nan=ERROR_CAP, posinf=ERROR_CAP, neginf=ERROR_CAP)
    n_clipped = int(np.count_nonzero(errors > ERROR_CAP))
    return np.minimum(errors, ERROR_CAP), n_clipped


def _clip_note(n_clipped: int, n_total: int, what: str) -> str:
    if n_clipped == 0:
        return ""
    return (
        f"{n_clipped} of {n_total} {what} exceeded {ERROR_CAP:g} and were clipped to it "
        "(the fit explodes at the interpolation threshold); means there are lower bounds."
    )


def _bands(errors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Percentile band over the last (repeat) axis: (..., R) -> two (...,) arrays."""
    low, high = np.percentile(errors, BAND_PERCENTILES, axis=-1)
    return low, high


def _unit_vector(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.standard_normal(dim)
    return v / np.linalg.norm(v)


# ----------------------------------------------------------------------------------------------
# 1. Bias–variance on 1-D data


@dataclass(frozen=True)
class BiasVarianceSettings:
    """One bias–variance experiment: R training sets of n points, x ~ U[-1, 1], y = f(x) + N(0, σ²)."""

    target: str = "sine"  # a key of TARGETS_1D
    model: Literal["polynomial", "knn"] = "polynomial"
    noise_sd: float = 0.3  # σ
    n_train: int = 30  # n, points per training set
    n_resamples: int = 200  # R, independent training sets
    max_degree: int = 12  # polynomial: degrees 0..max_degree are swept (k-NN sweeps k itself)
    spread_capacity: int = 3  # degree (polynomial) or k (k-NN) drawn in the spread panel
    n_spread_curves: int = 5  # fitted curves drawn in the spread panel
    n_test: int = 500  # test inputs the errors average over
    seed: int = 0

    def __post_init__(self) -> None:
        if self.target not in TARGETS_1D:
            raise ValueError(f"unknown target {self.target!r}; choose one of {sorted(TARGETS_1D)}")
        if self.model not in ("polynomial", "knn"):
            raise ValueError(f"unknown model {self.model!r}; choose 'polynomial' or 'knn'")
        _check_range("noise_sd", self.noise_sd, 0.0, MAX_NOISE_SD)
        _check_range("n_train", self.n_train, 1, MAX_TRAIN_1D)
        _check_range("n_resamples", self.n_resamples, 1, MAX_RESAMPLES)
        _check_range("max_degree", self.max_degree, 0, MAX_POLY_DEGREE)
        low = 0 if self.model == "polynomial" else 1
        high = MAX_POLY_DEGREE if self.model == "polynomial" else MAX_TRAIN_1D
        _check_range("spread_capacity", self.spread_capacity, low, high)
        _check_range("n_spread_curves", self.n_spread_curves, 1, MAX_SPREAD_CURVES)
        _check_range("n_test", self.n_test, 1, MAX_TEST_POINTS)


@dataclass(frozen=True)
class BiasVarianceResult:
    """Bias², variance and noise per capacity, and the expected test error they must add up to.

    C = number of capacities, G = plot-grid points, S = spread curves, n = training points.
    Averages run over the test inputs and the R training sets; variance uses 1/R, which makes
    bias² + variance exactly the mean squared error against the clean target.
    """

    settings: BiasVarianceSettings
    capacities: np.ndarray  # (C,) int: polynomial degree, or k for k-NN; ordered by increasing flexibility
    effective_params: np.ndarray  # (C,) float: degree + 1, or n / k (k-NN's effective degrees of freedom)
    capacity_label: str  # "polynomial degree" or "k (neighbours)"
    bias_sq: np.ndarray  # (C,) mean over x of (E_D[f̂(x)] − f(x))²
    variance: np.ndarray  # (C,) mean over x of Var_D[f̂(x)]
    noise_var: float  # σ²
    total: np.ndarray  # (C,) bias_sq + variance + noise_var
    expected_test_error: np.ndarray  # (C,) measured: mean of (f̂(x) − y)² with fresh test noise
    train_error: np.ndarray  # (C,) mean training MSE
    grid_x: np.ndarray  # (G,) inputs for the curves below
    grid_target: np.ndarray  # (G,) f on grid_x
    spread_capacity: int  # capacity the spread panel shows (k clamped to n)
    spread_curves: np.ndarray  # (S, G) fits of the first S training sets at spread_capacity
    spread_mean: np.ndarray  # (G,) average fit over all R training sets at spread_capacity
    spread_x: np.ndarray  # (S, n) the training inputs of those S sets
    spread_y: np.ndarray  # (S, n) their noisy labels
    clipped: bool
    note: str


def simulate_bias_variance(settings: BiasVarianceSettings) -> BiasVarianceResult:
    """Fit every capacity to R resampled training sets and decompose the test error."""
    s = settings
    rng = np.random.default_rng(s.seed)
    target = TARGETS_1D[s.target]
    x_train = rng.uniform(-1.0, 1.0, (s.n_resamples, s.n_train))
    y_train = target(x_train) + s.noise_sd * rng.standard_normal(x_train.shape)
    x_test = rng.uniform(-1.0, 1.0, s.n_test)
    y_test = target(x_test) + s.noise_sd * rng.standard_normal((s.n_resamples, s.n_test))
    grid_x = np.linspace(-1.0, 1.0, 201)
    notes = []

    if s.model == "polynomial":
        capacities = np.arange(s.max_degree + 1)
        effective_params = capacities + 1.0
        label = "polynomial degree"
        spread_capacity = s.spread_capacity
        predict = _polynomial_predictions
    else:
        capacities = _knn_ks(s.n_train)
        effective_params = s.n_train / capacities
        label = "k (neighbours)"
        spread_capacity = min(s.spread_capacity, s.n_train)
        if spread_capacity != s.spread_capacity:
            notes.append(f"k = {s.spread_capacity} exceeds the {s.n_train} training points; showing k = {spread_capacity}.")
        predict = _knn_predictions

    test_pred = predict(x_train, y_train, x_test, capacities)  # (C, R, m)
    train_pred = predict(x_train, y_train, x_train, capacities)  # (C, R, n)
    grid_pred = predict(x_train, y_train, grid_x, np.array([spread_capacity]))[0]  # (R, G)

    mean_pred = test_pred.mean(axis=1)  # (C, m): E_D[f̂(x)] estimated over the R training sets
    bias_sq = np.mean((mean_pred - target(x_test)) ** 2, axis=-1)
    variance = np.mean((test_pred - mean_pred[:, None, :]) ** 2, axis=(1, 2))
    expected = np.mean((test_pred - y_test) ** 2, axis=(1, 2))
    train_error = np.mean((train_pred - y_train) ** 2, axis=(1, 2))
    noise_var = s.noise_sd**2

    averages = np.stack([bias_sq, variance, expected, train_error])
    (bias_sq, variance, expected, train_error), n_clipped = _clip_errors(averages)
    notes.append(_clip_note(n_clipped, averages.size, "averaged errors"))
    n_spread = min(s.n_spread_curves, s.n_resamples)
    grid_pred = np.clip(np.nan_to_num(grid_pred, nan=0.0), -ERROR_CAP, ERROR_CAP)
    return BiasVarianceResult(
        settings=s,
        capacities=capacities,
        effective_params=effective_params,
        capacity_label=label,
        bias_sq=bias_sq,
        variance=variance,
        noise_var=noise_var,
        total=np.minimum(bias_sq + variance + noise_var, ERROR_CAP),
        expected_test_error=expected,
        train_error=train_error,
        grid_x=grid_x,
        grid_target=target(grid_x),
        spread_capacity=int(spread_capacity),
        spread_curves=grid_pred[:n_spread],
        spread_mean=grid_pred.mean(axis=0),
        spread_x=x_train[:n_spread],
        spread_y=y_train[:n_spread],
        clipped=n_clipped > 0,
        note=" ".join(n for n in notes if n),
    )


def _legendre_features(x: np.ndarray, degree: int) -> np.ndarray:
    """Legendre polynomials P_0..P_degree at x, scaled by sqrt(2j + 1): (..., points) -> (..., points, degree + 1).

    The scaling makes the columns orthonormal under x ~ U[-1, 1], so the least-squares problem stays
    well conditioned up to high degree, where raw powers x^j would be hopelessly collinear.
    """
    return legendre.legvander(x, degree) * np.sqrt(2.0 * np.arange(degree + 1) + 1.0)


def _polynomial_predictions(
    x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, degrees: np.ndarray
) -> np.ndarray:
    """Least-squares polynomial fits of each degree (minimum-norm once degree + 1 > n), evaluated.

    x_train, y_train (R, n); x_eval (E,) shared or (R, E) per training set; degrees (C,) ascending
    -> predictions (C, R, E).
    """
    top = int(degrees.max())
    coefs = fit_nested(_legendre_features(x_train, top), y_train, degrees + 1, np.zeros(1))
    eval_features = _legendre_features(x_eval, top)  # (E, top+1) or (R, E, top+1)
    return np.stack([eval_features[..., : d + 1] @ c[..., 0, None] for d, c in zip(degrees, coefs)])[..., 0]


def _knn_ks(n_train: int) -> np.ndarray:
    """k values for the k-NN sweep, from k = n (the flat mean) down to k = 1: increasing flexibility."""
    if n_train <= 40:
        return np.arange(n_train, 0, -1)
    return np.unique(np.round(np.geomspace(1, n_train, 40)).astype(int))[::-1]


def _knn_predictions(x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """k-nearest-neighbour regression (mean label of the k closest training points) for every k.

    x_train, y_train (R, n); x_eval (E,) or (R, E); ks (C,) each in [1, n] -> predictions (C, R, E).
    Sorting the training labels by distance once gives every k from one cumulative sum.
    """
    n_sets, n_train = x_train.shape
    x_eval = np.broadcast_to(x_eval, (n_sets,) + np.shape(x_eval)[-1:])
    predictions = np.empty((ks.size, n_sets, x_eval.shape[-1]))
    chunk = max(1, 4_000_000 // (x_eval.shape[-1] * n_train))  # bound the (sets, E, n) distance array
    for start in range(0, n_sets, chunk):
        rows = slice(start, start + chunk)
        distance = np.abs(x_eval[rows, :, None] - x_train[rows, None, :])
        order = np.argsort(distance, axis=-1, kind="stable")
        sorted_labels = np.take_along_axis(np.broadcast_to(y_train[rows, None, :], distance.shape), order, axis=-1)
        running_sum = np.cumsum(sorted_labels, axis=-1)
        predictions[:, rows] = np.moveaxis(running_sum[..., ks - 1] / ks, -1, 0)
    return predictions
