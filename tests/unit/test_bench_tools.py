"""The benchmarks' pure helpers: RSS sampling, the cost fit, the theory curve and the table."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import psutil
import pytest

from bench.bench_app import RssSampler, tree_rss
from bench.bench_scaling import fit_cost, theory_quadratic_share
from bench.run_all import BENCHES, markdown_table

# A child that fills 300 MB (written, so the pages are resident), says so, holds it, frees it, then waits.
HOLD = (
    "import time\nblock = bytearray(b'\\x01') * 300_000_000\nprint('held', flush=True)\ntime.sleep({seconds})\n"
    "del block\nprint('freed', flush=True)\ntime.sleep(30)\n"
)


def test_tree_rss_counts_a_child_process():
    child = subprocess.Popen([sys.executable, "-c", HOLD.format(seconds=30)], stdout=subprocess.PIPE, text=True)
    try:
        own = psutil.Process(os.getpid())
        assert child.stdout.readline().strip() == "held"
        rss, file_backed = tree_rss(own)
        assert rss >= own.memory_info().rss + psutil.Process(child.pid).memory_info().rss * 0.9
        assert 0 <= file_backed <= rss
    finally:
        child.kill()
        child.wait()


def test_tree_rss_of_a_finished_process_child_is_skipped():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    rss, _ = tree_rss(psutil.Process(os.getpid()))
    assert rss >= psutil.Process(os.getpid()).memory_info().rss * 0.5


def test_rss_sampler_keeps_the_peak_after_memory_is_freed():
    child = subprocess.Popen([sys.executable, "-c", HOLD.format(seconds=1)], stdout=subprocess.PIPE, text=True)
    try:
        with RssSampler(child.pid, interval_s=0.05) as sampler:
            assert child.stdout.readline().strip() == "held"
            assert child.stdout.readline().strip() == "freed"
            now, _ = sampler.now()
        assert sampler.peak >= 300_000_000
        assert now < sampler.peak - 200_000_000
        assert sampler.samples > 10
    finally:
        child.kill()
        child.wait()


def test_fit_recovers_known_coefficients():
    n = np.array([32, 64, 128, 256, 512, 1024], dtype=float)
    seconds = 0.01 + 2e-5 * n + 3e-8 * n**2
    fit = fit_cost(n, seconds)
    assert fit.constant == pytest.approx(0.01)
    assert fit.linear == pytest.approx(2e-5)
    assert fit.quadratic == pytest.approx(3e-8)
    assert fit.quadratic_share(1024) == pytest.approx(3e-8 * 1024**2 / (0.01 + 2e-5 * 1024 + 3e-8 * 1024**2))


def test_linear_fit_has_no_quadratic_term():
    n = np.array([32, 64, 128, 256], dtype=float)
    fit = fit_cost(n, 0.005 + 1e-6 * n, quadratic=False)
    assert fit.quadratic == 0.0
    assert fit.linear == pytest.approx(1e-6)
    assert fit.quadratic_share(256) == 0.0


def test_theory_share_from_multiply_adds():
    # Per token and layer: 12·d² for projections and MLP, 2·n·d for scores and values.
    d, n = 768, 512
    assert theory_quadratic_share(n, d) == pytest.approx(2 * n * d / (12 * d * d + 2 * n * d))
    assert theory_quadratic_share(6 * d, d) == pytest.approx(0.5)


def test_markdown_table_shows_units_references_and_escapes_pipes():
    rows = [
        {
            "benchmark": "app: peak",
            "unit": "GB",
            "ours": 2.05,
            "reference": 2.7,
            "reference_name": "Cloud limit",
            "ratio": 2.7 / 2.05,
            "target": "≤ 2.2 GB",
            "met": True,
            "note": "a | b",
        },
        {
            "benchmark": "app: torch",
            "unit": "MB",
            "ours": 534.0,
            "reference": None,
            "reference_name": "",
            "ratio": None,
            "target": "",
            "met": None,
            "note": "",
        },
    ]
    table = markdown_table(rows).splitlines()
    assert len(table) == 4
    assert "| app: peak | 2.05 GB | 2.7 GB (Cloud limit) | 1.32× | ≤ 2.2 GB | yes | a / b |" == table[2]
    assert table[3].startswith("| app: torch | 534 MB | – | – |")


def test_app_and_scaling_benches_are_part_of_the_one_command():
    assert {"app", "scaling"} <= set(BENCHES)


def test_the_class_benches_fill_their_own_table_in_the_readme(tmp_path, monkeypatch):
    import bench.run_all as run_all

    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- bench:start -->\nold main\n<!-- bench:end -->\nmiddle\n"
        "<!-- class-bench:start -->\nold class\n<!-- class-bench:end -->\nend\n"
    )
    monkeypatch.setattr(run_all, "REPO_ROOT", tmp_path)
    run_all.update_readme("| new |", "today", run_all.MARKERS[run_all.CLASS_BENCHES])
    text = readme.read_text()
    assert "old main" in text and "old class" not in text and "Measured today.\n\n| new |" in text
    assert set(run_all.CLASS_BENCHES) == {"engine", "int8"} and not set(run_all.CLASS_BENCHES) & set(BENCHES)


def test_worst_request_bench_runs_every_case_on_tiny_models():
    from bench import bench_worst_request

    rows = bench_worst_request.run(size="tiny")
    assert [row["benchmark"].split(":")[1].strip() for row in rows] == [
        "generation",
        "generation",
        "attention",
        "fill-mask",
    ]
    for row in rows:
        assert row["ours"] > 0 and row["reference"] > 0 and row["unit"] == "s"
        assert "interleaved runs" in row["note"]
