#!/usr/bin/env python
"""A class at once: many students on one `streamlit run` server, each with their own input.

1. Concurrent: N browser sessions (Playwright pages in one Chromium, each in its own browser context,
   so each is its own Streamlit session) send their request together: half run a fill-mask, half a
   generation, every one with a text of its own. Each must finish, show no error, and show exactly
   the result the same model gives that student's input when run alone (computed in this process on
   the same weights), and no other student's text. Latency: from the request (page opened, or
   Generate pressed) to the result on screen; p50 and p95.
2. Soak: R requests in a row through the pages (a fresh session each, as students opening a link),
   after W warm-up requests; the server's resident memory (RSS) is read after the warm-up and at the
   end. The growth must stay under 50 MB.

How the server serves them: Streamlit runs each session's script in its own thread. A model is loaded
once and shared, and one engine per model (models/engine.py) runs every call on it: concurrent
fill-masks share one padded forward pass, and generations decode together in continuous batches
(models/continuous_batching.py), the preset's shared prompt start computed once.
tests/unit/test_concurrency.py and tests/unit/test_engine.py prove every forward pass runs on the
model's engine and that a request served in a batch gets what it would get alone.

Bounded: at most 64 sessions and 1000 soak requests, a deadline for the concurrent phase and for each
soak request, a server on 127.0.0.1 only.
Full-size GPT-2 and BERT architectures with random weights are built unless --model-dir names a
folder of real ones (as written by scripts/prefetch_models.py --dir).

    python scripts/load_test.py                      # 20 sessions, then 200 requests in a row
    python scripts/load_test.py --sessions 6 --soak 0 --model-dir /tmp/tiny
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from models.limits import MAX_MASKS  # noqa: E402
from models.loading import MODEL_DIR_ENV, LoadedModel, choose_device, load_model  # noqa: E402

MAX_SESSIONS = 64
MAX_SOAK = 1000
RSS_GROWTH_LIMIT_MB = 50.0
MAX_NEW_TOKENS = 8
MAIN = '[data-testid="stMain"]'
RESULT_MARKERS = {"fill-mask": "Filled with the most probable token", "generation": "tokens · stopped at"}
READY_MARKER = "Press Generate to continue the prompt token by token."
SETTLE_S = 0.5
TOPICS = (
    "transfer learning",
    "self-attention",
    "fine-tuning",
    "in-context learning",
    "double descent",
    "the bias-variance trade-off",
    "masked language modelling",
    "contrastive pre-training",
    "induction heads",
    "zero-shot classification",
    "the softmax",
    "word embeddings",
)
Kind = Literal["fill-mask", "generation"]  # also the pages' URL paths


@dataclass(frozen=True)
class Student:
    """One student's request: a fill-mask or a generation on a text nobody else types."""

    number: int
    kind: Kind
    text: str

    @property
    def marker(self) -> str:
        return f"student {self.number:03d}"

    def query(self, max_new_tokens: int) -> str:
        if self.kind == "fill-mask":
            return urlencode({"text": self.text})
        # A free prompt: the task alone, no examples, greedy, a fixed length.
        return urlencode(
            {
                "task": self.text,
                "examples": "[]",
                "query": "",
                "answer": "",
                "shots": "zero",
                "max_new": max_new_tokens,
                "stop_nl": 0,
            }
        )


@dataclass
class Outcome:
    student: Student
    seconds: float | None  # request to result on screen; None if it never finished
    shown: str  # the result as the page shows it (filled sentence, or prompt + generated text)
    page_text: str  # everything in the page's main area
    errors: list[str]


def make_students(count: int) -> list[Student]:
    students = []
    for number in range(count):
        topic = TOPICS[number % len(TOPICS)]
        if number % 2 == 0:
            students.append(Student(number, "fill-mask", f"Student {number:03d} thinks {topic} is a [MASK] idea."))
        else:
            students.append(Student(number, "generation", f"Student {number:03d} explains {topic}:"))
    return students


def expected_result(student: Student, bert: LoadedModel, gpt2: LoadedModel, max_new_tokens: int) -> str:
    """What the page must show this student: the same pipeline the page runs, alone, in this process."""
    from models import fill_mask, generation

    if student.kind == "fill-mask":
        fill_input = fill_mask.prepare_fill_input(
            bert.tokenizer,
            fill_mask.normalize_masks(student.text, bert.tokenizer.mask_token).text,
            max_tokens=bert.entry.context_length,
            max_masks=MAX_MASKS,
        )
        return fill_mask.fill_masks(bert, fill_input, top_k=5).filled_text
    prompt = generation.prepare_prompt(
        gpt2.tokenizer, student.text, max_new_tokens=max_new_tokens, context_length=gpt2.entry.context_length
    )
    settings = generation.DecodingSettings(max_new_tokens=max_new_tokens, top_k=50)  # the page's defaults
    return prompt.text + generation.generate(gpt2, prompt, settings).text


