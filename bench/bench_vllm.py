"""Benchmark: the same simulated class as bench/bench_engine.py, against a vLLM server on this CPU and against the
in-process engine, in the same run, A, B, A, B.

    python -m bench.bench_vllm            # 1, 20, 50 and 100 students; vLLM's venv from scripts/setup_vllm.sh
    python -m bench.bench_vllm --quick    # 1 and 20 students

Each student presses Generate as the page does (bench_engine.press_generate): the few-shot preset with their own
query, the next-token view, then 32 greedy tokens streamed with each token's probability and top-10 alternatives.
The generation server here is vLLM's CPU build serving the full-size GPT-2 architecture (random weights, the real
tokenizer) on the same two cores as this process; this measures what the app's client costs and how vLLM's
continuous batching compares on a CPU, for the record. vLLM's point is a GPU, and replicas behind a load balancer.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from bench.bench_engine import EnginePath, generation_class, press_generate
from models import continuous_batching
from models.remote_generation import RemoteGenerator, check_server, parse_server
from tests.generation_server import VLLM_PYTHON, VllmServer, save_server_model
from tests.model_factory import load_from_folder

CLASS_SIZES = (20, 50, 100)
LONE_RUNS = 5


def _rows_for_class(gpt2, remote, count: int) -> dict:
    here_runs, there_runs = [], []
    for repeat in range(2 if count <= 20 else 1):  # A, B, A, B
        continuous_batching.forget_prefixes(gpt2)
        here_runs.append(generation_class(gpt2, EnginePath, count, seed=repeat))
        there_runs.append(generation_class(remote, EnginePath, count, seed=repeat))
    here = statistics.median(run["p95_last"] for run in here_runs)
    there = statistics.median(run["p95_last"] for run in there_runs)
    first_here, first_there = here_runs[0], there_runs[0]
    spread = (
        f"vLLM p95 {min(r['p95_last'] for r in there_runs):.1f}–{max(r['p95_last'] for r in there_runs):.1f} s, "
        f"in-process {min(r['p95_last'] for r in here_runs):.1f}–{max(r['p95_last'] for r in here_runs):.1f} s "
        f"over {len(there_runs)} run(s) each"
    )
    return {
        "benchmark": f"vLLM (CPU): {count} students press Generate within 10 s, p95 to the last token",
        "unit": "s",
        "ours": there,
        "reference": here,
        "reference_name": "the in-process engine, same run",
        "ratio": here / there,
        "target": "",
        "met": None,
        "note": f"32 greedy tokens + next-token view through the OpenAI API (streamed, top-10 logprobs); vLLM first "
        f"token p50 {first_there['p50_first']:.2f} s / p95 {first_there['p95_first']:.2f} s, last p50 "
        f"{first_there['p50_last']:.1f} s; in-process first token p50 {first_here['p50_first']:.2f} s / p95 "
        f"{first_here['p95_first']:.2f} s; {spread}; ratio = in-process / vLLM (> 1: vLLM faster)",
    }


def _lone_row(gpt2, remote) -> dict:
    here, there, here_first, there_first = [], [], [], []
    for index in range(LONE_RUNS + 1):  # the first round warms both up
        continuous_batching.forget_prefixes(gpt2)
        first_a, last_a = press_generate(gpt2, EnginePath, "cheese")
        first_b, last_b = press_generate(remote, EnginePath, "cheese")
        if index:
            here.append(last_a)
            there.append(last_b)
            here_first.append(first_a)
            there_first.append(first_b)
    ours, reference = statistics.median(there), statistics.median(here)
    return {
        "benchmark": "vLLM (CPU): one student alone presses Generate",
        "unit": "s",
        "ours": ours,
        "reference": reference,
        "reference_name": "the in-process engine, same run",
        "ratio": reference / ours,
        "target": "",
        "met": None,
        "note": f"next-token view + 32 tokens, median of {LONE_RUNS} interleaved runs (vLLM {min(there):.2f}–"
        f"{max(there):.2f} s, in-process {min(here):.2f}–{max(here):.2f} s); first token {statistics.median(there_first):.2f} s "
        f"against {statistics.median(here_first):.2f} s; ratio = in-process / vLLM",
    }


def run(quick: bool = False) -> list[dict]:
    if not VLLM_PYTHON.exists():
        raise SystemExit(f"vLLM's environment is missing ({VLLM_PYTHON}): run `bash scripts/setup_vllm.sh` first")
    with tempfile.TemporaryDirectory(prefix="lecture-lab-vllm-bench-") as folder:
        root = Path(folder)
        save_server_model(root)
        server = VllmServer(root / "gpt2", root / "vllm.log")
        try:
            server.wait_ready()
            from models.loading import choose_device

            gpt2 = load_from_folder(root, "gpt2", choose_device("cpu"))
            check = check_server(parse_server(server.url))
            assert check.ok, check.problem
            remote = RemoteGenerator(parse_server(server.url), gpt2.entry, gpt2.tokenizer, 1024)
            rows = [_lone_row(gpt2, remote)]
            for count in CLASS_SIZES[:1] if quick else CLASS_SIZES:
                rows.append(_rows_for_class(gpt2, remote, count))
            return rows
        finally:
            server.stop()


if __name__ == "__main__":
    from bench.run_all import markdown_table

    print(markdown_table(run(quick="--quick" in sys.argv)))
