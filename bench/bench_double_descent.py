"""Benchmark: the double-descent simulations in models/double_descent.py.

    python -m bench.bench_double_descent

The headline row times the full model-wise random-features sweep (41 values of p, from 1 to 10 n and
through p = n, × 20 repeats, n = 100) against the straightforward way to compute the same numbers:
np.linalg.pinv for every (p, repeat) in a Python loop, on the very same draws. The two must agree, and
the note says by how much. Other rows time the remaining demos at their defaults and at the largest
slider values, against the interactive target. Times are medians over several runs, single-threaded
BLAS for both sides (as the app runs them).

Each row carries the keys bench/run_all.py reads: benchmark, unit ("s"), ours, reference, reference_name,
ratio (reference / ours: the speed-up, > 1 when ours is faster), target, met and note.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from bench.common import median_seconds
from models import double_descent as dd

RUNS = 5
REFERENCE_RUNS = 3


def naive_random_features_test_errors(settings: dd.RandomFeaturesSettings) -> np.ndarray:
    """The reference: same draws, one pseudo-inverse (SVD) per (p, repeat). Returns (P, R) test MSE."""
    rng = np.random.default_rng(settings.seed)
    n_features = dd.sweep_grid(settings.n_train, settings.max_features, settings.n_grid)
    test_error = np.empty((n_features.size, settings.n_repeats))
    for repeat in range(settings.n_repeats):
        draw = dd.draw_random_features(settings, rng)
        for i, p in enumerate(n_features):
            scale = 1.0 / np.sqrt(p)  # the module's feature normalisation (irrelevant at λ = 0)
            coef = np.linalg.pinv(draw.train_features[:, :p] * scale) @ draw.train_targets
            prediction = (draw.test_features[:, :p] * scale) @ coef
            test_error[i, repeat] = np.mean((prediction - draw.test_clean) ** 2) + settings.noise_sd**2
    return np.minimum(test_error, dd.ERROR_CAP)


def agreement_note(ours: np.ndarray, reference: np.ndarray) -> str:
    """Largest relative difference between the two methods' per-fit test errors, away from the cap."""
    both_below_cap = (ours < dd.ERROR_CAP) & (reference < dd.ERROR_CAP)
    relative = np.abs(ours - reference)[both_below_cap] / reference[both_below_cap]
    return (
        f"agrees with pinv: max rel. diff {relative.max():.0e} "
        f"over the {relative.size} of {ours.size} fits below the cap"
    )


def make_row(name: str, ours_s: float, target_s: float, note: str = "", reference_s: float | None = None) -> dict:
    speed_up = None if reference_s is None else reference_s / ours_s
    if speed_up is not None:
        note = f"ratio = reference / ours (> 1: ours is faster); {note}"
    return {
        "benchmark": f"double descent: {name}",
        "unit": "s",
        "ours": ours_s,
        "reference": reference_s,
        "reference_name": "np.linalg.pinv per (p, repeat)" if reference_s is not None else "",
        "ratio": speed_up,
        "target": f"< {target_s:g} s",
        "met": ours_s < target_s,
        "note": note,
    }


def headline_row() -> dict:
    settings = dd.RandomFeaturesSettings(n_train=100, max_features=1000, n_grid=40, n_repeats=20)
    n_p = dd.sweep_grid(settings.n_train, settings.max_features, settings.n_grid).size
    ours = median_seconds(lambda: dd.simulate_random_features(settings), RUNS)
    with threadpool_limits(limits=1, user_api="blas"):
        reference = median_seconds(lambda: naive_random_features_test_errors(settings), REFERENCE_RUNS)
        reference_errors = naive_random_features_test_errors(settings)
    our_errors = dd.simulate_random_features(settings).test_error[0]
    name = f"random features, {n_p} p x {settings.n_repeats} repeats, n = {settings.n_train}, λ = 0"
    return make_row(name, ours, 1.0, agreement_note(our_errors, reference_errors), reference_s=reference)


