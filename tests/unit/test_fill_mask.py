"""models/fill_mask.py against transformers' fill-mask pipeline, the model's own forward pass and loss,
and the statistics of BERT's 15% / 80-10-10 rule. Tiny random weights: only agreement matters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import pipeline

from models import fill_mask as fm
from models.limits import MAX_MASKS
from ui import fill_mask_charts as charts
from ui.text import markdown_literal

TWO_MASKS = "Deep neural networks trained on one [MASK] can be reused for another [MASK]."
SENTENCE = "BERT learns strong word representations by predicting masked words from the surrounding context."


@pytest.fixture(scope="module")
def wordpiece(tiny_bert):
    """bert-base-uncased's WordPiece vocabulary (30,522 pieces), as the tiny models ship it."""
    assert len(tiny_bert.tokenizer) == 30_522
    return tiny_bert.tokenizer


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def masked_lm(request, tiny_bert, tiny_distilbert):
    return tiny_bert if request.param == "bert" else tiny_distilbert


def fill_input(loaded, text: str, max_masks: int = MAX_MASKS) -> fm.FillInput:
    masked = fm.normalize_masks(text, loaded.tokenizer.mask_token)
    return fm.prepare_fill_input(loaded.tokenizer, masked.text, max_tokens=512, max_masks=max_masks)


def reference(loaded):
    return pipeline("fill-mask", model=loaded.model, tokenizer=loaded.tokenizer)


# ---------------------------------------------------------------------------------------
# Prepare


def test_normalize_masks_converts_every_spelling_and_counts_them():
    masked = fm.normalize_masks("a <mask> b ___ c [mask] d [MASK] e [Mask] f _____", "[MASK]")
    assert masked.text == "a [MASK] b [MASK] c [MASK] d [MASK] e [MASK] f [MASK]"
    assert masked.mask_count == 6
    assert dict(masked.conversions) == {"<mask>": 1, "___": 1, "[mask]": 1, "[Mask]": 1, "_____": 1}
    assert masked.glued_words == ()


def test_normalize_masks_reports_nothing_for_the_tokenizers_own_spelling_and_finds_glued_masks():
    masked = fm.normalize_masks("wor[MASK] and [MASK]s and [MASK].", "[MASK]")
    assert masked.conversions == ()
    assert masked.glued_words == ("wor[MASK]", "[MASK]s")
    assert fm.unglue_masks(masked.text, "[MASK]") == "[MASK] and [MASK] and [MASK]."


def test_two_underscores_are_not_a_mask():
    assert fm.normalize_masks("snake__case", "[MASK]").mask_count == 0


def test_mask_a_word_prefers_the_last_content_word():
    assert fm.mask_a_word("Paris is the capital of France.", "[MASK]") == "Paris is the capital of [MASK]."
    assert fm.mask_a_word("it is", "[MASK]") == "it [MASK]"
    assert fm.mask_a_word("123 !!! 😀", "[MASK]") is None


def test_prepare_matches_the_tokenizer_when_the_text_fits(wordpiece):
    prepared = fm.prepare_fill_input(wordpiece, TWO_MASKS, max_tokens=512, max_masks=MAX_MASKS)
    expected = wordpiece(TWO_MASKS)["input_ids"]
    assert prepared.input_ids.tolist() == expected
    assert prepared.pieces == tuple(wordpiece.convert_ids_to_tokens(expected))
    assert [expected[i] for i in prepared.mask_positions] == [wordpiece.mask_token_id] * 2
    assert prepared.truncated_tokens == 0 and prepared.dropped_masks == () and prepared.has_context


def test_only_masks_have_no_context(wordpiece):
    prepared = fm.prepare_fill_input(wordpiece, "[MASK] [MASK] .", max_tokens=512, max_masks=MAX_MASKS)
    assert not prepared.has_context
    assert len(prepared.mask_positions) == 2


def test_masks_past_the_cap_stay_masks_but_are_not_predicted(wordpiece):
    text = " ".join(["word [MASK]"] * (MAX_MASKS + 3))
    prepared = fm.prepare_fill_input(wordpiece, text, max_tokens=512, max_masks=MAX_MASKS)
    assert len(prepared.mask_positions) == MAX_MASKS
    assert prepared.unfilled_masks == 3
    assert int((prepared.input_ids == wordpiece.mask_token_id).sum()) == MAX_MASKS + 3


