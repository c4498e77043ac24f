"""Benchmark: how attention and generation cost grow with input length. CPU, full-size random weights.

    python -m bench.bench_scaling          # rows, and the plot in bench/scaling.png

Three curves, each the median of several runs after a warm-up, fitted by least squares to
t(n) = a + b·n + c·n² (per-token decoding: a + b·n, the cost of reading a KV cache of n tokens):
- attention: bert-base forward pass returning every attention weight (what the attention page runs),
  n = 32 … 512 tokens (BERT's context);
- prefill: GPT-2 forward pass over a prompt of n tokens, n = 32 … 1024;
- decoding: one GPT-2 step with a KV cache of n tokens.

The reference beside each fitted quadratic share is the share theory predicts from one layer's
multiply-adds per token: 12·d² for the projections and the MLP, 2·n·d for the attention scores and the
weighted sum of values, so the n² part of the whole pass is n / (6·d + n). "ratio" is left empty: the rows
describe how cost scales rather than ours against a competitor.
"""

from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.loading import MODEL_DIR_ENV, LoadedModel, choose_device, load_model
from bench.bench_app import FULL_MODELS_ENV
from bench.common import median_seconds
from tests.model_factory import build_model_dir

ATTENTION_LENGTHS = (32, 64, 128, 256, 384, 512)
GENERATION_LENGTHS = (32, 128, 256, 512, 768, 1024)
RUNS = 3
DECODE_STEPS = 4  # per-token time is the mean over this many steps, so one step's jitter averages out
PLOT_PATH = Path(__file__).resolve().parent / "scaling.png"


@dataclass(frozen=True)
class Fit:
    """t(n) = constant + linear·n + quadratic·n², in seconds."""

    constant: float
    linear: float
    quadratic: float

    def __call__(self, n: np.ndarray | float) -> np.ndarray | float:
        return self.constant + self.linear * n + self.quadratic * np.square(n)

    def quadratic_share(self, n: float) -> float:
        """Fraction of the fitted time at length n that the n² term accounts for."""
        return self.quadratic * n * n / self(n)


def fit_cost(lengths: np.ndarray, seconds: np.ndarray, *, quadratic: bool = True) -> Fit:
    """Least-squares fit of seconds against lengths (no n² term when `quadratic` is False)."""
    lengths = np.asarray(lengths, dtype=np.float64)
    columns = [np.ones_like(lengths), lengths] + ([np.square(lengths)] if quadratic else [])
    coefficients, *_ = np.linalg.lstsq(np.stack(columns, axis=1), np.asarray(seconds, dtype=np.float64), rcond=None)
    return Fit(coefficients[0], coefficients[1], coefficients[2] if quadratic else 0.0)


def theory_quadratic_share(n: float, hidden: int) -> float:
    """Attention's n² work over all of a transformer layer's work at length n: n / (6·d + n)."""
    return n / (6 * hidden + n)


