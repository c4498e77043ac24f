"""models/attention.py against the models' own outputs.attentions, theory and hand-built tensors;
ui/attention_charts.py figures built from those results."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from models.attention import (
    PARTIAL_CHARACTER_MARK,
    AttentionResult,
    attention_for_text,
    attention_view,
    hide_special,
    induction_scores,
    load_presets,
    merge_pieces,
    merge_words,
    model_view_grid,
    prepare_text,
    repeated_random_tokens,
    rollout,
    rollout_view,
    run_attention,
    run_induction,
    token_limit,
    top_heads,
)
from tests.conftest import REPO_ROOT
from ui import attention_charts as charts

SENTENCE = "Pérez and his friends were astonished to see the unicorn herd."
HOSTILE = [
    '<img src=x onerror="alert(1)">',
    "<script>window.__xss=1</script>",
    "😀🦄 unicorns",
    "北京的独角兽",
    "שלום עולם",
    "a",
]


def reference_attentions(loaded, text: str) -> np.ndarray:
    """What transformers itself returns for `text`: (layers, heads, n, n)."""
    encoded = loaded.tokenizer(text, return_tensors="pt")
    with torch.inference_mode():
        outputs = loaded.model(**encoded, output_attentions=True)
    return torch.stack(outputs.attentions)[:, 0].numpy()


@pytest.fixture(params=["tiny_bert", "tiny_distilbert", "tiny_gpt2"])
def any_model(request):
    return request.getfixturevalue(request.param)


def assert_rows_sum_to_one(stack: np.ndarray) -> None:
    np.testing.assert_allclose(stack.sum(axis=-1), 1.0, atol=1e-5)


# --- the forward pass ---------------------------------------------------------------------------


def test_weights_equal_the_models_own_attentions(any_model):
    result = attention_for_text(any_model, SENTENCE)
    expected = reference_attentions(any_model, SENTENCE)
    assert result.weights.dtype == np.float32
    assert result.weights.shape == expected.shape
    np.testing.assert_allclose(result.weights, expected, rtol=0, atol=1e-6)
    assert len(result.axis) == expected.shape[-1]
    assert result.model_key == any_model.entry.key


def test_every_row_sums_to_one(any_model):
    assert_rows_sum_to_one(attention_for_text(any_model, SENTENCE).weights)


def test_gpt2_upper_triangle_is_exactly_zero(tiny_gpt2):
    result = attention_for_text(tiny_gpt2, SENTENCE)
    assert result.causal
    upper = np.triu(np.ones(result.weights.shape[-2:], dtype=bool), k=1)
    assert (result.weights[..., upper] == 0).all()
    merged = attention_view(result, 1, "mean", hide=True, merge=True).matrix
    assert (np.triu(merged, k=1) == 0).all()


def test_bert_looks_both_ways(tiny_bert):
    result = attention_for_text(tiny_bert, SENTENCE)
    assert not result.causal
    upper = np.triu(np.ones(result.weights.shape[-2:], dtype=bool), k=1)
    assert (result.weights[..., upper] > 0).all()


def test_real_trained_bert_encoder_plain_model_output():
    """The functions accept a plain BertModel (no MLM head): the trained all-MiniLM-L6-v2 encoder."""
    from transformers import AutoModel, AutoTokenizer

    from tests.model_factory import bert_encoder_dir

    folder = bert_encoder_dir()
    model = AutoModel.from_pretrained(folder, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    prepared = prepare_text(tokenizer, SENTENCE, causal=False, max_tokens=64)
    weights = run_attention(model, prepared)
    with torch.inference_mode():
        outputs = model(**tokenizer(SENTENCE, return_tensors="pt"), output_attentions=True)
    np.testing.assert_allclose(weights, torch.stack(outputs.attentions)[:, 0].numpy(), rtol=0, atol=1e-6)
    assert weights.shape[:2] == (model.config.num_hidden_layers, model.config.num_attention_heads)
    result = AttentionResult(
        "all-MiniLM-L6-v2", prepared.axis, weights, causal=False, total_tokens=prepared.total_tokens
    )
    view = attention_view(result, 3, "mean", hide=True, merge=True)
    assert_rows_sum_to_one(view.matrix)
    assert "[CLS]" not in view.axis.labels and "astonished" in view.axis.labels
    # A trained encoder is far from uniform: some head puts most of a row on one token.
    assert weights.max(axis=-1).mean() > 2.0 / weights.shape[-1]


# --- preparing text -----------------------------------------------------------------------------


def test_pieces_words_and_specials(tiny_bert, tiny_gpt2):
    bert = prepare_text(tiny_bert.tokenizer, "Unicorns spoke", causal=False, max_tokens=32)
    assert bert.axis.labels == ("[CLS]", "unicorn", "##s", "spoke", "[SEP]")
    assert bert.axis.special.tolist() == [True, False, False, False, True]
    assert bert.axis.words == ("[CLS]", "Unicorns", "spoke", "[SEP]")
    assert bert.axis.word_ids.tolist() == [0, 1, 1, 2, 3]
    gpt = prepare_text(tiny_gpt2.tokenizer, "The unicorns", causal=True, max_tokens=32)
    assert gpt.axis.labels == ("The", " unic", "orns")
    assert gpt.axis.special.tolist() == [False, False, False]  # GPT-2 adds no special token: "The" is a word
    assert gpt.axis.sink.tolist() == [True, False, False]  # but the first token is its attention sink
    assert gpt.axis.words == ("The", "unicorns")
    assert gpt.input_ids.tolist() == tiny_gpt2.tokenizer("The unicorns")["input_ids"]


def test_truncation_counts_what_was_dropped(tiny_bert, tiny_gpt2):
    text = " ".join(["unicorn"] * 50)
    bert = prepare_text(tiny_bert.tokenizer, text, causal=False, max_tokens=20)
    assert len(bert.input_ids) == 20 and bert.total_tokens == 52 and bert.dropped_tokens == 32
    assert bert.axis.labels[-1] == "[SEP]"
    gpt = prepare_text(tiny_gpt2.tokenizer, text, causal=True, max_tokens=20)
    assert len(gpt.input_ids) == 20 and gpt.dropped_tokens == gpt.total_tokens - 20 > 0


def test_token_limit_is_the_page_cap_under_the_context(tiny_bert, tiny_gpt2):
    from models.limits import MAX_ATTENTION_TOKENS

    assert token_limit(tiny_bert.entry) == min(MAX_ATTENTION_TOKENS, 512)
    assert token_limit(tiny_gpt2.entry) == min(MAX_ATTENTION_TOKENS, 1024)


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_blank_text_is_refused_with_a_message(tiny_bert, text):
    with pytest.raises(ValueError, match="empty"):
        prepare_text(tiny_bert.tokenizer, text, causal=False, max_tokens=32)


def test_text_bert_cannot_read_is_refused(tiny_bert):
    with pytest.raises(ValueError, match="no tokens"):
        prepare_text(tiny_bert.tokenizer, "\x00\x01\x02", causal=False, max_tokens=32)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_gives_valid_attention(any_model, text):
    result = attention_for_text(any_model, text)
    assert all(label for label in result.axis.labels)
    assert_rows_sum_to_one(result.weights)


def test_emoji_bytes_are_labelled_with_their_character(tiny_gpt2):
    prepared = prepare_text(tiny_gpt2.tokenizer, "a 😀", causal=True, max_tokens=32)
    partial = [label for label in prepared.axis.labels if label.endswith(PARTIAL_CHARACTER_MARK)]
    assert partial and all("😀" in label for label in partial)
    assert "😀" in prepared.axis.words


# --- views --------------------------------------------------------------------------------------


def test_head_choices(tiny_bert):
    result = attention_for_text(tiny_bert, SENTENCE)
    np.testing.assert_array_equal(attention_view(result, 1, 0).matrix, result.weights[1, 0])
    np.testing.assert_allclose(attention_view(result, 1, "mean").matrix, result.weights[1].mean(axis=0), atol=1e-7)
    maximum = attention_view(result, 0, "max")
    np.testing.assert_array_equal(maximum.matrix, result.weights[0].max(axis=0))
    assert not maximum.row_stochastic
    with pytest.raises(ValueError, match="Layer"):
        attention_view(result, result.layers, "mean")
    with pytest.raises(ValueError, match="Head"):
        attention_view(result, 0, result.heads)


def test_hiding_specials_renormalises_the_kept_block(tiny_bert):
    result = attention_for_text(tiny_bert, SENTENCE)
    stack, axis = hide_special(result.weights, result.axis)
    keep = ~result.axis.special
    block = result.weights[..., keep, :][..., keep]
    np.testing.assert_allclose(stack, block / block.sum(axis=-1, keepdims=True), rtol=1e-6)
    assert_rows_sum_to_one(stack)
    assert "[CLS]" not in axis.labels and "[SEP]" not in axis.labels
    assert len(axis) == keep.sum()


def test_hiding_gpt2_first_token(tiny_gpt2):
    result = attention_for_text(tiny_gpt2, SENTENCE)
    view = attention_view(result, 0, 1, hide_sink=True)
    assert view.axis.labels == result.axis.labels[1:]
    assert_rows_sum_to_one(view.matrix)
    assert view.matrix[0, 0] == pytest.approx(1.0)  # the new first query can only look at itself


def test_hiding_everything_is_refused(tiny_gpt2):
    result = attention_for_text(tiny_gpt2, "a")
    assert result.axis.sink.all()
    with pytest.raises(ValueError, match="nothing"):
        attention_view(result, 0, "mean", hide_sink=True)


def test_hiding_special_tokens_never_hides_a_typed_word(tiny_gpt2, tiny_bert):
    """GPT-2 adds no special token: hiding specials keeps the first word; only typed <|endoftext|> goes."""
    plain = attention_for_text(tiny_gpt2, SENTENCE)
    assert attention_view(plain, 0, "mean", hide=True).axis.labels == plain.axis.labels
    typed = attention_for_text(tiny_gpt2, "<|endoftext|>The unicorns spoke.")
    shown = attention_view(typed, 0, "mean", hide=True).axis.labels
    assert "<|endoftext|>" not in shown and shown == typed.axis.labels[1:]
    both = attention_view(typed, 0, "mean", hide=True, hide_sink=True)  # the sink is <|endoftext|> itself here
    assert both.axis.labels == shown
    bert = attention_for_text(tiny_bert, "Unicorns [SEP] spoke")
    assert attention_view(bert, 0, "mean", hide=True).axis.labels == ("unicorn", "##s", "spoke")
    assert not bert.axis.sink.any()  # an encoder has no sink to hide


def test_merge_rule_on_a_hand_built_matrix():
    """Pieces 0,1 form word A and piece 2 is word B: sum over key pieces, mean over query pieces."""
    matrix = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.25, 0.25, 0.5]])
    merged = merge_pieces(matrix, np.array([0, 0, 1]), 2)
    expected = np.array(
        [
            [((0.5 + 0.3) + (0.1 + 0.6)) / 2, (0.2 + 0.3) / 2],
            [0.25 + 0.25, 0.5],
        ]
    )
    np.testing.assert_allclose(merged, expected)
    assert_rows_sum_to_one(merged)


def test_merging_words_keeps_row_sums(any_model):
    result = attention_for_text(any_model, "Unicorns spoke perfectly astonishing English 😀")
    stack, axis = merge_words(result.weights, result.axis)
    assert_rows_sum_to_one(stack)
    assert len(axis) == len(result.axis.words) < len(result.axis)
    for hide in (False, True):
        assert_rows_sum_to_one(attention_view(result, 0, "mean", hide=hide, merge=True).matrix)


def test_rollout_matches_its_definition():
    rng = np.random.default_rng(0)
    weights = rng.random((3, 2, 4, 4))
    weights /= weights.sum(axis=-1, keepdims=True)
    mixed = 0.5 * weights.mean(axis=1) + 0.5 * np.eye(4)
    mixed /= mixed.sum(axis=-1, keepdims=True)
    expected = mixed[2] @ mixed[1] @ mixed[0]
    rolled = rollout(weights)
    np.testing.assert_allclose(rolled[-1], expected, rtol=1e-5)
    np.testing.assert_allclose(rolled[0], mixed[0], rtol=1e-5)
    assert_rows_sum_to_one(rolled)
    identity = np.broadcast_to(np.eye(4), (3, 2, 4, 4))
    np.testing.assert_allclose(rollout(identity)[-1], np.eye(4), atol=1e-7)


def test_rollout_view_rows_sum_to_one(any_model):
    result = attention_for_text(any_model, SENTENCE)
    for hide in (False, True):
        view = rollout_view(result, result.layers - 1, hide=hide, merge=True)
        assert_rows_sum_to_one(view.matrix)


def test_model_view_tiles_are_the_heads(tiny_bert):
    result = attention_for_text(tiny_bert, SENTENCE)
    tokens = len(result.axis)
    grid = model_view_grid(result, max_cells=64)
    step = tokens + 1
    assert grid.cells == tokens
    assert grid.image.shape == (result.layers * step - 1, result.heads * step - 1)
    np.testing.assert_array_equal(grid.image[step : step + tokens, 0:tokens], result.weights[1, 0])
    assert np.isnan(grid.image[tokens, :]).all()
    np.testing.assert_allclose(grid.summary.to_self, np.diagonal(result.weights, axis1=-2, axis2=-1).mean(-1))


def test_pooled_model_view_keeps_row_sums(tiny_gpt2):
    result = attention_for_text(tiny_gpt2, " ".join(["unicorn"] * 30))
    grid = model_view_grid(result, max_cells=7, hide=True)
    assert grid.cells == 7
    assert grid.blocks[0, 0] == 0 and grid.blocks[-1, 1] == len(grid.axis) - 1
    assert (grid.blocks[1:, 0] == grid.blocks[:-1, 1] + 1).all()
    tile = grid.image[:7, :7]
    np.testing.assert_allclose(tile.sum(axis=-1), 1.0, atol=1e-5)


def test_results_survive_pickling(tiny_gpt2):
    """st.cache_data pickles what it stores."""
    result = attention_for_text(tiny_gpt2, SENTENCE)
    copy = pickle.loads(pickle.dumps(result))
    np.testing.assert_array_equal(copy.weights, result.weights)
    assert copy.axis.labels == result.axis.labels


# --- induction heads ----------------------------------------------------------------------------


def test_repeated_random_tokens():
    ids = repeated_random_tokens(1000, 10, seed=7, bos_id=999, avoid=(999,))
    assert ids.shape == (21,) and ids[0] == 999
    np.testing.assert_array_equal(ids[1:11], ids[11:])
    assert len(set(ids[1:11].tolist())) == 10 and 999 not in ids[1:].tolist()
    np.testing.assert_array_equal(ids, repeated_random_tokens(1000, 10, seed=7, bos_id=999, avoid=(999,)))
    assert not np.array_equal(ids, repeated_random_tokens(1000, 10, seed=8, bos_id=999, avoid=(999,)))


def test_induction_score_on_hand_built_heads():
    """[BOS] x1..x4 x1..x4 (T = 9, period 4). Second copy: queries 5..8; their targets 2..5."""
    period, tokens = 4, 9
    causal_uniform = np.tril(np.ones((tokens, tokens)))
    causal_uniform /= causal_uniform.sum(axis=-1, keepdims=True)
    induction = causal_uniform.copy()
    previous = np.zeros((tokens, tokens))
    previous[0, 0] = 1
    for query in range(1, tokens):
        previous[query, query - 1] = 1
    for query in range(5, 9):
        induction[query] = 0
        induction[query, query - period + 1] = 1
    weights = np.stack([np.stack([induction, previous]), np.stack([causal_uniform, causal_uniform])])
    scores = induction_scores(weights, period)
    assert scores.shape == (2, 2)
    assert scores[0, 0] == pytest.approx(1.0)
    assert scores[0, 1] == pytest.approx(0.0)
    # Uniform causal attention gives query i a weight of 1/(i + 1) on every key.
    assert scores[1, 0] == pytest.approx(np.mean([1 / (query + 1) for query in range(5, 9)]))
    assert top_heads(scores, 2)[0] == (0, 0, pytest.approx(1.0))
    with pytest.raises(ValueError):
        induction_scores(weights, 5)


def test_run_induction_matches_the_models_loss_and_attention(tiny_gpt2):
    result = run_induction(tiny_gpt2, period=12, seed=3)
    ids = torch.as_tensor(result.token_ids)[None]
    with torch.inference_mode():
        outputs = tiny_gpt2.model(input_ids=ids, labels=ids, output_attentions=True)
    # transformers averages the same next-token losses.
    assert float(result.loss.mean()) == pytest.approx(float(outputs.loss), rel=1e-5)
    reference = torch.stack(outputs.attentions)[:, 0].numpy()
    np.testing.assert_allclose(result.weights, reference, atol=1e-6)
    np.testing.assert_allclose(result.scores, induction_scores(reference, 12), atol=1e-6)
    assert result.loss.shape == (24,) and len(result.labels) == 25
    assert result.first_copy_loss == pytest.approx(float(result.loss[:12].mean()))
    assert result.second_copy_loss == pytest.approx(float(result.loss[12:].mean()))
    assert ((result.scores >= 0) & (result.scores <= 1)).all()


def test_induction_needs_a_causal_model(tiny_bert):
    with pytest.raises(ValueError, match="causal"):
        run_induction(tiny_bert, period=5, seed=0)


# --- presets and charts -------------------------------------------------------------------------


def test_presets_come_from_the_course():
    presets = load_presets(REPO_ROOT / "assets" / "attention_presets.json")
    assert len({preset.id for preset in presets}) == len(presets) >= 4
    texts = " ".join(preset.text for preset in presets)
    for course_example in ("unicorns", "merci", "loutre de mer"):
        assert course_example in texts
    assert all(preset.look_for for preset in presets)


def test_axis_labels_are_escaped_unique_and_short():
    labels = charts.axis_labels(["the", "<b>", "the", "the (2)", "x" * 40, "&lt;" * 10])
    assert len(set(labels)) == len(labels)
    assert labels[0] == "the" and labels[2] != "the"
    assert "<" not in "".join(labels)
    assert all(len(label) < 60 for label in labels)
    assert not labels[5].endswith("&l…") and "&amp;" in labels[5]


def test_heatmap_figure(tiny_gpt2, tiny_bert):
    view = attention_view(attention_for_text(tiny_gpt2, SENTENCE), 0, "mean")
    fig = charts.attention_heatmap(view, "title")
    z = np.asarray(fig.data[0].z, dtype=float)
    assert np.isnan(z[np.triu_indices(len(z), k=1)]).all()  # the causal mask is drawn empty
    np.testing.assert_allclose(np.tril(z), np.tril(view.matrix), atol=1e-7)
    assert list(fig.data[0].x) == charts.axis_labels(view.axis.labels)
    bert_view = attention_view(attention_for_text(tiny_bert, SENTENCE), 0, 1)
    assert not np.isnan(np.asarray(charts.attention_heatmap(bert_view, "t").data[0].z, dtype=float)).any()
    table = charts.matrix_table(bert_view)
    assert table.shape == (len(bert_view.axis), len(bert_view.axis) + 1)
    json.loads(fig.to_json())


def test_model_view_figure(tiny_bert):
    grid = model_view_grid(attention_for_text(tiny_bert, SENTENCE), max_cells=charts.MODEL_VIEW_MAX_CELLS)
    fig = charts.model_view_figure(grid, selected=(1, 0))
    assert len(fig.data) == 1
    assert len(set(fig.data[0].x)) == len(fig.data[0].x) == grid.image.shape[1]
    assert len(set(fig.data[0].y)) == len(fig.data[0].y) == grid.image.shape[0]
    assert len(fig.layout.shapes) == 1
    assert len(charts.head_summary_table(grid)) == grid.layers * grid.heads


def test_induction_figures(tiny_gpt2):
    result = run_induction(tiny_gpt2, period=6, seed=0)
    loss = charts.loss_by_position_figure(result)
    np.testing.assert_allclose(np.asarray(loss.data[0].y), result.loss)
    scores = charts.induction_scores_figure(result)
    np.testing.assert_allclose(np.asarray(scores.data[0].z), result.scores)
    assert len(charts.loss_table(result)) == len(result.loss)
    assert len(charts.scores_table(result)) == result.scores.size


# --- where one attention row comes from: q · k / √d, then softmax ----------------------------------


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_gpt2"])
def test_query_key_view_rebuilds_the_models_own_attention_row(fixture, request):
    from models.attention import layer_queries_and_keys, query_key_view

    loaded = request.getfixturevalue(fixture)
    result = attention_for_text(loaded, SENTENCE)
    for layer, head, query in ((0, 0, 2), (result.layers - 1, result.heads - 1, len(result.axis) - 1), (1, 1, 0)):
        queries, keys = layer_queries_and_keys(loaded, result.input_ids, layer)
        view = query_key_view(result, queries, keys, layer, head, query)
        np.testing.assert_allclose(view.weights, result.weights[layer, head, query], atol=1e-5)
        size = view.query.shape[0]
        assert view.keys.shape == (len(result.axis), size)
        np.testing.assert_allclose(
            view.scores[np.isfinite(view.scores)],
            (view.keys @ view.query / np.sqrt(size))[np.isfinite(view.scores)],
            rtol=1e-6,
        )
        if result.causal:
            assert np.all(np.isneginf(view.scores[query + 1 :])) and np.all(view.weights[query + 1 :] == 0)


# --- head view: lines between the tokens ----------------------------------------------------------


@pytest.mark.parametrize("fixture", ["tiny_bert", "tiny_gpt2"])
def test_head_view_lines_are_the_models_own_weights(fixture, request):
    from models.attention import head_lines, visible_links

    result = attention_for_text(request.getfixturevalue(fixture), SENTENCE)
    lines = head_lines(result, 1, [1, 0])
    links = visible_links(lines, min_weight=0.02)
    # Every line is one weight of the model's attention, and every weight of at least 0.02 has its line.
    np.testing.assert_array_equal(
        links.weight, result.weights[1][np.asarray(lines.heads)[links.head], links.query, links.key]
    )
    assert len(links) == int((result.weights[1][[0, 1]] >= 0.02).sum())
    assert (np.diff(links.weight) <= 0).all()
    if result.causal:
        assert (links.key <= links.query).all()  # no line into the future
    # One query token's lines: its whole row (above the floor); one key token's: its whole column.
    row = visible_links(lines, min_weight=0.0, query=3)
    assert set(row.query.tolist()) == {3} and len(row) == len(lines.heads) * len(lines.axis)
    for index, head in enumerate(lines.heads):
        mine = row.head == index
        np.testing.assert_allclose(row.weight[mine].sum(), 1.0, atol=1e-5)
        np.testing.assert_array_equal(np.sort(row.weight[mine]), np.sort(result.weights[1, head, 3]))
    column = visible_links(lines, min_weight=0.0, key=2)
    assert set(column.key.tolist()) == {2} and len(column) == len(lines.heads) * len(lines.axis)
    # A cap keeps the strongest lines and says how many there were.
    capped = visible_links(lines, min_weight=0.0, max_links=5)
    everything = visible_links(lines, min_weight=0.0)
    assert len(capped) == 5 and capped.total == everything.total == len(everything)
    np.testing.assert_array_equal(capped.weight, everything.weight[:5])


def test_head_view_lines_follow_hiding_and_merging_like_the_heatmap(tiny_gpt2):
    from models.attention import head_lines

    result = attention_for_text(tiny_gpt2, "The unicorns spoke perfect English.")
    lines = head_lines(result, 0, [1], hide=True, merge=True, hide_sink=True)
    view = attention_view(result, 0, 1, hide=True, merge=True, hide_sink=True)
    np.testing.assert_array_equal(lines.weights[0], view.matrix)
    assert lines.axis.labels == view.axis.labels
    with pytest.raises(ValueError, match="at least one head"):
        head_lines(result, 0, [])
    with pytest.raises(ValueError, match="Heads go from 0"):
        head_lines(result, 0, [result.heads])


def test_head_view_figure_draws_each_link_once_thicker_for_more_weight(tiny_bert):
    from models.attention import head_lines, visible_links

    lines = head_lines(attention_for_text(tiny_bert, SENTENCE), 1, [0, 1])
    links = visible_links(lines, min_weight=0.0)
    fig = charts.head_view_figure(lines, links, focus=("query", 2))
    queries, keys, *line_traces = fig.data
    assert [point[1] for point in queries.customdata] == list(range(len(lines.axis)))
    assert queries.marker.color[2] != queries.marker.color[0]  # the picked token stands out
    segments = sum(int(np.isnan(np.asarray(trace.x, dtype=float)).sum()) for trace in line_traces)
    assert segments == len(links)
    by_width = sorted((trace.line.width, trace.opacity) for trace in line_traces)
    assert by_width == sorted(by_width, key=lambda pair: pair[1])  # wider lines are also darker
    assert {trace.line.color for trace in line_traces if trace.name == "head 0"} == {charts.head_colour(0)}
    assert len(charts.links_table(lines, links)) == len(links)
    json.loads(fig.to_json())


def test_head_map_figure_has_one_clickable_square_per_head(tiny_gpt2):
    grid = model_view_grid(attention_for_text(tiny_gpt2, SENTENCE), max_cells=8)
    fig = charts.head_map_figure(grid.summary, "to_previous", selected=(1, 0))
    [trace] = fig.data
    assert len(trace.customdata) == grid.layers * grid.heads
    np.testing.assert_allclose(np.asarray(trace.marker.color), grid.summary.to_previous.ravel())
    framed = [pair for pair, width in zip(trace.customdata, trace.marker.line.width) if width]
    assert framed == [[1, 0]]
    assert all(isinstance(value, int) for pair in trace.customdata for value in pair)  # a click returns them as-is