def test_long_text_is_cut_to_the_context_keeping_a_late_mask(wordpiece):
    text = "word " * 700 + "the [MASK] is here"
    prepared = fm.prepare_fill_input(wordpiece, text, max_tokens=512, max_masks=MAX_MASKS)
    length = len(wordpiece(text, add_special_tokens=False)["input_ids"])
    assert len(prepared.input_ids) == 512
    assert prepared.truncated_tokens == length - 510
    assert len(prepared.mask_positions) == 1 and prepared.dropped_masks == ()
    assert prepared.pieces[0] == "[CLS]" and prepared.pieces[-1] == "[SEP]"
    assert prepared.pieces[-3:-1] == ("is", "here")  # the window reaches the end of the text


def test_a_mask_in_the_middle_of_a_long_text_gets_context_on_both_sides(wordpiece):
    text = "left " * 600 + "[MASK] " + "right " * 600
    prepared = fm.prepare_fill_input(wordpiece, text, max_tokens=512, max_masks=MAX_MASKS)
    (position,) = prepared.mask_positions.tolist()
    assert abs(position - 256) <= 2
    assert prepared.pieces[1] == "left" and prepared.pieces[-2] == "right"


def test_long_text_without_masks_keeps_its_start(wordpiece):
    prepared = fm.prepare_fill_input(wordpiece, "alpha " + "word " * 700, max_tokens=512, max_masks=MAX_MASKS)
    assert prepared.pieces[1] == "alpha" and len(prepared.input_ids) == 512


def test_masks_too_far_apart_for_one_window_are_dropped_and_named(wordpiece):
    text = "[MASK] " + "word " * 600 + "[MASK] and [MASK]"
    prepared = fm.prepare_fill_input(wordpiece, text, max_tokens=512, max_masks=MAX_MASKS)
    assert len(prepared.input_ids) == 512
    assert prepared.dropped_masks == (2, 3)
    assert len(prepared.mask_positions) == 1


def test_click_to_mask_replaces_exactly_the_picked_tokens(wordpiece):
    tokens = fm.tokenize_sentence(wordpiece, "unbelievably good", max_tokens=512)
    assert tokens.pieces[0] == "[CLS]" and 0 not in tokens.maskable and len(tokens.pieces) - 1 not in tokens.maskable
    piece = tokens.pieces.index("##bel")
    masked = fm.mask_tokens(wordpiece, tokens, [piece], max_masks=MAX_MASKS)
    assert masked.mask_positions.tolist() == [piece]
    changed = np.flatnonzero(masked.input_ids != tokens.input_ids)
    assert changed.tolist() == [piece]
    with pytest.raises(ValueError):
        fm.mask_tokens(wordpiece, tokens, [0], max_masks=MAX_MASKS)


def test_tokenize_sentence_cuts_at_the_end(wordpiece):
    tokens = fm.tokenize_sentence(wordpiece, "word " * 300, max_tokens=128)
    assert len(tokens.input_ids) == 128 and tokens.truncated_tokens == 300 - 126


# ---------------------------------------------------------------------------------------
# Run: the reference is transformers' own pipeline and forward pass


def test_mask_logits_equal_the_full_forward_at_those_rows(masked_lm):
    prepared = fill_input(masked_lm, TWO_MASKS)
    rows = [1, *prepared.mask_positions.tolist()]
    ours = fm.mask_logits(masked_lm, prepared.input_ids, rows)
    with torch.inference_mode():
        full = masked_lm.model(input_ids=torch.as_tensor(prepared.input_ids)[None]).logits[0, rows]
    torch.testing.assert_close(ours, full, rtol=1e-5, atol=1e-5)


def real_words(rows: list[dict], top_k: int) -> list[dict]:
    """The pipeline's rows without the pieces that never occur in text ([unused7], [SEP]…), as the page offers them."""

    def placeholder(word: str) -> bool:
        return word.startswith("[") and word.endswith("]") and len(word) > 2

    return [row for row in rows if not placeholder(row["token_str"])][:top_k]


def reference_words(masked_lm, text: str, top_k: int):
    """transformers' fill-mask pipeline, asked for enough extra rows to skip BERT's 1,000 placeholders."""
    rows = reference(masked_lm)(text, top_k=top_k + 1_010)
    if rows and isinstance(rows[0], list):
        return [real_words(per_mask, top_k) for per_mask in rows]
    return real_words(rows, top_k)