# ---------------------------------------------------------------------------------------------
# Driving the browser


def _running(page) -> bool:
    return page.locator('[data-testid="stStatusWidget"]').count() > 0


def _errors(page) -> list[str]:
    return page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').all_inner_texts()


def _showing(page, marker: str) -> bool:
    """`marker` is on screen and no script is running, or an error is showing."""
    if _errors(page):
        return True
    return page.locator(MAIN).get_by_text(marker).count() > 0 and not _running(page)


def wait_settled(pages: list, markers: list[str], timeout_s: float) -> list[float | None]:
    """For each page, the moment from which `marker` showed with no script running for SETTLE_S (or None).

    Streamlit shows its running indicator only some time after a run starts, and a page draws its
    result before it has finished running: a marker seen once may still be mid-run.
    """
    since: list[float | None] = [None] * len(pages)
    settled: list[float | None] = [None] * len(pages)
    deadline = time.monotonic() + timeout_s
    while None in settled and time.monotonic() < deadline:
        for index, (page, marker) in enumerate(zip(pages, markers)):
            if settled[index] is None:
                now = time.monotonic()
                since[index] = (since[index] or now) if _showing(page, marker) else None
                if since[index] is not None and now - since[index] >= SETTLE_S:
                    settled[index] = since[index]
        pages[0].wait_for_timeout(50)
    return settled


def _shown_result(page, kind: Kind) -> str:
    main = page.locator(MAIN)
    if kind == "fill-mask":
        return main.locator('[data-testid="stCode"]').first.inner_text()
    main.get_by_text("Prompt + generated text, as plain text").click()
    block = main.locator('[data-testid="stCode"]').last
    block.wait_for()
    return block.inner_text()


def _press_generate(page) -> None:
    page.locator(MAIN).get_by_role("button", name="Generate", exact=True).click()


def run_concurrent(
    browser, server_url: str, students: list[Student], *, max_new_tokens: int = MAX_NEW_TOKENS, timeout_s: float = 300
) -> list[Outcome]:
    """Every student's request sent together; returns each outcome (latency measured per session)."""
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in students]
    pages = [context.new_page() for context in contexts]
    generating = [(s, p) for s, p in zip(students, pages) if s.kind == "generation"]
    try:
        # Generation pages load first (not timed): their request is the Generate button.
        for student, page in generating:
            page.goto(f"{server_url}/{student.kind}?{student.query(max_new_tokens)}", wait_until="commit")
        wait_settled([page for _, page in generating], [READY_MARKER] * len(generating), timeout_s)
        started = []
        for student, page in zip(students, pages):  # now every request goes out at once
            started.append(time.monotonic())
            if student.kind == "generation":
                _press_generate(page)
            else:
                page.goto(f"{server_url}/{student.kind}?{student.query(max_new_tokens)}", wait_until="commit")
        pages[0].wait_for_timeout(300)  # let the runs begin before watching for their end
        settled = wait_settled(pages, [RESULT_MARKERS[s.kind] for s in students], timeout_s)
        outcomes = []
        for student, page, start, end in zip(students, pages, started, settled):
            errors = _errors(page) if end is not None else [f"no result within {timeout_s:.0f} s"]
            outcomes.append(
                Outcome(
                    student=student,
                    seconds=end - start if end is not None else None,
                    shown=_shown_result(page, student.kind) if not errors else "",
                    page_text=page.locator(MAIN).inner_text(),
                    errors=errors,
                )
            )
        return outcomes
    finally:
        for context in contexts:
            context.close()


def problems(outcomes: list[Outcome], expected: dict[int, str]) -> list[str]:
    """Everything wrong: an error, a missing or wrong result, another student's text on a page."""
    found = []
    markers = {outcome.student.number: outcome.student.marker for outcome in outcomes}
    for outcome in outcomes:
        who = f"{outcome.student.kind} {outcome.student.marker}"
        if outcome.errors:
            found.append(f"{who}: {outcome.errors}")
            continue
        # Compared word by word: a code block drops trailing blanks, and random weights write odd spacing.
        if outcome.shown.split() != expected[outcome.student.number].split():
            found.append(f"{who}: shows {outcome.shown!r}, alone it gives {expected[outcome.student.number]!r}")
        page = outcome.page_text.lower()
        if outcome.student.marker not in page:
            found.append(f"{who}: its own text is not on its page")
        others = [marker for number, marker in markers.items() if number != outcome.student.number and marker in page]
        if others:
            found.append(f"{who}: shows other students' text: {others}")
    return found


