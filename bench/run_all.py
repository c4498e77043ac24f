"""Run every benchmark, print one table, and write it into README.md.

    python -m bench.run_all              # all benchmarks, README updated
    python -m bench.run_all engine int8  # the class benchmarks: README's "A whole class at once" updated
    python -m bench.run_all worst_request  # README's "One student cannot hurt the class" updated
    python -m bench.run_all vllm         # README's "Past one machine: a vLLM server" updated
    python -m bench.run_all attention    # just some (README left alone)

Each bench/bench_<name>.py exposes `run() -> list[dict]` with the keys in `COLUMNS`.
Benchmarks use full-size architectures with random weights where real weights are absent:
timing does not depend on weight values.
"""

from __future__ import annotations

import importlib
import os
import platform
import re
import sys
import time
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHES = ("attention", "generation", "fill_mask", "clip", "double_descent", "finetune", "scaling", "app")
# The engines' benchmarks have their own table, in the README's "A whole class at once" section.
CLASS_BENCHES = ("engine", "int8")
# What one student's heaviest request does to the others: README's "One student cannot hurt the class".
WORST_BENCHES = ("worst_request",)
# The class on a vLLM server (scripts/setup_vllm.sh first): README's "Past one machine: a vLLM server".
VLLM_BENCHES = ("vllm",)
MARKERS = {
    BENCHES: ("<!-- bench:start -->", "<!-- bench:end -->"),
    CLASS_BENCHES: ("<!-- class-bench:start -->", "<!-- class-bench:end -->"),
    WORST_BENCHES: ("<!-- worst-bench:start -->", "<!-- worst-bench:end -->"),
    VLLM_BENCHES: ("<!-- vllm-bench:start -->", "<!-- vllm-bench:end -->"),
}


def _number(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def machine_line() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{date.today().isoformat()}, {cpu}, {os.cpu_count()} cores, {gpu}, "
        f"Python {platform.python_version()}, torch {torch.__version__}"
    )


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| benchmark | ours | reference | ratio | target | met | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        unit = row.get("unit", "")
        reference = row.get("reference")
        ref_text = "–" if reference is None else f"{_number(reference)} {unit} ({row.get('reference_name', '')})"
        ratio = row.get("ratio")
        met = row.get("met")
        lines.append(
            "| {benchmark} | {ours} {unit} | {ref} | {ratio} | {target} | {met} | {note} |".format(
                benchmark=row["benchmark"],
                ours=_number(row.get("ours")),
                unit=unit,
                ref=ref_text,
                ratio="–" if ratio is None else f"{ratio:.2f}×",
                target=row.get("target", ""),
                met={True: "yes", False: "**no**", None: "–"}[met],
                note=str(row.get("note", "")).replace("|", "/"),
            )
        )
    return "\n".join(lines)


def run(names: tuple[str, ...]) -> list[dict]:
    rows: list[dict] = []
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        started = time.perf_counter()
        print(f"[bench] {name}…", file=sys.stderr, flush=True)
        rows.extend(module.run())
        print(f"[bench] {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return rows


def update_readme(table: str, machine: str, markers: tuple[str, str]) -> None:
    start, end = markers
    readme = REPO_ROOT / "README.md"
    text = readme.read_text()
    block = f"{start}\nMeasured {machine}.\n\n{table}\n{end}"
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    readme.write_text(text)


def main(argv: list[str]) -> int:
    known = BENCHES + CLASS_BENCHES + WORST_BENCHES + VLLM_BENCHES
    names = tuple(argv) or known
    unknown = [name for name in names if name not in known]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {known}", file=sys.stderr)
        return 2
    machine = machine_line()
    results = []
    for group, markers in MARKERS.items():
        chosen = tuple(name for name in group if name in names)
        if not chosen:
            continue
        table = markdown_table(run(chosen))
        print(f"Measured {machine}.\n\n{table}\n")
        results.append(table)
        if chosen == group:
            update_readme(table, machine, markers)
    body = "\n\n".join(results)
    (REPO_ROOT / "bench" / "RESULTS.md").write_text(f"# Benchmark results\n\nMeasured {machine}.\n\n{body}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