@pytest.mark.parametrize("top_k", [1, 5, 12])
def test_one_mask_equals_the_pipeline(masked_lm, top_k):
    text = "The man worked as a [MASK]."
    result = fm.fill_masks(masked_lm, fill_input(masked_lm, text), top_k=top_k)
    expected = reference_words(masked_lm, text, top_k)
    (prediction,) = result.predictions
    assert prediction.token_ids.tolist() == [row["token"] for row in expected]
    np.testing.assert_allclose(prediction.probs, [row["score"] for row in expected], rtol=1e-5, atol=1e-9)
    assert list(prediction.words) == [row["token_str"] for row in expected]
    assert prediction.pieces == tuple(masked_lm.tokenizer.convert_ids_to_tokens(prediction.token_ids.tolist()))
    assert result.filled_text == expected[0]["sequence"]
    assert not any(word.startswith("[") for word in prediction.words)


def test_several_masks_equal_the_pipelines_multi_mask_output(masked_lm):
    text = "The [MASK] sat on the [MASK] because it was [MASK]."
    result = fm.fill_masks(masked_lm, fill_input(masked_lm, text), top_k=5)
    expected = reference_words(masked_lm, text, 5)
    assert len(result.predictions) == len(expected) == 3
    for prediction, rows in zip(result.predictions, expected):
        assert prediction.token_ids.tolist() == [row["token"] for row in rows]
        np.testing.assert_allclose(prediction.probs, [row["score"] for row in rows], rtol=1e-5, atol=1e-9)


def test_accepted_spellings_give_the_same_predictions_as_mask(masked_lm):
    ours = fm.fill_masks(masked_lm, fill_input(masked_lm, "The man worked as a <mask>."), top_k=5)
    expected = reference_words(masked_lm, "The man worked as a [MASK].", 5)
    assert ours.predictions[0].token_ids.tolist() == [row["token"] for row in expected]


def test_left_to_right_fills_each_mask_from_the_words_chosen_before(masked_lm):
    prepared = fill_input(masked_lm, "The [MASK] sat on the [MASK] because it was [MASK].")
    independent = fm.fill_masks(masked_lm, prepared, top_k=4)
    left_to_right = fm.fill_left_to_right(masked_lm, prepared, top_k=4)
    # The first step sees exactly what the one-pass fill sees.
    assert left_to_right.predictions[0].token_ids.tolist() == independent.predictions[0].token_ids.tolist()
    current = prepared.input_ids.copy()
    for step, (position, prediction) in enumerate(zip(prepared.mask_positions, left_to_right.predictions)):
        assert left_to_right.inputs[step].tolist() == current.tolist()
        single = dataclasses.replace(prepared, input_ids=current.copy(), mask_positions=np.array([position]))
        alone = fm.fill_masks(masked_lm, single, top_k=4).predictions[0]
        assert prediction.token_ids.tolist() == alone.token_ids.tolist()
        np.testing.assert_allclose(prediction.probs, alone.probs, rtol=1e-5)
        current[position] = prediction.token_ids[0]
    assert left_to_right.filled_text == fm.readable_text(masked_lm.tokenizer, current)
    assert (independent.inputs == prepared.input_ids).all()


def test_fill_refuses_an_input_without_masks(masked_lm):
    with pytest.raises(ValueError, match="no mask"):
        fm.fill_masks(masked_lm, fill_input(masked_lm, "no mask here"), top_k=5)


def test_bias_probe_compares_both_sentences_over_the_union_of_their_top_k(masked_lm):
    inputs = [fill_input(masked_lm, f"The {who} worked as a [MASK].") for who in ("man", "woman")]
    comparison = fm.compare_first_masks(masked_lm, inputs, top_k=5)
    results = [fm.fill_masks(masked_lm, one, top_k=5).predictions[0] for one in inputs]
    assert set(comparison.token_ids.tolist()) == {t for r in results for t in r.token_ids.tolist()}
    for row, result in enumerate(results):
        where = {token: i for i, token in enumerate(comparison.token_ids.tolist())}
        got = [comparison.probs[row, where[token]] for token in result.token_ids.tolist()]
        np.testing.assert_allclose(got, result.probs, rtol=1e-5)
    best = comparison.probs.max(axis=0)
    assert (np.diff(best) <= 1e-9).all()