def random_ids(vocabulary: int, length: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(length)
    return torch.randint(1000, vocabulary - 1000, (1, length), generator=generator)


def attention_seconds(loaded: LoadedModel, length: int) -> float:
    ids = random_ids(loaded.model.config.vocab_size, length)

    def forward() -> object:
        with torch.inference_mode():
            return loaded.model(input_ids=ids, output_attentions=True)

    return median_seconds(forward, RUNS)


def prefill_seconds(loaded: LoadedModel, length: int) -> float:
    ids = random_ids(loaded.model.config.vocab_size, length)

    def forward() -> object:
        with torch.inference_mode():
            return loaded.model(input_ids=ids, use_cache=True)

    return median_seconds(forward, RUNS)


def decode_seconds(loaded: LoadedModel, length: int) -> float:
    """Seconds of one decoding step after a cache of `length` tokens (mean over DECODE_STEPS steps)."""
    ids = random_ids(loaded.model.config.vocab_size, length)
    with torch.inference_mode():
        prefill = loaded.model(input_ids=ids[:, :-DECODE_STEPS], use_cache=True)

    def steps() -> None:
        cache = copy.deepcopy(prefill.past_key_values)  # each run starts from the same cache; steps grow it
        with torch.inference_mode():
            for index in range(length - DECODE_STEPS, length):
                cache = loaded.model(
                    input_ids=ids[:, index : index + 1], past_key_values=cache, use_cache=True
                ).past_key_values

    return median_seconds(steps, RUNS) / DECODE_STEPS


def load_full(key: str) -> LoadedModel:
    given = os.environ.get(FULL_MODELS_ENV, "").strip()
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as scratch:
        folder = given if given and (Path(given) / key).is_dir() else scratch
        if folder == scratch:
            build_model_dir(Path(folder), size="full", keys=(key,))
        previous = os.environ.get(MODEL_DIR_ENV)
        os.environ[MODEL_DIR_ENV] = folder
        try:
            # Mapped weight files stay readable after the folder is deleted (Linux keeps them until unmapped).
            return load_model(key, choose_device("cpu"))
        finally:
            if previous is None:
                os.environ.pop(MODEL_DIR_ENV, None)
            else:
                os.environ[MODEL_DIR_ENV] = previous


def plot(curves: dict[str, tuple[np.ndarray, np.ndarray, Fit]], path: Path = PLOT_PATH) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4.2))
    for axis, (title, (lengths, seconds, fit)) in zip(axes, curves.items()):
        grid = np.linspace(0, lengths.max(), 200)
        axis.plot(lengths, seconds * 1e3, "o", label="measured (median)")
        axis.plot(grid, fit(grid) * 1e3, "-", label="fit a + b·n + c·n²")
        axis.plot(grid, (fit.constant + fit.linear * grid) * 1e3, "--", label="linear part a + b·n")
        axis.set_title(title)
        axis.set_xlabel("tokens n")
        axis.set_ylabel("ms")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Cost against input length (CPU, full-size random weights)")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def scaling_row(name: str, lengths: np.ndarray, seconds: np.ndarray, fit: Fit, hidden: int, note: str) -> dict:
    longest = float(lengths.max())
    measured = fit.quadratic_share(longest)
    theory = theory_quadratic_share(longest, hidden)
    return {
        "benchmark": f"scaling: {name}, n² share of the time at {longest:.0f} tokens",
        "unit": "%",
        "ours": 100 * measured,
        "reference": 100 * theory,
        "reference_name": "FLOP count n / (6d + n)",
        "ratio": None,
        "target": "",
        "met": None,
        "note": f"{note}; fit t = {fit.constant * 1e3:.1f} ms + {fit.linear * 1e6:.1f} µs·n + "
        f"{fit.quadratic * 1e9:.2f} ns·n²; measured {seconds.min() * 1e3:.0f}–{seconds.max() * 1e3:.0f} ms "
        f"over n = {lengths.min():.0f}…{longest:.0f}; plot in bench/scaling.png",
    }


def run() -> list[dict]:
    bert = load_full("bert-base-uncased")
    attention_n = np.array(ATTENTION_LENGTHS)
    attention = np.array([attention_seconds(bert, n) for n in ATTENTION_LENGTHS])
    del bert
    gpt2 = load_full("gpt2")
    generation_n = np.array(GENERATION_LENGTHS)
    prefill = np.array([prefill_seconds(gpt2, n) for n in GENERATION_LENGTHS])
    decode = np.array([decode_seconds(gpt2, n) for n in GENERATION_LENGTHS])
    fits = {
        "attention": fit_cost(attention_n, attention),
        "prefill": fit_cost(generation_n, prefill),
        "decode": fit_cost(generation_n, decode, quadratic=False),
    }
    plot(
        {
            "BERT forward + attentions": (attention_n, attention, fits["attention"]),
            "GPT-2 prefill": (generation_n, prefill, fits["prefill"]),
            "GPT-2 one step with KV cache": (generation_n, decode, fits["decode"]),
        }
    )
    hidden = 768
    decode_fit = fits["decode"]
    return [
        scaling_row(
            "BERT forward with attentions",
            attention_n,
            attention,
            fits["attention"],
            hidden,
            f"bert-base, eager attention, all 144 heads' weights returned, median of {RUNS}",
        ),
        scaling_row(
            "GPT-2 prefill",
            generation_n,
            prefill,
            fits["prefill"],
            hidden,
            f"gpt2, the prompt's forward pass with the KV cache built, median of {RUNS}",
        ),
        {
            "benchmark": "scaling: GPT-2 per-token decoding, 1024-token cache against 32",
            "unit": "ms",
            "ours": 1e3 * float(decode[-1]),
            "reference": 1e3 * float(decode[0]),
            "reference_name": "the same step, 32-token cache",
            "ratio": None,
            "target": "",
            "met": None,
            "note": f"one step with the KV cache (mean of {DECODE_STEPS} steps, median of {RUNS}); linear fit "
            f"t = {decode_fit.constant * 1e3:.1f} ms + {decode_fit.linear * 1e6:.2f} µs per cached token: reading "
            "the cache grows linearly, the weights dominate",
        },
    ]


if __name__ == "__main__":
    from bench.run_all import markdown_table

    print(markdown_table(run()))
