"""int8 mode: GPT-2 and BERT with 8-bit weights, for a big class on a CPU. No Streamlit here.

Off by default; the server's operator switches it on with LECTURE_LAB_INT8=1, and the sidebar and the
model's notice tell students that results are approximate. Every linear layer (GPT-2's Conv1D included,
and the output layer that projects to the vocabulary) keeps its weights as int8 with one scale per output
channel: weight-only quantization. Inputs stay floating point (rounded to bfloat16 for PyTorch's int8
weight kernel); embeddings, layer norms and attention stay in float32.

Why weight-only: on MiniLM's real weights it keeps hidden states within cosine 0.999 of float32 and
attention weights within about 0.05, while quantizing the activations too (PyTorch's dynamic int8) is
faster at large batches but drops to cosine 0.96 and moves attention weights by up to 0.4, which a student
would see in the heatmaps (bench/bench_int8.py measures both).
"""

from __future__ import annotations

import os

import torch

INT8_ENV = "LECTURE_LAB_INT8"
INT8_FAMILIES = ("causal-lm", "masked-lm")
INT8_NOTICE = (
    "int8 mode is on (set by the server for a big class): the model runs with 8-bit weights, so its "
    "probabilities and attention weights are close to, but not exactly, those of the full-precision model."
)


def int8_requested() -> bool:
    return os.environ.get(INT8_ENV, "").strip().lower() in ("1", "true", "yes", "on")


class Int8Linear(torch.nn.Module):
    """y = x Wᵀ + b with W stored as int8, one scale per output channel (symmetric, |W| max ↦ 127)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        weight = weight.detach().float()
        # The kernel takes bfloat16 scales: round each one up to a bfloat16 (a nudge of one bfloat16 step
        # before rounding) and quantize with exactly that value, so every weight is within half a step.
        exact = (weight.abs().amax(dim=1) / 127).clamp(min=1e-12)
        scales = (exact * (1 + 2**-7)).to(torch.bfloat16)
        self.out_features, self.in_features = weight.shape
        quantized = torch.round(weight / scales.float()[:, None]).clamp(-127, 127).to(torch.int8)
        self.register_buffer("weight_int8", quantized.contiguous())
        self.register_buffer("scales", scales)
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    @classmethod
    def from_linear(cls, linear: torch.nn.Linear) -> Int8Linear:
        return cls(linear.weight, linear.bias)

    @classmethod
    def from_conv1d(cls, conv: torch.nn.Module) -> Int8Linear:
        """transformers' Conv1D computes x @ W + b with W stored as (in, out)."""
        return cls(conv.weight.t(), conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).to(torch.bfloat16)
        y = torch._weight_int8pack_mm(flat, self.weight_int8, self.scales).float()
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features)

    def dequantized(self) -> torch.Tensor:
        """The float32 weight this layer multiplies by, (out, in)."""
        return self.weight_int8.float() * self.scales.float()[:, None]


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Replace every linear layer of `model` (on the CPU, in eval mode) by an Int8Linear, in place."""
    from transformers.pytorch_utils import Conv1D

    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.Linear):
                setattr(module, name, Int8Linear.from_linear(child))
            elif isinstance(child, Conv1D):
                setattr(module, name, Int8Linear.from_conv1d(child))
    return model


def is_int8(model: torch.nn.Module) -> bool:
    return any(isinstance(module, Int8Linear) for module in model.modules())