def test_bert_and_distilbert_read_the_same_input_differently(tiny_bert, tiny_distilbert):
    prepared = fill_input(tiny_bert, TWO_MASKS)
    bert, distil = (fm.mask_logits(m, prepared.input_ids, [1]) for m in (tiny_bert, tiny_distilbert))
    assert not np.allclose(bert, distil)


# ---------------------------------------------------------------------------------------
# The 15% / 80-10-10 rule


@pytest.fixture(scope="module")
def sentence_tokens(wordpiece):
    return fm.tokenize_sentence(wordpiece, SENTENCE + " " + SENTENCE, max_tokens=512)


def test_same_seed_same_selection_and_different_seeds_differ(wordpiece, sentence_tokens):
    first = fm.corrupt_for_mlm(wordpiece, sentence_tokens, seed=42)
    again = fm.corrupt_for_mlm(wordpiece, sentence_tokens, seed=42)
    assert first.actions == again.actions
    assert first.corrupted_ids.tolist() == again.corrupted_ids.tolist()
    others = {fm.corrupt_for_mlm(wordpiece, sentence_tokens, seed=seed).actions for seed in range(20)}
    assert len(others) > 15


def test_selection_rate_is_fifteen_percent_of_the_tokens_and_never_cls_or_sep(wordpiece, sentence_tokens):
    n = len(sentence_tokens.maskable)
    for seed in range(50):
        corruption = fm.corrupt_for_mlm(wordpiece, sentence_tokens, seed=seed)
        assert len(corruption.selected) == max(1, round(0.15 * n))
        assert set(corruption.selected.tolist()) <= set(sentence_tokens.maskable)
    short = fm.tokenize_sentence(wordpiece, "hi", max_tokens=512)
    assert len(fm.corrupt_for_mlm(wordpiece, short, seed=0).selected) == 1


def test_eighty_ten_ten_holds_over_many_seeds(wordpiece, sentence_tokens):
    seeds = 3000
    actions, hits = [], np.zeros(len(sentence_tokens.input_ids))
    for seed in range(seeds):
        corruption = fm.corrupt_for_mlm(wordpiece, sentence_tokens, seed=seed)
        actions += [a for a in corruption.actions if a]
        hits[corruption.selected] += 1
    total = len(actions)
    for action, share in (("mask", 0.8), ("random", 0.1), ("keep", 0.1)):
        observed = actions.count(action) / total
        tolerance = 5 * np.sqrt(share * (1 - share) / total)  # five standard errors
        assert abs(observed - share) < tolerance, (action, observed)
    # Every maskable token is equally likely to be picked.
    expected = len(actions) / len(sentence_tokens.maskable)
    picked = hits[list(sentence_tokens.maskable)]
    assert np.all(np.abs(picked - expected) < 5 * np.sqrt(expected))


def test_corruption_does_what_each_action_says(wordpiece, sentence_tokens):
    specials = set(wordpiece.all_special_ids)
    for seed in range(300):
        corruption = fm.corrupt_for_mlm(wordpiece, sentence_tokens, seed=seed)
        for position, action in enumerate(corruption.actions):
            new, old = int(corruption.corrupted_ids[position]), int(corruption.original_ids[position])
            if action == "mask":
                assert new == wordpiece.mask_token_id
            elif action == "random":
                assert new not in specials
                assert not corruption.corrupted_pieces[position].startswith("[unused")
            else:
                assert new == old
        assert corruption.corrupted_pieces == tuple(wordpiece.convert_ids_to_tokens(corruption.corrupted_ids.tolist()))


def test_random_token_candidates_hold_no_special_token(wordpiece):
    candidates = fm.random_token_candidates(wordpiece)
    assert not set(candidates.tolist()) & set(wordpiece.all_special_ids)
    assert len(candidates) > 29_000


def test_mlm_loss_is_the_models_own_loss_at_the_selected_positions(masked_lm, sentence_tokens):
    corruption = fm.corrupt_for_mlm(masked_lm.tokenizer, sentence_tokens, seed=3, select_rate=0.3)
    step = fm.mlm_predictions(masked_lm, corruption, top_k=5)
    labels = torch.full((1, len(corruption.original_ids)), -100)
    labels[0, step.positions] = torch.as_tensor(corruption.original_ids[step.positions])
    with torch.inference_mode():
        output = masked_lm.model(input_ids=torch.as_tensor(corruption.corrupted_ids)[None], labels=labels)
    assert step.loss == pytest.approx(float(output.loss), rel=1e-5)
    log_probs = output.logits[0, step.positions].log_softmax(-1)
    expected = -log_probs[torch.arange(len(step.positions)), torch.as_tensor(step.targets)]
    np.testing.assert_allclose(step.losses, expected.numpy(), rtol=1e-5)
    np.testing.assert_allclose(step.target_probs, np.exp(-expected.numpy()), rtol=1e-5)
    assert [p.position for p in step.top] == step.positions.tolist()


