"""The demos: one entry per page, read by the router (app.py) and the home page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Demo:
    script: str  # path from the repository root
    title: str
    icon: str
    url_path: str
    teaches: str  # one or two sentences tied to the course material
    models: tuple[str, ...]  # registry keys it uses


DEMOS: tuple[Demo, ...] = (
    Demo(
        "demos/attention.py",
        "Attention",
        "🔍",
        "attention",
        "Self-attention on your own sentence: each query token's softmax over the keys, per layer and head. "
        "BERT looks both ways; GPT-2's mask keeps the future from leaking into the past. "
        "Induction heads (A B … A → B) found live.",
        ("bert-base-uncased", "gpt2"),
    ),
    Demo(
        "demos/generation.py",
        "Generation",
        "✍️",
        "generation",
        'GPT-2 with zero-, one- and few-shot prompts ("sea otter => loutre de mer", "cheese =>"): '
        "in-context learning, where no gradient updates are performed. Decoding controls and token probabilities.",
        ("gpt2",),
    ),
    Demo(
        "demos/clip_zero_shot.py",
        "CLIP zero-shot",
        "🖼️",
        "clip",
        'Contrastive language–image pre-training: classify any photo with "a photo of a {object}", see the '
        "image × caption similarity matrix, and compare zero-shot with a linear probe on frozen features.",
        ("clip-vit-b-32-openai",),
    ),
    Demo(
        "demos/fill_mask.py",
        "Fill-mask",
        "🎭",
        "fill-mask",
        "BERT's pre-training objective: predict [MASK] from both sides. One mask or many, and the "
        "15% / 80-10-10 masking rule applied to your sentence.",
        ("bert-base-uncased",),
    ),
    Demo(
        "demos/double_descent.py",
        "Bias–variance & double descent",
        "📉",
        "double-descent",
        "Test error = bias² + variance + noise: the classic U-curve, then double descent past the "
        "interpolation threshold (p = n), computed live from your settings.",
        (),
    ),
    Demo(
        "demos/finetune.py",
        "Fine-tuning lab",
        "🧪",
        "fine-tuning",
        "Transfer learning done live: a pre-trained encoder against training from scratch, frozen (linear probe), "
        "top layers, full fine-tuning and LoRA, on a few labelled examples; catastrophic forgetting measured.",
        ("all-minilm-l6-v2",),
    ),
)
