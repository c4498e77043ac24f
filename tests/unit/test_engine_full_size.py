"""The engines' exactness on full-size GPT-2 and BERT (random weights: the sums have the real sizes, so
the real rounding): a request served in a batch with a class's worth of others equals it served alone,
and alone equals transformers' own `generate` and `pipeline("fill-mask")`."""

from __future__ import annotations

import pytest
import torch
from transformers import pipeline

from models import fill_mask
from models import generation as gen
from tests.engine_tools import assert_same_generation
from tests.model_factory import build_model_dir, load_from_folder
from tests.unit.test_engine import QUERIES, SENTENCES, few_shot, in_threads

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def full_models(tmp_path_factory):
    root = build_model_dir(tmp_path_factory.mktemp("full-models"), size="full", keys=("gpt2", "bert-base-uncased"))
    return load_from_folder(root, "gpt2"), load_from_folder(root, "bert-base-uncased")


def test_full_size_gpt2_batched_equals_alone_equals_generate(full_models):
    gpt2, _ = full_models
    settings = [
        gen.DecodingSettings(max_new_tokens=8),
        gen.DecodingSettings(max_new_tokens=8, sample=True, temperature=0.9, top_k=50, seed=5),
    ]
    cases = [(few_shot(gpt2, query, 8), settings[index % 2]) for index, query in enumerate(QUERIES * 2)]
    alone = [gen.generate(gpt2, prompt, decoding) for prompt, decoding in cases]
    together = in_threads([lambda p=p, s=s: gen.generate(gpt2, p, s) for p, s in cases])
    for expected, actual in zip(alone, together):
        assert_same_generation(expected, actual)
    prompt, greedy = cases[0]
    ids = torch.from_numpy(prompt.ids)[None]
    with torch.inference_mode():
        reference = gpt2.model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=8,
            do_sample=False,
            pad_token_id=gpt2.tokenizer.eos_token_id,
        )[0, ids.shape[1] :].tolist()
    assert alone[0].token_ids.tolist() == reference


def test_two_models_loading_at_once_come_out_whole(full_models, tmp_path_factory):
    """transformers is not safe to load two models at once in two threads (tied output weights were left on
    the meta device); the loader takes one load at a time."""
    import threading

    root = full_models[0].source.location.rsplit("/", 1)[0]
    for _ in range(3):
        loaded = {}
        threads = [
            threading.Thread(target=lambda key=key: loaded.update({key: load_from_folder(root, key)}))
            for key in ("bert-base-uncased", "gpt2")
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for key, model in loaded.items():
            assert not any(t.is_meta for t in (*model.model.parameters(), *model.model.buffers())), key
        assert set(loaded) == {"bert-base-uncased", "gpt2"}


def test_full_size_bert_fill_mask_batched_equals_alone_equals_the_pipeline(full_models):
    _, bert = full_models
    texts = [text for text in SENTENCES if text.count("[MASK]") == 1]

    def fill(text: str) -> fill_mask.FillResult:
        fill_input = fill_mask.prepare_fill_input(bert.tokenizer, text, max_tokens=512, max_masks=8)
        return fill_mask.fill_masks(bert, fill_input, top_k=5)

    alone = [fill(text) for text in texts]
    together = in_threads([lambda t=t: fill(t) for t in texts * 4])
    for expected, actual in zip(alone * 4, together):
        assert actual.predictions[0].token_ids.tolist() == expected.predictions[0].token_ids.tolist()
        assert abs(actual.predictions[0].probs - expected.predictions[0].probs).max() <= 1e-4
    reference = pipeline("fill-mask", model=bert.model, tokenizer=bert.tokenizer, device="cpu")(texts[0], top_k=5)
    assert [row["token"] for row in reference] == alone[0].predictions[0].token_ids.tolist()