def test_rate_out_of_range_is_refused(wordpiece, sentence_tokens):
    with pytest.raises(ValueError):
        fm.corrupt_for_mlm(wordpiece, sentence_tokens, seed=0, select_rate=0)


# ---------------------------------------------------------------------------------------
# Charts: hostile pieces stay text


def hostile_prediction() -> fm.MaskPrediction:
    return fm.MaskPrediction(
        position=1,
        token_ids=np.array([5, 6, 7]),
        probs=np.array([0.5, 0.3, 0.2], dtype=np.float32),
        pieces=("<script>", "##ing", "<img src=x onerror=alert(1)>"),
        words=("<script>", "ing", "<img>"),
    )


def test_prediction_figure_escapes_pieces_and_keeps_the_order():
    figure = charts.prediction_figure(hostile_prediction(), "Mask 1")
    ticks = list(figure.data[0].y)
    assert ticks[0] == "&lt;script&gt;" and ticks[1] == "##ing"
    assert all("<" not in tick for tick in ticks)
    table = charts.prediction_table(hostile_prediction(), 1)
    assert table["wordpiece"].tolist()[0] == "<script>" and table["rank"].tolist() == [1, 2, 3]


def test_markdown_literal_escapes_every_markdown_sign():
    assert markdown_literal("##ing") == r"\#\#ing"
    assert markdown_literal("**x**") == r"\*\*x\*\*"
    assert markdown_literal(":smile:") == r"\:smile\:"
    assert markdown_literal("café") == "café"


def test_mlm_and_strategy_figures_build_from_real_results(masked_lm, sentence_tokens):
    corruption = fm.corrupt_for_mlm(masked_lm.tokenizer, sentence_tokens, seed=1)
    step = fm.mlm_predictions(masked_lm, corruption, top_k=3)
    figure = charts.mlm_loss_figure(corruption, step, vocab_size=len(masked_lm.tokenizer))
    assert sum(len(trace.y) for trace in figure.data) == len(step.positions)
    assert len(charts.mlm_table(corruption, step)) == len(step.positions)
    prepared = fill_input(masked_lm, TWO_MASKS)
    independent, ltr = fm.fill_masks(masked_lm, prepared, top_k=3), fm.fill_left_to_right(masked_lm, prepared, top_k=3)
    assert len(charts.strategies_figure(independent, ltr).data) == 2
    assert charts.strategies_table(independent, ltr).shape[0] == 2


def test_the_80_10_10_tally_counts_what_each_draw_did_and_settles_on_the_rule(tiny_bert):
    from models.fill_mask import MLM_ACTIONS, corrupt_for_mlm, tally_mlm_rule, tokenize_sentence

    sentence = tokenize_sentence(
        tiny_bert.tokenizer, "The quick brown fox jumps over the lazy dog " * 4, max_tokens=512
    )
    tally = tally_mlm_rule(tiny_bert.tokenizer, sentence, draws=1000, select_rate=0.15)
    for seed in (0, 1, 517, 999):  # each row is what that seed's corruption did
        actions = corrupt_for_mlm(tiny_bert.tokenizer, sentence, seed=seed, select_rate=0.15).actions
        assert tally.counts[seed].tolist() == [actions.count(action) for action in MLM_ACTIONS]
    assert tally.picked_per_draw == round(0.15 * len(sentence.maskable)) and np.all(
        tally.counts.sum(axis=1) == tally.picked_per_draw
    )
    picked = tally.counts.sum()
    shares = tally.running_shares[-1]
    for share, rule in zip(shares, (0.8, 0.1, 0.1)):  # five binomial standard errors
        assert abs(share - rule) < 5 * np.sqrt(rule * (1 - rule) / picked), shares
    np.testing.assert_allclose(tally.running_shares.sum(axis=1), 1.0)
