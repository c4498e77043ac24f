"""Bias–variance and double descent, simulated live in numpy.

Three experiments, each split as settings (frozen dataclass) -> simulate_*() -> result (frozen dataclass):

1. simulate_bias_variance: 1-D regression with polynomials (Legendre basis) or k-NN, fitted to many
   resampled training sets, so bias², variance and noise can be measured and checked against the
   measured expected test error.
2. simulate_random_features: model-wise double descent. Random ReLU or Fourier features, minimum-norm
   (or ridge) least squares, the number of features p swept through the interpolation threshold p = n.
3. simulate_linear_model: the isotropic Gaussian linear model of Hastie, Montanari, Rosset & Tibshirani
   (2019), "Surprises in high-dimensional ridgeless least squares interpolation", simulated with p swept
   (model-wise) or n swept (sample-wise: more data can hurt near n = p), next to the closed-form
   asymptotic risk (linear_excess_risk_theory).

All of them share one solver, fit_nested: ridge / minimum-norm least squares on the leading p columns
(or leading n rows) of one matrix, for every size of a sweep in one pass. It works on the smaller Gram
matrix of each sub-block, accumulated block by block instead of recomputed per size: a Cholesky solve
where the system is well conditioned, and otherwise (near p = n, λ = 0, rank deficiency) the Gram's
eigendecomposition, which is the sub-block's SVD (X = U S Vᵀ, XXᵀ = U S² Uᵀ) and gives the
minimum-norm solution for every ridge value at once.

Conventions, used everywhere in this module:
- ridge λ minimises (1/n)‖y − F c‖² + λ‖c‖²; λ = 0 means the minimum-norm least-squares solution
  (the limit λ → 0), which interpolates the training data once p ≥ n.
- "test error" is the expected test MSE on fresh noisy labels: error against the clean target plus
  the noise variance σ² (added exactly rather than sampled, which removes Monte-Carlo noise).
- "excess risk" (linear model) is E_x[(xᵀ(β̂ − β))²] = ‖β̂ − β‖² for isotropic x;
  its test MSE is excess risk + σ².
- Errors that explode (p = n with λ = 0) are clipped at ERROR_CAP and the result says so; no result
  ever holds NaN or inf.
- One numpy Generator per call, seeded from settings.seed: the same settings give identical results.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, ParamSpec, TypeVar

import numpy as np
from numpy.polynomial import legendre
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from models.limits import MAX_SEED

# ----------------------------------------------------------------------------------------------
# Limits (slider bounds). Settings outside them raise ValueError, so a page that uses these as its
# slider limits never sees one. They are sized so the slowest allowed run stays interactive
# (seconds, on two CPU cores).

# Bias–variance (1-D, cheap)
MAX_TRAIN_1D = 200  # training points per resampled training set
MAX_RESAMPLES = 300  # resampled training sets
MAX_POLY_DEGREE = 20
MAX_NOISE_SD = 2.0
MAX_SPREAD_CURVES = 20  # fitted curves shown in the spread panel

# Random features and the linear model. The cost is about R × (grid points) × n³ (one Cholesky or
# eigendecomposition per size and repeat), so these bound the slowest run to a few seconds.
MAX_N = 200  # training samples n (the fixed n of a feature sweep, or the top of a sample sweep)
MAX_FEATURES = 2000  # features p (the top of a feature sweep, or the fixed p of a sample sweep)
MAX_INPUT_DIM = 100  # input dimension d of the random-features data
MAX_REPEATS = 30  # independent draws of data (and features) per sweep point
MAX_GRID_POINTS = 60  # values of p (or n) in one sweep
MAX_TEST_POINTS = 1000
MAX_RIDGES = 4  # ridge values compared in one run
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

# Cholesky solves a system whose (estimated) reciprocal condition number is above this to ~1e-10
# relative accuracy; below it, the eigendecomposition takes over.
_CHOLESKY_MIN_RCOND = 1e-6

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
    if nested not in ("columns", "rows"):
        raise ValueError(f"nested must be 'columns' or 'rows', got {nested!r}")
    sizes = [int(s) for s in sizes]
    available = features.shape[-1] if nested == "columns" else features.shape[-2]
    if not sizes or sizes != sorted(sizes) or sizes[0] < 1 or sizes[-1] > available:
        raise ValueError(f"sizes must be ascending, within [1, {available}], got {sizes}")
    penalties = np.asarray(penalties, dtype=float)
    if penalties.ndim == 1:  # the same penalties for every size
        penalties = np.broadcast_to(penalties, (len(sizes), penalties.size))
    per_size_targets = targets.ndim == features.ndim
    if per_size_targets and nested == "rows":
        raise ValueError("per-size targets are only for nested='columns'; rows take targets[..., :n]")

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
    """Coefficients c = (xᵀx + μ I)⁺ xᵀ y for every penalty μ, given the smaller Gram matrix.

    x (..., n, p), y (..., n), gram (..., k, k) equal to xᵀx (k = p) or x xᵀ (k = n),
    penalties (L,) -> (..., p, L).
    A well-conditioned system is solved by Cholesky (about 20x cheaper than an eigendecomposition);
    near the interpolation threshold, with λ = 0, or when rank-deficient, the eigendecomposition is the
    stable route and the one that yields the minimum-norm solution.
    """
    if gram.ndim == 2:
        coefs = _ridge_by_cholesky(x, y, gram, gram_is_xtx, penalties)
        if coefs is not None:
            return coefs
    return _ridge_by_eigh(x, y, gram, gram_is_xtx, penalties)


def _ridge_by_cholesky(
    x: np.ndarray, y: np.ndarray, gram: np.ndarray, gram_is_xtx: bool, penalties: np.ndarray
) -> np.ndarray | None:
    """Unbatched (x (n, p), gram (k, k)) ridge solve by Cholesky, or None if any system is too
    ill-conditioned for it (LAPACK's condition estimate below _CHOLESKY_MIN_RCOND)."""
    rhs = x.T @ y if gram_is_xtx else y
    solutions = np.empty((gram.shape[0], penalties.size))
    for j, penalty in enumerate(penalties):
        system = gram + penalty * np.eye(gram.shape[0])
        factor, info = lapack.dpotrf(system, lower=False)
        if info != 0:
            return None
        rcond, info = lapack.dpocon(factor, np.abs(system).sum(axis=0).max())
        if info != 0 or not rcond > _CHOLESKY_MIN_RCOND:
            return None
        solutions[:, j], _ = lapack.dpotrs(factor, rhs, lower=False)
    return solutions if gram_is_xtx else x.T @ solutions


def _ridge_by_eigh(
    x: np.ndarray, y: np.ndarray, gram: np.ndarray, gram_is_xtx: bool, penalties: np.ndarray
) -> np.ndarray:
    """Ridge / minimum-norm solve from the Gram's eigendecomposition; batched over leading axes.

    With x = U S Vᵀ the Gram's eigenvalues are S², and c = V diag(s / (s² + μ)) Uᵀ y in both forms;
    eigenvalues under the rounding floor are dropped, exactly as a pseudo-inverse drops them.
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
        grid = np.unique(np.concatenate([log_grid, np.array(around_threshold, dtype=int)]))
        if grid.size >= wanted:
            return grid
    return np.arange(1, largest + 1)


def _sweep_sizes(explicit: tuple[int, ...], threshold: int, largest: int, n_points: int) -> np.ndarray:
    """The explicit sizes (sorted, unique) if given, else sweep_grid's log grid: (G,) int."""
    if explicit:
        return np.unique(np.asarray(explicit, dtype=int))
    return sweep_grid(threshold, largest, n_points)


def _check_sweep_sizes(sizes: tuple[int, ...], largest: int) -> None:
    if len(sizes) > MAX_GRID_POINTS:
        raise ValueError(f"at most {MAX_GRID_POINTS} sweep sizes, got {len(sizes)}")
    for size in sizes:
        _check_count("sweep size", size, 1, largest)


_P = ParamSpec("_P")
_Result = TypeVar("_Result")


def _single_threaded_blas(simulate: Callable[_P, _Result]) -> Callable[_P, _Result]:
    """Run a simulation with one BLAS thread.

    Every matrix here is small (a few hundred rows), so BLAS threads only add synchronisation; and when
    the CPU is shared (other sessions, a test runner), OpenBLAS's spinning threads were measured to
    make the random-features sweep 10-100x slower (7 s instead of 0.5 s). The limit is lifted on return.
    """

    @functools.wraps(simulate)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _Result:
        with threadpool_limits(limits=1, user_api="blas"):
            return simulate(*args, **kwargs)

    return wrapper


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (np.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}={value!r} is outside the allowed range [{low:g}, {high:g}]")


def _check_count(name: str, value: int, low: int, high: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    _check_range(name, value, low, high)


def _check_ridges(ridges: tuple[float, ...]) -> None:
    if not 1 <= len(ridges) <= MAX_RIDGES:
        raise ValueError(f"give between 1 and {MAX_RIDGES} ridge values, got {len(ridges)}")
    for ridge in ridges:
        _check_range("ridge", ridge, 0.0, MAX_RIDGE)


def _clip_errors(errors: np.ndarray) -> tuple[np.ndarray, int]:
    """Replace non-finite values and values above ERROR_CAP by ERROR_CAP; also return how many."""
    with np.errstate(invalid="ignore"):
        too_big = ~np.isfinite(errors) | (errors > ERROR_CAP)
    return np.where(too_big, ERROR_CAP, errors), int(np.count_nonzero(too_big))


def _clip_note(n_clipped: int, n_total: int, what: str, why: str) -> str:
    if n_clipped == 0:
        return ""
    return (
        f"{n_clipped} of {n_total} {what} exceeded {ERROR_CAP:g} and were "
        f"clipped to it ({why}); means there are lower bounds."
    )


_THRESHOLD_BLOWUP = "without a ridge, the fit explodes at the interpolation threshold"


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
    max_degree: int = 10  # polynomial: degrees 0..max_degree are swept (k-NN sweeps k itself)
    spread_capacity: int = 3  # degree (polynomial) or k (k-NN) drawn in the spread panel
    n_spread_curves: int = 5  # fitted curves drawn in the spread panel
    n_test: int = 400  # test inputs the errors average over
    seed: int = 0

    def __post_init__(self) -> None:
        if self.target not in TARGETS_1D:
            raise ValueError(f"unknown target {self.target!r}; choose one of {sorted(TARGETS_1D)}")
        if self.model not in ("polynomial", "knn"):
            raise ValueError(f"unknown model {self.model!r}; choose 'polynomial' or 'knn'")
        _check_range("noise_sd", self.noise_sd, 0.0, MAX_NOISE_SD)
        _check_count("n_train", self.n_train, 1, MAX_TRAIN_1D)
        _check_count("n_resamples", self.n_resamples, 1, MAX_RESAMPLES)
        _check_count("max_degree", self.max_degree, 0, MAX_POLY_DEGREE)
        low = 0 if self.model == "polynomial" else 1
        high = MAX_POLY_DEGREE if self.model == "polynomial" else MAX_TRAIN_1D
        _check_count("spread_capacity", self.spread_capacity, low, high)
        _check_count("n_spread_curves", self.n_spread_curves, 1, MAX_SPREAD_CURVES)
        _check_count("n_test", self.n_test, 1, MAX_TEST_POINTS)
        _check_count("seed", self.seed, 0, MAX_SEED)


@dataclass(frozen=True)
class BiasVarianceResult:
    """Bias², variance and noise per capacity, and the expected test error they must add up to.

    C = number of capacities, G = plot-grid points, S = spread curves, n = training points.
    Averages run over the test inputs and the R training sets. Both terms are unbiased estimates: the
    plug-in bias² (mean fit − f)² would carry the mean fit's own Monte Carlo noise, about variance / R,
    and show bias growing with capacity where it does not. So bias² is the mean over pairs of different
    training sets of (f̂ᵢ − f)(f̂ⱼ − f), and variance uses 1/(R − 1); together they still make exactly the
    mean squared error against the clean target. `bias_sq_se` is bias²'s Monte Carlo standard error
    (jackknife over the R training sets); near zero, bias² may come out slightly negative.
    """

    settings: BiasVarianceSettings
    capacities: np.ndarray  # (C,) int: polynomial degree, or k for k-NN; ordered by increasing flexibility
    effective_params: np.ndarray  # (C,) float: degree + 1, or n / k (k-NN's effective degrees of freedom)
    capacity_label: str  # "polynomial degree" or "k (neighbours)"
    bias_sq: np.ndarray  # (C,) mean over x of (E_D[f̂(x)] − f(x))², unbiased
    bias_sq_se: np.ndarray  # (C,) its Monte Carlo standard error; ERROR_CAP where unknown (under 3 sets, blow-ups)
    variance: np.ndarray  # (C,) mean over x of Var_D[f̂(x)], unbiased
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


@_single_threaded_blas
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
            notes.append(
                f"k = {s.spread_capacity} exceeds the {s.n_train} training points; showing k = {spread_capacity}."
            )
        predict = _knn_predictions

    test_pred = predict(x_train, y_train, x_test, capacities)  # (C, R, m)
    train_pred = predict(x_train, y_train, x_train, capacities)  # (C, R, n)
    grid_pred = predict(x_train, y_train, grid_x, np.array([spread_capacity]))[0]  # (R, G)

    bias_sq, bias_sq_se, variance = _bias_and_variance(test_pred - target(x_test))
    if s.n_resamples < 2:
        notes.append("With one training set, bias and variance cannot be told apart: all of the error shows as bias².")
    expected = np.mean((test_pred - y_test) ** 2, axis=(1, 2))
    train_error = np.mean((train_pred - y_train) ** 2, axis=(1, 2))
    noise_var = s.noise_sd**2

    averages = np.stack([bias_sq, variance, expected, train_error])
    (bias_sq, variance, expected, train_error), n_clipped = _clip_errors(averages)
    bias_sq_se, _ = _clip_errors(bias_sq_se)  # no error bar where the fits blew up, or with under 3 sets
    if s.n_resamples == 2:
        notes.append("With two training sets, bias² has no Monte Carlo error bar: use at least three.")
    notes.append(
        _clip_note(
            n_clipped,
            averages.size,
            "averaged errors (bias², variance, test and train error per capacity)",
            "high-degree fits swing wildly beyond the data",
        )
    )
    n_spread = min(s.n_spread_curves, s.n_resamples)
    grid_pred = np.clip(np.nan_to_num(grid_pred, nan=0.0), -ERROR_CAP, ERROR_CAP)
    return BiasVarianceResult(
        settings=s,
        capacities=capacities,
        effective_params=effective_params,
        capacity_label=label,
        bias_sq=bias_sq,
        bias_sq_se=bias_sq_se,
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


def _bias_and_variance(errors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unbiased bias², its jackknife standard error, and unbiased variance from the fits' errors f̂ᵢ(x) − f(x).

    errors: (C, R, m). With S = Σᵢ eᵢ and Q = Σᵢ eᵢ² at each x, the mean over pairs i ≠ j of eᵢeⱼ is
    (S² − Q) / (R(R − 1)): its expectation is (E f̂ − f)², with no variance / R added. Variance is
    (Q − S²/R) / (R − 1). Their sum is Q / R, the mean squared error against f, exactly.
    """
    count = errors.shape[1]
    sums, squares = errors.sum(axis=1), (errors**2).sum(axis=1)  # (C, m)
    if count < 2:
        return np.mean(squares, axis=-1), np.full(errors.shape[0], np.nan), np.zeros(errors.shape[0])
    bias_sq = np.mean((sums**2 - squares) / (count * (count - 1)), axis=-1)
    variance = np.mean((squares - sums**2 / count) / (count - 1), axis=-1)
    if count < 3:
        return bias_sq, np.full(errors.shape[0], np.nan), variance
    # Leave each training set out in turn: the spread of those estimates gives the standard error.
    left_sums, left_squares = sums[:, None, :] - errors, squares[:, None, :] - errors**2  # (C, R, m)
    left_out = np.mean((left_sums**2 - left_squares) / ((count - 1) * (count - 2)), axis=-1)  # (C, R)
    spread = np.sum((left_out - left_out.mean(axis=1, keepdims=True)) ** 2, axis=1)
    return bias_sq, np.sqrt((count - 1) / count * spread), variance


def _legendre_features(x: np.ndarray, degree: int) -> np.ndarray:
    """Legendre polynomials P_0..P_degree at x, scaled by √(2j + 1): (..., m) -> (..., m, degree + 1).

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
    return np.stack([(eval_features[..., : d + 1] @ c)[..., 0] for d, c in zip(degrees, coefs)])


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
        order = np.argsort(distance, axis=-1)
        sorted_labels = np.take_along_axis(y_train[rows, None, :], order, axis=-1)
        running_sum = np.cumsum(sorted_labels, axis=-1)
        predictions[:, rows] = np.moveaxis(running_sum[..., ks - 1] / ks, -1, 0)
    return predictions


# ----------------------------------------------------------------------------------------------
# 2. Model-wise double descent with random features


@dataclass(frozen=True)
class RandomFeaturesSettings:
    """Random-features regression: x ~ N(0, I_d), y = f(xᵀβ) + N(0, σ²) with ‖β‖ = 1.

    Features are relu(Wx/√d) or √2·cos(Wx/√d + b) with W ~ N(0, 1), b ~ U[0, 2π), divided by √p, and
    fitted by ridge with (1/n)‖y − Φa‖² + λ‖a‖² (λ = 0: minimum norm). The 1/√p keeps the kernel
    ΦΦᵀ of order one, so one λ means the same amount of shrinkage at every p (as in Mei & Montanari).
    Each repeat draws new data and new features; within a repeat, the model with p features uses the
    first p columns of one wide feature matrix, so the sweep is nested.
    """

    n_train: int = 100  # n; the interpolation threshold is p = n
    input_dim: int = 20  # d
    feature_kind: FeatureKind = "relu"
    target: str = "linear"  # a key of TARGETS_RF
    noise_sd: float = 0.5  # σ
    ridges: tuple[float, ...] = (0.0,)  # λ values, all fitted in the same pass
    max_features: int = 1000  # the largest p in the sweep
    n_grid: int = 40  # values of p (log-spaced, always including n - 1, n, n + 1)
    sweep_sizes: tuple[int, ...] = ()  # explicit p values instead of the log grid (each <= max_features)
    n_repeats: int = 20  # R
    n_test: int = 500
    seed: int = 0

    def __post_init__(self) -> None:
        if self.feature_kind not in ("relu", "fourier"):
            raise ValueError(f"unknown feature_kind {self.feature_kind!r}; choose 'relu' or 'fourier'")
        if self.target not in TARGETS_RF:
            raise ValueError(f"unknown target {self.target!r}; choose one of {sorted(TARGETS_RF)}")
        _check_count("n_train", self.n_train, 1, MAX_N)
        _check_count("input_dim", self.input_dim, 1, MAX_INPUT_DIM)
        _check_range("noise_sd", self.noise_sd, 0.0, MAX_NOISE_SD)
        _check_ridges(self.ridges)
        _check_count("max_features", self.max_features, 1, MAX_FEATURES)
        _check_count("n_grid", self.n_grid, 1, MAX_GRID_POINTS)
        _check_sweep_sizes(self.sweep_sizes, self.max_features)
        _check_count("n_repeats", self.n_repeats, 1, MAX_REPEATS)
        _check_count("n_test", self.n_test, 1, MAX_TEST_POINTS)
        _check_count("seed", self.seed, 0, MAX_SEED)


@dataclass(frozen=True)
class RandomFeaturesDraw:
    """One repeat's data and features (raw: not yet divided by √p). P = settings.max_features."""

    train_features: np.ndarray  # (n, P)
    train_targets: np.ndarray  # (n,) noisy labels
    test_features: np.ndarray  # (m, P)
    test_clean: np.ndarray  # (m,) f at the test inputs, without noise


@dataclass(frozen=True)
class RandomFeaturesResult:
    """Train and test error against the number of random features p.

    L = len(settings.ridges), P = number of swept p values, R = settings.n_repeats.
    """

    settings: RandomFeaturesSettings
    n_features: np.ndarray  # (P,) int, the swept p, ascending
    threshold: int  # interpolation threshold, p = n
    ridges: np.ndarray  # (L,)
    train_error: np.ndarray  # (L, P, R) training MSE
    test_error: np.ndarray  # (L, P, R) expected test MSE (clean-target error + σ²), clipped at ERROR_CAP
    train_mean: np.ndarray  # (L, P)
    test_mean: np.ndarray  # (L, P) mean over repeats (of clipped values)
    test_median: np.ndarray  # (L, P)
    test_low: np.ndarray  # (L, P) BAND_PERCENTILES[0] over repeats
    test_high: np.ndarray  # (L, P) BAND_PERCENTILES[1] over repeats
    noise_var: float  # σ², the best achievable test MSE
    null_error: float  # test MSE of always predicting 0: Var f + σ² = 1 + σ²
    clipped: bool
    note: str


def draw_random_features(settings: RandomFeaturesSettings, rng: np.random.Generator) -> RandomFeaturesDraw:
    """Draw one repeat: inputs, teacher direction, noise, and the widest feature matrix."""
    s = settings
    x_train = rng.standard_normal((s.n_train, s.input_dim))
    x_test = rng.standard_normal((s.n_test, s.input_dim))
    beta = _unit_vector(rng, s.input_dim)
    target = TARGETS_RF[s.target]
    y_train = target(x_train @ beta) + s.noise_sd * rng.standard_normal(s.n_train)
    weights = rng.standard_normal((s.input_dim, s.max_features)) / np.sqrt(s.input_dim)
    phases = rng.uniform(0.0, 2.0 * np.pi, s.max_features)
    return RandomFeaturesDraw(
        train_features=_random_features(x_train, weights, phases, s.feature_kind),
        train_targets=y_train,
        test_features=_random_features(x_test, weights, phases, s.feature_kind),
        test_clean=target(x_test @ beta),
    )


def _random_features(x: np.ndarray, weights: np.ndarray, phases: np.ndarray, kind: FeatureKind) -> np.ndarray:
    """(points, d) -> (points, P) raw features; each has unit-order second moment."""
    pre_activation = x @ weights
    if kind == "relu":
        return np.maximum(pre_activation, 0.0)
    return np.sqrt(2.0) * np.cos(pre_activation + phases)


@_single_threaded_blas
def simulate_random_features(settings: RandomFeaturesSettings) -> RandomFeaturesResult:
    """Sweep p through the interpolation threshold p = n, R times, for every ridge value."""
    s = settings
    rng = np.random.default_rng(s.seed)
    n_features = _sweep_sizes(s.sweep_sizes, s.n_train, s.max_features, s.n_grid)
    ridges = np.asarray(s.ridges, dtype=float)
    # Dividing the features by √p is the same as penalising the raw ones with n·λ·p.
    penalties = s.n_train * n_features[:, None] * ridges[None, :]  # (P, L)

    train_error = np.empty((ridges.size, n_features.size, s.n_repeats))
    test_error = np.empty_like(train_error)
    for repeat in range(s.n_repeats):
        draw = draw_random_features(s, rng)
        coefs = fit_nested(draw.train_features, draw.train_targets, n_features, penalties)
        for i, (p, c) in enumerate(zip(n_features, coefs)):
            train_error[:, i, repeat] = _mse(draw.train_features[:, :p] @ c, draw.train_targets)
            test_error[:, i, repeat] = _mse(draw.test_features[:, :p] @ c, draw.test_clean)
    return _random_features_result(s, n_features, ridges, train_error, test_error + s.noise_sd**2)


def _mse(predictions: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(points, L) predictions vs (points,) targets -> (L,) mean squared error."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.mean((predictions - targets[:, None]) ** 2, axis=0)


def _random_features_result(
    s: RandomFeaturesSettings,
    n_features: np.ndarray,
    ridges: np.ndarray,
    train_error: np.ndarray,
    test_error: np.ndarray,
) -> RandomFeaturesResult:
    train_error, n_train_clipped = _clip_errors(train_error)
    test_error, n_clipped = _clip_errors(test_error)
    low, high = _bands(test_error)
    return RandomFeaturesResult(
        settings=s,
        n_features=n_features,
        threshold=s.n_train,
        ridges=ridges,
        train_error=train_error,
        test_error=test_error,
        train_mean=train_error.mean(axis=-1),
        test_mean=test_error.mean(axis=-1),
        test_median=np.median(test_error, axis=-1),
        test_low=low,
        test_high=high,
        noise_var=s.noise_sd**2,
        null_error=1.0 + s.noise_sd**2,
        clipped=n_clipped + n_train_clipped > 0,
        note=_clip_note(n_clipped, test_error.size, "test errors (one per repeat and p)", _THRESHOLD_BLOWUP),
    )


# ----------------------------------------------------------------------------------------------
# 2b. Double descent step by step: one 1-D training set, fitted with more and more features

MAX_STEP_TRAIN = 40  # training points of the step-by-step view (each one visible on the plot)
MAX_STEP_FEATURES = 400  # its largest p
STEP_GRID_POINTS = 201  # inputs the fitted curve is drawn (and its test error averaged) on
STEP_CURVE_LIMIT = 4.0  # a fitted curve beyond ±limit is drawn clipped (it is off the plot anyway)


@dataclass(frozen=True)
class FitPathSettings:
    """The bias–variance view's setting (x ~ U[-1, 1], y = f(x) + N(0, σ²)) with p polynomial features that
    can outnumber the n points: Legendre polynomials P₀ … P_{p−1}, each scaled by √(2k+1)/(k+1) (orthonormal
    on [-1, 1], then higher degrees made costlier), fitted by ridge / minimum-norm least squares.

    The scaling is what makes minimum norm prefer smooth interpolants when p ≫ n: the second descent. Without
    it (plain monomials, or random Fourier features on an interval) the interpolants stay wild far past p = n.
    """

    target: str = "sine"  # a key of TARGETS_1D
    n_train: int = 15  # n; the interpolation threshold is p = n
    noise_sd: float = 0.3  # σ
    ridge: float = 0.0  # λ; 0 = minimum norm
    max_features: int = 300  # the largest p
    n_grid: int = 40  # values of p, log-spaced through n - 1, n, n + 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.target not in TARGETS_1D:
            raise ValueError(f"unknown target {self.target!r}; choose one of {sorted(TARGETS_1D)}")
        _check_count("n_train", self.n_train, 2, MAX_STEP_TRAIN)
        _check_range("noise_sd", self.noise_sd, 0.0, MAX_NOISE_SD)
        _check_range("ridge", self.ridge, 0.0, MAX_RIDGE)
        _check_count("max_features", self.max_features, 1, MAX_STEP_FEATURES)
        _check_count("n_grid", self.n_grid, 1, MAX_GRID_POINTS)
        _check_count("seed", self.seed, 0, MAX_SEED)


@dataclass(frozen=True)
class FitPath:
    """What the step-by-step view animates. P = swept values of p, G = STEP_GRID_POINTS.

    The test error is the exact expected test MSE for x ~ U[-1, 1] on a fine grid: mean over the grid of
    (f̂ − f)², plus σ². `weight_norm` is ‖c‖ of the fitted coefficients: past p = n, minimum norm makes it
    shrink as p grows, the implicit regularisation behind the second descent.
    """

    settings: FitPathSettings
    n_features: np.ndarray  # (P,) ascending
    threshold: int  # p = n
    x_train: np.ndarray  # (n,)
    y_train: np.ndarray  # (n,) noisy labels
    grid_x: np.ndarray  # (G,)
    grid_target: np.ndarray  # (G,) f, without noise
    fitted: np.ndarray  # (P, G) the fitted curve at each p, clipped to ±STEP_CURVE_LIMIT for drawing
    train_error: np.ndarray  # (P,)
    test_error: np.ndarray  # (P,) clipped at ERROR_CAP
    weight_norm: np.ndarray  # (P,)
    noise_var: float
    clipped: bool
    note: str


def step_features(x: np.ndarray, count: int) -> np.ndarray:
    """(points,) -> (points, count): √(2k+1)/(k+1)·P_k(x) for k = 0 … count − 1."""
    degrees = np.arange(count)
    return legendre.legvander(x, count - 1) * (np.sqrt(2 * degrees + 1) / (degrees + 1))


@_single_threaded_blas
def simulate_fit_path(settings: FitPathSettings) -> FitPath:
    """One training set, every p of the sweep: the fitted curve, its errors and its coefficient norm."""
    s = settings
    rng = np.random.default_rng(s.seed)
    target = TARGETS_1D[s.target]
    x_train = np.sort(rng.uniform(-1.0, 1.0, s.n_train))
    y_train = target(x_train) + s.noise_sd * rng.standard_normal(s.n_train)
    grid_x = np.linspace(-1.0, 1.0, STEP_GRID_POINTS)
    train_features = step_features(x_train, s.max_features)
    grid_features = step_features(grid_x, s.max_features)
    n_features = sweep_grid(s.n_train, s.max_features, s.n_grid)
    coefs = [c[:, 0] for c in fit_nested(train_features, y_train, n_features, np.array([s.n_train * s.ridge]))]
    grid_target = target(grid_x)
    with np.errstate(over="ignore", invalid="ignore"):
        fitted = np.stack([grid_features[:, :p] @ c for p, c in zip(n_features, coefs)])
        train_error = np.array([np.mean((train_features[:, :p] @ c - y_train) ** 2) for p, c in zip(n_features, coefs)])
        test_error = np.mean((fitted - grid_target) ** 2, axis=1) + s.noise_sd**2
    weight_norm = np.array([np.linalg.norm(c) for c in coefs])
    test_error, n_clipped = _clip_errors(test_error)
    train_error, _ = _clip_errors(train_error)
    return FitPath(
        settings=s,
        n_features=n_features,
        threshold=s.n_train,
        x_train=x_train,
        y_train=y_train,
        grid_x=grid_x,
        grid_target=grid_target,
        fitted=np.clip(np.nan_to_num(fitted), -STEP_CURVE_LIMIT, STEP_CURVE_LIMIT),
        train_error=train_error,
        test_error=test_error,
        weight_norm=np.minimum(np.nan_to_num(weight_norm, nan=ERROR_CAP, posinf=ERROR_CAP), 1e12),
        noise_var=s.noise_sd**2,
        clipped=n_clipped > 0,
        note=_clip_note(n_clipped, test_error.size, "test errors (one per p)", _THRESHOLD_BLOWUP),
    )


# ----------------------------------------------------------------------------------------------
# 3 and 4. The isotropic linear model: simulation and closed-form theory


@dataclass(frozen=True)
class LinearModelSettings:
    """y = xᵀβ + N(0, σ²), x ~ N(0, I_p), ‖β‖ = r, fitted by ridge / minimum-norm least squares.

    sweep="features": n = n_train fixed, p runs over a log grid up to sweep_max (model-wise).
    sweep="samples":  p = n_features fixed, n runs over a log grid up to sweep_max (sample-wise).
    """

    sweep: Literal["features", "samples"] = "features"
    n_train: int = 100  # fixed n of the feature sweep
    n_features: int = 100  # fixed p of the sample sweep
    sweep_max: int = 1000  # largest p (feature sweep) or n (sample sweep)
    signal: float = 1.0  # r = ‖β‖
    noise_sd: float = 0.5  # σ
    ridges: tuple[float, ...] = (0.0,)  # λ in (1/n)‖y − Xβ‖² + λ‖β‖²
    n_grid: int = 40  # sweep points (log-spaced, always including the threshold and its neighbours)
    sweep_sizes: tuple[int, ...] = ()  # explicit p (or n) values instead of the log grid (each <= sweep_max)
    n_repeats: int = 20
    seed: int = 0

    def __post_init__(self) -> None:
        if self.sweep not in ("features", "samples"):
            raise ValueError(f"unknown sweep {self.sweep!r}; choose 'features' or 'samples'")
        _check_count("n_train", self.n_train, 1, MAX_N)
        _check_count("n_features", self.n_features, 1, MAX_FEATURES)
        sweep_limit = MAX_FEATURES if self.sweep == "features" else MAX_N
        _check_count("sweep_max", self.sweep_max, 1, sweep_limit)
        _check_range("signal", self.signal, 0.0, MAX_SIGNAL)
        _check_range("noise_sd", self.noise_sd, 0.0, MAX_NOISE_SD)
        _check_ridges(self.ridges)
        _check_count("n_grid", self.n_grid, 1, MAX_GRID_POINTS)
        _check_sweep_sizes(self.sweep_sizes, self.sweep_max)
        _check_count("n_repeats", self.n_repeats, 1, MAX_REPEATS)
        _check_count("seed", self.seed, 0, MAX_SEED)


@dataclass(frozen=True)
class LinearModelResult:
    """Simulated and asymptotic excess risk ‖β̂ − β‖² along a p sweep or an n sweep.

    L = len(settings.ridges), G = sweep points, R = settings.n_repeats, F = fine theory-grid points.
    Test MSE = excess risk + noise_var.
    """

    settings: LinearModelSettings
    sizes: np.ndarray  # (G,) int, the swept p (sweep="features") or n (sweep="samples")
    gamma: np.ndarray  # (G,) p / n at each sweep point
    threshold: int  # the sweep point where p = n
    ridges: np.ndarray  # (L,)
    excess_risk: np.ndarray  # (L, G, R) ‖β̂ − β‖² per repeat, clipped at ERROR_CAP
    risk_mean: np.ndarray  # (L, G)
    risk_low: np.ndarray  # (L, G)
    risk_high: np.ndarray  # (L, G)
    train_mean: np.ndarray  # (L, G) training MSE
    theory_risk: np.ndarray  # (L, G) asymptotic excess risk at each sweep point's gamma
    theory_sizes: np.ndarray  # (F,) float sizes (p or n) of a fine grid, for a smooth theory curve
    theory_gamma: np.ndarray  # (F,)
    theory_risk_fine: np.ndarray  # (L, F)
    noise_var: float  # σ²
    clipped: bool
    note: str

    @property
    def test_mse_mean(self) -> np.ndarray:
        """(L, G) mean test MSE on fresh noisy data: excess risk + σ²."""
        return self.risk_mean + self.noise_var


def linear_excess_risk_theory(
    gamma: np.ndarray | float, signal_sq: float, noise_var: float, ridge: float = 0.0
) -> np.ndarray:
    """Asymptotic excess risk E[(xᵀ(β̂ − β))²] of ridge(less) least squares, isotropic features.

    Hastie, Montanari, Rosset & Tibshirani (2019), p/n -> gamma, ‖β‖² = signal_sq, noise variance
    noise_var, ridge λ in (1/n)‖y − Xβ‖² + λ‖β‖².
    λ = 0 (Theorem 1, isotropic case):
        gamma < 1:  σ² γ / (1 − γ)                 (variance only; no bias)
        gamma > 1:  r² (1 − 1/γ) + σ² / (γ − 1)   (bias from the unseen directions + variance)
    λ > 0 (isotropic ridge, via the Marchenko–Pastur Stieltjes transform m at z = −λ):
        r² λ² m'(−λ) + σ² γ (m(−λ) − λ m'(−λ)).
    Returns an array shaped like gamma, infinities at γ = 1, λ = 0 replaced by ERROR_CAP.
    """
    gamma = np.asarray(gamma, dtype=float)
    if ridge <= _RIDGELESS_BELOW:
        risk = _ridgeless_risk(gamma, signal_sq, noise_var)
    else:
        m, dm = _marchenko_pastur_stieltjes(gamma, ridge)
        risk = signal_sq * ridge**2 * dm + noise_var * gamma * (m - ridge * dm)
    return np.minimum(np.nan_to_num(risk, nan=ERROR_CAP, posinf=ERROR_CAP), ERROR_CAP)


# Below this ridge the closed form cancels catastrophically (m ~ 1/λ for γ > 1), and it already
# equals the ridgeless limit to many digits, so the ridgeless formula is used instead.
_RIDGELESS_BELOW = 1e-10


def _ridgeless_risk(gamma: np.ndarray, signal_sq: float, noise_var: float) -> np.ndarray:
    """Theorem 1's two branches; at γ = 1 the risk is infinite with noise and 0 without."""
    under = gamma < 1.0
    gap = np.where(gamma == 1.0, 1.0, np.abs(1.0 - gamma))  # γ = 1 is filled in below
    variance = noise_var * np.where(under, gamma, 1.0) / gap
    bias = np.where(under, 0.0, signal_sq * (1.0 - 1.0 / gamma))
    return np.where(gamma == 1.0, np.inf if noise_var > 0 else 0.0, bias + variance)


def _marchenko_pastur_stieltjes(gamma: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray]:
    """m(z) = ∫ dF_γ(s) / (s − z) and m'(z) at z = −λ, for the Marchenko–Pastur law of ratio γ.

    m solves γ z m² − (1 − γ − z) m + 1 = 0; at z = −λ the positive root is
    (√(a² + 4γλ) − a) / (2γλ) with a = 1 − γ + λ, written as 2 / (√(a² + 4γλ) + a) when a > 0
    to avoid cancellation. Differentiating the quadratic gives m' = m² (1 + γ m) / (1 + γ λ m²).
    """
    a = 1.0 - gamma + ridge
    root = np.sqrt(a**2 + 4.0 * gamma * ridge)
    m = np.where(a > 0, 2.0 / (root + np.abs(a)), (root + np.abs(a)) / (2.0 * gamma * ridge))
    dm = m**2 * (1.0 + gamma * m) / (1.0 + gamma * ridge * m**2)
    return m, dm


@_single_threaded_blas
def simulate_linear_model(settings: LinearModelSettings) -> LinearModelResult:
    """Simulate the isotropic linear model along the chosen sweep and put the theory beside it."""
    s = settings
    rng = np.random.default_rng(s.seed)
    ridges = np.asarray(s.ridges, dtype=float)
    if s.sweep == "features":
        threshold = s.n_train
        sizes = _sweep_sizes(s.sweep_sizes, threshold, s.sweep_max, s.n_grid)
        gamma = sizes / s.n_train
        simulate_repeat = _linear_feature_sweep
    else:
        threshold = s.n_features
        sizes = _sweep_sizes(s.sweep_sizes, threshold, s.sweep_max, s.n_grid)
        gamma = s.n_features / sizes
        simulate_repeat = _linear_sample_sweep

    risk = np.empty((ridges.size, sizes.size, s.n_repeats))
    train_error = np.empty_like(risk)
    for repeat in range(s.n_repeats):
        risk[:, :, repeat], train_error[:, :, repeat] = simulate_repeat(s, sizes, ridges, rng)

    risk, n_clipped = _clip_errors(risk)
    train_error, n_train_clipped = _clip_errors(train_error)
    low, high = _bands(risk)
    theory_sizes = np.geomspace(sizes[0], sizes[-1], 400)
    theory_gamma = theory_sizes / s.n_train if s.sweep == "features" else s.n_features / theory_sizes
    return LinearModelResult(
        settings=s,
        sizes=sizes,
        gamma=gamma,
        threshold=threshold,
        ridges=ridges,
        excess_risk=risk,
        risk_mean=risk.mean(axis=-1),
        risk_low=low,
        risk_high=high,
        train_mean=train_error.mean(axis=-1),
        theory_risk=_theory_per_ridge(gamma, s, ridges),
        theory_sizes=theory_sizes,
        theory_gamma=theory_gamma,
        theory_risk_fine=_theory_per_ridge(theory_gamma, s, ridges),
        noise_var=s.noise_sd**2,
        clipped=n_clipped + n_train_clipped > 0,
        note=_clip_note(n_clipped, risk.size, "excess risks (one per repeat and sweep point)", _THRESHOLD_BLOWUP),
    )


def _theory_per_ridge(gamma: np.ndarray, s: LinearModelSettings, ridges: np.ndarray) -> np.ndarray:
    return np.stack([linear_excess_risk_theory(gamma, s.signal**2, s.noise_sd**2, ridge) for ridge in ridges])


def _linear_feature_sweep(
    s: LinearModelSettings, sizes: np.ndarray, ridges: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One repeat of the p sweep at fixed n -> excess risk and train MSE, each (L, G).

    For every p the model is exactly the theorem's: X_p = the first p columns of one wide Gaussian
    matrix (so i.i.d. N(0, 1) entries), β_p uniform on the sphere of radius r in R^p, and labels
    y_p = X_p β_p + noise generated from that p-dimensional model. (Fitting the first p coordinates
    of one fixed higher-dimensional model would be a misspecified model, with a different risk.)
    """
    n, widest = s.n_train, int(sizes[-1])
    x = rng.standard_normal((n, widest))
    direction = rng.standard_normal(widest)
    noise = s.noise_sd * rng.standard_normal(n)
    betas = [s.signal * direction[:p] / np.linalg.norm(direction[:p]) for p in sizes]
    targets = np.stack([x[:, :p] @ beta for p, beta in zip(sizes, betas)], axis=-1) + noise[:, None]  # (n, G)
    coefs = fit_nested(x, targets, sizes, n * ridges)
    risk = np.stack([np.sum((c - beta[:, None]) ** 2, axis=0) for c, beta in zip(coefs, betas)], axis=-1)
    train = np.stack([_mse(x[:, :p] @ c, targets[:, i]) for i, (p, c) in enumerate(zip(sizes, coefs))], axis=-1)
    return risk, train


def _linear_sample_sweep(
    s: LinearModelSettings, sizes: np.ndarray, ridges: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One repeat of the n sweep at fixed p -> excess risk and train MSE, each (L, G).

    The training set of size n is the first n rows of one tall sample: each is an i.i.d. sample of
    the same p-dimensional model, so every n matches the theorem; the ridge penalty is n·λ for its n.
    """
    p, largest = s.n_features, int(sizes[-1])
    x = rng.standard_normal((largest, p))
    beta = s.signal * _unit_vector(rng, p)
    y = x @ beta + s.noise_sd * rng.standard_normal(largest)
    coefs = fit_nested(x, y, sizes, sizes[:, None] * ridges[None, :], nested="rows")
    risk = np.stack([np.sum((c - beta[:, None]) ** 2, axis=0) for c in coefs], axis=-1)
    train = np.stack([_mse(x[:n] @ c, y[:n]) for n, c in zip(sizes, coefs)], axis=-1)
    return risk, train