def ours_only_row(name: str, work: Callable[[], object], target_s: float, note: str = "") -> dict:
    return make_row(name, median_seconds(work, RUNS), target_s, note)


def fit_path_figure_json(settings: dd.FitPathSettings) -> str:
    from ui.double_descent_charts import fit_path_figure

    path = dd.simulate_fit_path(settings)
    return fit_path_figure(path, 0).to_json()


def run() -> list[dict]:
    largest_rf = dd.RandomFeaturesSettings(
        n_train=dd.MAX_N,
        max_features=dd.MAX_FEATURES,
        input_dim=dd.MAX_INPUT_DIM,
        n_grid=dd.MAX_GRID_POINTS,
        n_repeats=dd.MAX_REPEATS,
        n_test=dd.MAX_TEST_POINTS,
        ridges=(0.0, 1e-3, 1e-2, 1e-1),
    )
    largest_knn = dd.BiasVarianceSettings(
        model="knn",
        n_train=dd.MAX_TRAIN_1D,
        n_resamples=dd.MAX_RESAMPLES,
        n_spread_curves=dd.MAX_SPREAD_CURVES,
    )
    return [
        headline_row(),
        ours_only_row(
            "random features, two ridges (0 and 1e-2)",
            lambda: dd.simulate_random_features(dd.RandomFeaturesSettings(ridges=(0.0, 1e-2))),
            1.0,
        ),
        ours_only_row(
            "linear model + theory, p sweep (defaults)",
            lambda: dd.simulate_linear_model(dd.LinearModelSettings()),
            1.0,
        ),
        ours_only_row(
            "linear model + theory, n sweep (p = 50)",
            lambda: dd.simulate_linear_model(
                dd.LinearModelSettings(sweep="samples", n_features=50, sweep_max=dd.MAX_N)
            ),
            1.0,
        ),
        ours_only_row(
            "bias-variance, polynomial (defaults)",
            lambda: dd.simulate_bias_variance(dd.BiasVarianceSettings()),
            1.0,
        ),
        ours_only_row(
            "bias-variance, k-NN (defaults)",
            lambda: dd.simulate_bias_variance(dd.BiasVarianceSettings(model="knn")),
            1.0,
        ),
        ours_only_row(
            "step by step: fit path and its animated figure (defaults)",
            lambda: fit_path_figure_json(dd.FitPathSettings()),
            1.0,
            "40 values of p, n = 15; the Play button then animates in the browser, with no server work",
        ),
        ours_only_row(
            "step by step, every slider at its maximum",
            lambda: fit_path_figure_json(
                dd.FitPathSettings(
                    n_train=dd.MAX_STEP_TRAIN, max_features=dd.MAX_STEP_FEATURES, n_grid=dd.MAX_GRID_POINTS
                )
            ),
            1.0,
            f"n = {dd.MAX_STEP_TRAIN}, p ≤ {dd.MAX_STEP_FEATURES}, {dd.MAX_GRID_POINTS} frames",
        ),
        ours_only_row(
            "random features, every slider at its maximum",
            lambda: dd.simulate_random_features(largest_rf),
            10.0,
            f"n = {dd.MAX_N}, p ≤ {dd.MAX_FEATURES}, {dd.MAX_GRID_POINTS} p, {dd.MAX_REPEATS} repeats, 4 ridges",
        ),
        ours_only_row(
            "bias-variance k-NN, every slider at its maximum",
            lambda: dd.simulate_bias_variance(largest_knn),
            10.0,
            f"n = {dd.MAX_TRAIN_1D}, {dd.MAX_RESAMPLES} training sets",
        ),
    ]


def markdown_table(rows: list[dict]) -> str:
    def seconds(value: float | None) -> str:
        return "—" if value is None else f"{value:.3f}"

    lines = [
        "| benchmark | ours (s) | reference (s) | speed-up | target | note |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.1f}x"
        cells = [
            row["benchmark"].removeprefix("double descent: "),
            seconds(row["ours"]),
            seconds(row["reference"]),
            ratio,
            row["target"],
            row["note"],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table(run()))