def cpu_seconds(process) -> float:
    """CPU time a psutil.Process has used so far, user and system."""
    times = process.cpu_times()
    return times.user + times.system


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


# ---------------------------------------------------------------------------------------------
# Soak


def _one_request(
    page, server_url: str, student: Student, max_new_tokens: int, timeout_s: float
) -> tuple[float, list[str]]:
    """One student's request in a fresh session: (seconds from request to result, errors shown)."""
    started = time.monotonic()
    page.goto(f"{server_url}/{student.kind}?{student.query(max_new_tokens)}")
    if student.kind == "generation":
        wait_settled([page], [READY_MARKER], timeout_s)
        started = time.monotonic()
        _press_generate(page)
    [end] = wait_settled([page], [RESULT_MARKERS[student.kind]], timeout_s)
    if end is None:
        return time.monotonic() - started, [f"no result within {timeout_s:.0f} s"]
    return end - started, _errors(page)


def soak(
    browser,
    server,
    students: list[Student],
    *,
    warmup: int,
    requests: int,
    max_new_tokens: int = MAX_NEW_TOKENS,
    timeout_s: float = 300,
) -> dict:
    """`warmup` + `requests` requests in a row, one fresh session each; the server's RSS around them."""
    import psutil
    from playwright.sync_api import Error as PlaywrightError

    from tests.e2e.conftest import wait_for_app

    server_process = psutil.Process(server.process.pid)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    latencies: list[float] = []
    failures: list[str] = []
    rss_after_warmup = rss_peak = 0
    cpu_after_warmup = 0.0
    try:
        for index in range(warmup + requests):
            if index == warmup:
                rss_after_warmup = server_process.memory_info().rss
                cpu_after_warmup = cpu_seconds(server_process)
            student = students[index % len(students)]
            try:
                seconds, errors = _one_request(page, server.url, student, max_new_tokens, timeout_s)
            except PlaywrightError as error:  # a page that never got ready: a failure, not the end of the run
                seconds, errors = None, [f"{type(error).__name__}: {str(error).splitlines()[0]}"]
            if errors:
                failures.append(f"request {index} ({student.kind}): {errors}")
            elif index >= warmup:
                latencies.append(seconds)
            if index >= warmup:
                rss_peak = max(rss_peak, server_process.memory_info().rss)
        wait_for_app(page)
        rss_end = server_process.memory_info().rss
        cpu_per_request = (cpu_seconds(server_process) - cpu_after_warmup) / max(requests, 1)
    finally:
        context.close()
    growth_mb = (rss_end - rss_after_warmup) / 2**20
    return {
        "requests": requests,
        "warmup": warmup,
        "failures": failures,
        "rss_after_warmup_mb": rss_after_warmup / 2**20,
        "rss_end_mb": rss_end / 2**20,
        "rss_peak_mb": rss_peak / 2**20,
        "growth_mb": growth_mb,
        "server_cpu_s_per_request": cpu_per_request,
        "p50_s": statistics.median(latencies) if latencies else None,
        "p95_s": percentile(latencies, 0.95) if latencies else None,
    }


# ---------------------------------------------------------------------------------------------
# The script


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=20, help=f"concurrent sessions (at most {MAX_SESSIONS})")
    parser.add_argument(
        "--soak", type=int, default=200, help=f"requests in a row after the warm-up (at most {MAX_SOAK})"
    )
    parser.add_argument("--warmup", type=int, default=20, help="soak requests before the memory baseline")
    parser.add_argument("--max-new-tokens", type=int, default=MAX_NEW_TOKENS, help="tokens each generation writes")
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="folder with gpt2/ and bert-base-uncased/ (default: build "
        "full-size random-weight copies in a temporary folder)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds the concurrent phase may take")
    parser.add_argument("--request-timeout", type=float, default=120, help="seconds one soak request may take")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= MAX_SESSIONS or not 0 <= args.soak <= MAX_SOAK or args.warmup < 0:
        parser.error(f"--sessions must be 1..{MAX_SESSIONS}, --soak 0..{MAX_SOAK}, --warmup at least 0")
    return args


def full_size_models(root: Path) -> Path:
    from tests.model_factory import build_model_dir

    print("Building full-size GPT-2 and BERT base with random weights…", flush=True)
    return build_model_dir(root, size="full", keys=("gpt2", "bert-base-uncased"))


