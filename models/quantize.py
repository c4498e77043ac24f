"""int8 mode: GPT-2 and BERT with 8-bit linear layers, for a big class on a CPU. No Streamlit here.

Off by default; the server's operator switches it on with LECTURE_LAB_INT8=1, and the sidebar and the
model's notice tell students that results are approximate. Every linear layer (GPT-2's Conv1D included,
and the output layer that projects to the vocabulary) keeps its weights as int8 with one scale per output
channel, and quantizes its input per batch on the fly: PyTorch's dynamic quantization, which runs int8
matrix products (fbgemm). Embeddings, layer norms and attention stay in float32.

Why not weight-only int8 (float32 inputs, int8 weights): on this project's 2-CPU machine PyTorch's
weight-only kernel is slower than float32 at every batch size measured (bench/bench_int8.py), while the
dynamic int8 products are 4-8 times faster than float32 from batch 1 to batch 64.
"""

from __future__ import annotations

import os
import warnings

import torch

INT8_ENV = "LECTURE_LAB_INT8"
INT8_FAMILIES = ("causal-lm", "masked-lm")
INT8_NOTICE = (
    "int8 mode is on (set by the server for a big class): the model runs with 8-bit weights, so its "
    "probabilities and attention weights are close to, but not exactly, those of the full-precision model."
)


def int8_requested() -> bool:
    return os.environ.get(INT8_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _linear_from_conv1d(conv: torch.nn.Module) -> torch.nn.Linear:
    """transformers' Conv1D (x @ W + b, W stored as (in, out)) as the equivalent nn.Linear."""
    linear = torch.nn.Linear(conv.weight.shape[0], conv.weight.shape[1], device=conv.weight.device)
    with torch.no_grad():
        linear.weight.copy_(conv.weight.t())
        linear.bias.copy_(conv.bias)
    return linear


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Replace every linear layer of `model` (on the CPU, in eval mode) by its int8 version, in place."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    from transformers.pytorch_utils import Conv1D

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, Conv1D):
                setattr(module, name, _linear_from_conv1d(child))
    with warnings.catch_warnings():  # PyTorch points to torchao for new code; this API still ships and works
        warnings.simplefilter("ignore")
        quantize_dynamic(model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    return model


def is_int8(model: torch.nn.Module) -> bool:
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    return any(isinstance(module, DynamicLinear) for module in model.modules())