def report(outcomes: list[Outcome], found: list[str], soaked: dict | None, concurrent_cpu_s: float) -> str:
    lines = [
        "| phase | requests | ok | p50 (s) | p95 (s) | max (s) | note |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind in ("fill-mask", "generation", None):
        chosen = [o for o in outcomes if kind is None or o.student.kind == kind]
        times = [o.seconds for o in chosen if o.seconds is not None and not o.errors]
        if not chosen:
            continue
        label = f"concurrent: {kind}" if kind else "concurrent: all"
        stats = (
            f"{statistics.median(times):.2f} | {percentile(times, 0.95):.2f} | {max(times):.2f}"
            if times
            else "– | – | –"
        )
        wrong = sum(1 for o in chosen if any(o.student.marker in p for p in found))
        note = "all sent at once"
        if kind is None:
            note += f"; server CPU {concurrent_cpu_s:.0f} s, {concurrent_cpu_s / len(chosen):.1f} s per request"
        lines.append(f"| {label} | {len(chosen)} | {len(chosen) - wrong} | {stats} | {note} |")
    if soaked:
        ok = soaked["requests"] + soaked["warmup"] - len(soaked["failures"])
        stats = f"{soaked['p50_s']:.2f} | {soaked['p95_s']:.2f} | –" if soaked["p50_s"] is not None else "– | – | –"
        lines.append(
            f"| soak (one after another) | {soaked['requests']} (+{soaked['warmup']} warm-up) | {ok} | {stats} | "
            f"server RSS {soaked['rss_after_warmup_mb']:.0f} → {soaked['rss_end_mb']:.0f} MB "
            f"(peak {soaked['rss_peak_mb']:.0f}): {soaked['growth_mb']:+.1f} MB (limit {RSS_GROWTH_LIMIT_MB:.0f}); "
            f"server CPU {soaked['server_cpu_s_per_request']:.1f} s per request |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import psutil
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, StreamlitServer

    with tempfile.TemporaryDirectory(prefix="lecture-lab-load-") as scratch:
        model_dir = args.model_dir or full_size_models(Path(scratch) / "models")
        os.environ[MODEL_DIR_ENV] = str(model_dir)
        cpu = choose_device("cpu")
        bert, gpt2 = load_model("bert-base-uncased", cpu), load_model("gpt2", cpu)
        students = make_students(args.sessions)
        expected = {s.number: expected_result(s, bert, gpt2, args.max_new_tokens) for s in students}
        del bert, gpt2  # the server loads its own copy
        server = StreamlitServer(Path(model_dir), Path(scratch) / "streamlit.log")
        try:
            server.wait_healthy()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
                warm = browser.new_context().new_page()  # the first visit loads both models (not timed)
                for student in students[:2]:
                    warm.goto(f"{server.url}/{student.kind}")
                    warm.locator(MAIN).get_by_text("Download data (CSV)").first.wait_for(timeout=args.timeout * 1000)
                warm.context.close()
                print(f"{len(students)} sessions at once…", flush=True)
                server_process = psutil.Process(server.process.pid)
                cpu_before = cpu_seconds(server_process)
                outcomes = run_concurrent(
                    browser, server.url, students, max_new_tokens=args.max_new_tokens, timeout_s=args.timeout
                )
                concurrent_cpu_s = cpu_seconds(server_process) - cpu_before
                found = problems(outcomes, expected)
                soaked = None
                if args.soak:
                    print(f"Soak: {args.warmup} warm-up + {args.soak} requests in a row…", flush=True)
                    soaked = soak(
                        browser,
                        server,
                        students,
                        warmup=args.warmup,
                        requests=args.soak,
                        max_new_tokens=args.max_new_tokens,
                        timeout_s=args.request_timeout,
                    )
                browser.close()
        finally:
            server.stop()
    print(report(outcomes, found, soaked, concurrent_cpu_s))
    for problem in found + (soaked["failures"] if soaked else []):
        print("PROBLEM:", problem)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "sessions": [dict(asdict(o.student), seconds=o.seconds, errors=o.errors) for o in outcomes],
                    "problems": found,
                    "concurrent_server_cpu_s": concurrent_cpu_s,
                    "soak": soaked,
                },
                indent=2,
            )
        )
    too_much = soaked is not None and soaked["growth_mb"] >= RSS_GROWTH_LIMIT_MB
    return 1 if found or too_much or (soaked and soaked["failures"]) else 0


if __name__ == "__main__":
    sys.exit(main())
