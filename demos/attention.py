"""Attention: self-attention on your own sentence for BERT and GPT-2, and induction heads found live."""

from pathlib import Path

import numpy as np
import streamlit as st

from models.attention import (
    AttentionResult,
    AttentionView,
    HeadChoice,
    HeadLines,
    PARTIAL_CHARACTER_MARK,
    InductionResult,
    attention_for_text,
    attention_view,
    head_lines,
    induction_view,
    load_presets,
    layer_queries_and_keys,
    model_view_grid,
    query_key_view,
    rollout_view,
    run_induction,
    token_limit,
    top_heads,
    visible_links,
)
from models.limits import MAX_INDUCTION_PERIOD, MAX_SEED, MAX_TEXT_CHARS, MIN_HEAD_VIEW_WEIGHT, MIN_INDUCTION_PERIOD
from models.registry import get_entry, models_of
from ui import attention_charts as charts
from ui.figures import clicked_point, show_figure
from ui.lecture import demo_columns, how_it_works, lecture_mode, more_controls, on_phone, page_lead
from ui.loaders import require_model
from ui.text import show_tokens, visible_token
from ui.url_state import UrlState

PRESETS = load_presets(Path(__file__).resolve().parent.parent / "assets" / "attention_presets.json")
PRESET_BY_ID = {preset.id: preset for preset in PRESETS}
MASKED = [entry.key for entry in models_of("masked-lm")]
CAUSAL = [entry.key for entry in models_of("causal-lm")]
VIEWS = {
    "heatmap": "Heatmap",
    "lines": "Head view (lines)",
    "model": "Model view",
    "rollout": "Rollout",
    "compare": "BERT vs GPT-2",
    "induction": "Induction heads",
}
HEAD_WORDS = {"mean": "mean of all heads", "max": "max over heads"}

LEAD = (
    "Type a sentence and see where each token looks. **Row** = the token looking (query), **column** = the token "
    "looked at (key); each row's weights sum to 1."
)

INTRO = r"""
Each token's vector is turned into a **query** $q_i$, a **key** $k_j$ and a **value** $v_j$. The query is compared
with every key ($e_{ij} = q_i^\top k_j$), a **softmax** turns the scores into weights $\alpha_{ij}$ that sum to 1,
and the token's output is $\sum_j \alpha_{ij} v_j$. The heatmap shows the weights: **row = query** (the token
looking), **column = key** (the token looked at). BERT's encoder looks both ways; GPT-2's decoder is **masked**:
masking keeps the future from leaking into the past, so its upper triangle is empty.
"""

NOT_EXPLANATION = """
**Attention is not explanation.** A weight says where a head reads from, not why the model predicts what it
does: the values, the feed-forward layers and the residual stream all shape the output (Jain & Wallace 2019;
Wiegreffe & Pinter 2019). Rollout (Abnar & Zuidema 2020) is a rough way to follow information through the
layers: it averages each layer's heads, adds the residual connection as ½·A + ½·I, and multiplies the layers.
"""

INDUCTION_CARD = """
> **Course card: induction head hypothesis.** Predict the repeated sequences: **A B … A → B** ⇒ pattern
> completion. An induction head has a prefix-matching component: if A is found, then B copies the pattern.

GPT-2 reads random tokens, then the same tokens again. The first copy cannot be predicted: the loss stays near
ln(50 257) ≈ 10.8 nats, the cost of a blind guess. In the second copy an induction head finds the earlier
occurrence of the current token A, attends to the token that followed it, B, and copies it: the loss falls.
A head's **induction score** is its mean attention from each token of the second copy to the token after that
token's first occurrence (1 = a perfect induction head).
"""

EXPECTATION = (
    "With the real GPT-2 weights, expect a few strong induction heads in layers 5 and 6 (counting from 0) and a "
    "second-copy loss far below the first. Models with random weights, as in a test setup, show neither."
)


@st.cache_data(max_entries=8, show_spinner="Running the model on your text…")
def cached_attention(identity: str, text: str, _loaded) -> AttentionResult:
    # Keyed on the model key and the text: one forward pass per (model, text). Every view below is
    # cheap numpy on this result, so moving a slider never runs the model again. max_entries bounds
    # the memory: a 256-token text on bert-base holds 12 × 12 × 256² floats (38 MB), so 8 entries stay
    # under about 300 MB even for the longest texts (a typical sentence takes well under 1 MB).
    return attention_for_text(_loaded, text)


@st.cache_data(max_entries=4, show_spinner="Running GPT-2 on repeated random tokens…")
def cached_induction(identity: str, period: int, seed: int, _loaded) -> InductionResult:
    return run_induction(_loaded, period=period, seed=seed)


def display_name(key: str) -> str:
    return get_entry(key).display_name


def head_choice(value: str) -> HeadChoice:
    return value if value in HEAD_WORDS else int(value)


def head_words(head: HeadChoice) -> str:
    return HEAD_WORDS[head] if isinstance(head, str) else f"head {head}"


def attention_or_warning(model_key: str, text: str) -> AttentionResult | None:
    loaded = require_model(model_key)
    try:
        return cached_attention(loaded.identity, text, loaded)
    except ValueError as error:
        st.warning(f"{display_name(model_key)}: {error}", icon="✏️")
        return None


def show_token_count(result: AttentionResult) -> None:
    """The token counter against the limit, a notice when text was dropped, and the tokens themselves."""
    entry = get_entry(result.model_key)
    limit = token_limit(entry)
    shown = len(result.axis)
    why = (
        f"the page's limit; the model reads up to {entry.context_length}"
        if limit < entry.context_length
        else "the model's context"
    )
    st.caption(f"**{shown} / {limit} tokens** ({why})")
    if result.dropped_tokens:
        st.warning(
            f"Your text has {result.total_tokens} tokens: only the first {shown} are shown "
            f"({result.dropped_tokens} dropped). Shorten the text to see the rest.",
            icon="✂️",
        )
    with st.expander(f"Tokens of {entry.display_name} ({shown})", expanded=shown <= 40 and not lecture_mode()):
        show_tokens(result.axis.labels)
        if any(label.endswith(PARTIAL_CHARACTER_MARK) for label in result.axis.labels):
            st.caption(f"{PARTIAL_CHARACTER_MARK} marks a byte-level piece holding only part of a character's bytes.")


def layer_head_controls(url: UrlState, layers: int, heads: int, *, uses_head: bool = True) -> tuple[int, HeadChoice]:
    """Layer slider and head picker, clamped to this model (a link may name a layer another model has)."""
    layer_key = url.int("layer", default=layers // 2, lo=0, hi=layers - 1)
    head_options = [*HEAD_WORDS, *(str(head) for head in range(heads))]
    head_key = url.choice("head", "mean", head_options)
    st.session_state[layer_key] = min(st.session_state[layer_key], layers - 1)
    if st.session_state[head_key] not in head_options:
        st.session_state[head_key] = "mean"
    left, right = st.columns(2)
    layer = left.slider("Layer (from 0)", 0, layers - 1, key=layer_key)
    head = right.selectbox(
        "Head", head_options, key=head_key, format_func=lambda v: head_words(head_choice(v)), disabled=not uses_head
    )
    return layer, head_choice(head)


def token_controls(url: UrlState, results: list[AttentionResult]) -> dict[str, bool]:
    """The token toggles, as keyword arguments for the views: hide (special tokens), hide_sink, merge."""
    causal = any(result.causal for result in results)
    with more_controls("Token controls"):
        hide = st.toggle(
            "Hide special tokens ([CLS], [SEP], <|endoftext|>) and renormalise each row",
            key=url.bool("hide", False),
            help="Those tokens soak up spare attention. Hiding drops their rows and columns and rescales every "
            "row to sum to 1 again. A word you typed is never hidden.",
        )
        hide_sink = causal and st.toggle(
            "Hide the first token: the attention sink",
            key=url.bool("sink", False),
            help="GPT-2 has no start token, so its first token, often your first word, is where every later "
            "token puts the attention it does not need (the 'attention sink'). Hiding it shows how the rest is "
            "shared out.",
        )
        merge = st.toggle(
            "Merge subword pieces into words",
            key=url.bool("merge", False),
            help="Rule: sum over a word's key pieces, mean over its query pieces, so rows still sum to 1.",
        )
    if any(result.axis.hidden(special=hide, sink=hide_sink).all() for result in results):
        st.info("Every token of this text would be hidden (a single GPT-2 token), so nothing is hidden.")
        hide = hide_sink = False
    return {"hide": hide, "hide_sink": hide_sink, "merge": merge}


def show_heatmap(
    view: AttentionView,
    model_key: str,
    layer: int,
    head: HeadChoice,
    *,
    key: str,
    short_title: bool = False,
    zmax: float | None = None,
    main: bool = False,
) -> None:
    entry = get_entry(model_key)
    # On a phone the title takes two lines rather than running off the chart's edge.
    title = (
        entry.display_name
        if short_title
        else f"{entry.display_name}:{'<br>' if on_phone() else ' '}layer {layer}, {head_words(head)}"
    )
    show_figure(
        charts.attention_heatmap(view, title, zmax=zmax),
        name=f"attention_{entry.key}_layer{layer}_{head}",
        table=charts.matrix_table(view),
        key=key,
        main=main,
    )
    if view.row_stochastic:
        st.caption("Each row is one softmax over the keys: it sums to 1. Hover a cell for its exact weight.")
    else:
        st.caption("Max over heads: the strongest weight any head gives; rows no longer sum to 1.")


@st.cache_data(max_entries=16, show_spinner="Reading the layer's queries and keys…")
def cached_queries_and_keys(identity: str, ids: tuple[int, ...], layer: int, _loaded):
    """One forward pass per (text, layer): picking another head or query token reuses it."""
    return layer_queries_and_keys(_loaded, np.asarray(ids, dtype=np.int64), layer)


def show_query_key(url: UrlState, result: AttentionResult, layer: int, head: HeadChoice) -> None:
    """One row of one head, rebuilt from the model's own query and key vectors (bertviz's neuron view)."""
    st.markdown("#### Where one row comes from: query · key, then softmax")
    if not isinstance(head, int):
        st.caption("Pick a single head above to see the query and key vectors behind one of its rows.")
        return
    positions = list(range(len(result.axis)))
    query_key = url.int("q", default=min(1, positions[-1]), lo=0, hi=positions[-1])
    st.session_state[query_key] = min(st.session_state[query_key], positions[-1])
    index = st.selectbox(
        "Query token (the row)",
        positions,
        key=query_key,
        format_func=lambda i: f"{i}. {visible_token(result.axis.labels[i])}",
    )
    loaded = require_model(result.model_key)
    queries, keys = cached_queries_and_keys(loaded.identity, tuple(result.input_ids.tolist()), layer, loaded)
    view = query_key_view(result, queries, keys, layer, head, index)
    show_figure(
        charts.query_key_figure(view),
        name=f"query_key_{result.model_key}_layer{layer}_head{head}",
        table=charts.query_key_table(view),
        key="query_key",
    )
    st.caption(
        f"Each token's vector is projected to a query q and a key k ({view.query.shape[0]} numbers per head). The "
        "query of the chosen token is multiplied with every key and divided by √d; the softmax of those scores is "
        "exactly the heatmap's row"
        + (" (a causal model cannot look at later tokens: their scores are −∞)." if view.causal else ".")
    )


def open_clicked_head(url: UrlState) -> None:
    """A click on the head map opens that head: it sets the layer and head pickers before they are drawn."""
    changed, clicked = clicked_point("head_map")
    if changed and isinstance(clicked, list) and len(clicked) == 2:
        st.session_state[url.key("layer")], st.session_state[url.key("head")] = int(clicked[0]), str(int(clicked[1]))


def show_model_view(
    url: UrlState, result: AttentionResult, layer: int, head: HeadChoice, tokens: dict[str, bool]
) -> None:
    grid = model_view_grid(result, max_cells=charts.MODEL_VIEW_MAX_CELLS, **tokens)
    selected = (layer, head) if isinstance(head, int) else None
    statistic = st.segmented_control(
        "Colour the head map by",
        list(charts.HEAD_STATISTICS),
        format_func=charts.HEAD_STATISTICS.get,
        key=url.choice("stat", "to_previous", list(charts.HEAD_STATISTICS)),
        required=True,
    )
    show_figure(
        charts.head_map_figure(grid.summary, statistic, selected),
        name=f"head_map_{result.model_key}",
        key="head_map",
        clickable=True,
    )
    show_figure(
        charts.model_view_figure(grid, selected),
        name=f"model_view_{result.model_key}",
        table=charts.head_summary_table(grid),
        key="model_view",
    )
    if grid.cells < len(grid.axis):
        st.caption(
            f"Each tile pools {len(grid.axis)} tokens into {grid.cells} cells a side (sum over keys, mean over "
            "queries); the enlarged view below shows every token."
        )
    summary = grid.summary
    previous = divmod(int(summary.to_previous.argmax()), grid.heads)
    first = divmod(int(summary.to_first.argmax()), grid.heads)
    st.caption(
        f"Most previous-token-like head: L{previous[0]} H{previous[1]} "
        f"({summary.to_previous[previous]:.2f} of its weight on the token just before). "
        f"Head leaning most on the first token: L{first[0]} H{first[1]} ({summary.to_first[first]:.2f}). "
        "The CSV lists these numbers for every head."
    )
    st.subheader(f"Enlarged: layer {layer}, {head_words(head)}")
    st.caption("Click a square of the head map above, or use the layer and head pickers, to open another head.")
    enlarged = attention_view(result, layer, head, **tokens)
    show_heatmap(enlarged, result.model_key, layer, head, key="model_view_enlarged")


def focus_options(tokens: int) -> list[str]:
    return ["all", *(f"q{i}" for i in range(tokens)), *(f"k{i}" for i in range(tokens))]


def show_head_lines(url: UrlState, result: AttentionResult, layer: int, tokens: dict[str, bool]) -> None:
    """bertviz's head view: the tokens twice, a line from each query to each key it reads; several heads in colour."""
    heads_key = url.multi("heads", [0], list(range(result.heads)))
    st.session_state[heads_key] = [head for head in st.session_state[heads_key] if head < result.heads]
    heads = st.pills(
        "Heads to draw (one colour each)",
        list(range(result.heads)),
        selection_mode="multi",
        key=heads_key,
        format_func=lambda h: f"H{h}",
    )
    if not heads:
        st.info("Pick one or more heads above to draw their lines.", icon="👆")
        return
    lines = head_lines(result, layer, sorted(heads), **tokens)
    focus = token_focus(url, lines)
    side, index = (focus[0], int(focus[1:])) if focus != "all" else (None, None)
    links = visible_links(
        lines, min_weight=MIN_HEAD_VIEW_WEIGHT, query=index if side == "q" else None, key=index if side == "k" else None
    )
    picked = ({"q": "query", "k": "key"}[side], index) if side else None
    show_figure(
        charts.head_view_figure(lines, links, focus=picked),
        name=f"head_view_{result.model_key}_layer{layer}",
        table=charts.links_table(lines, links),
        key="head_lines",
        clickable=True,
    )
    if len(links) < links.total:
        st.caption(
            f"The {len(links):,} strongest of {links.total:,} lines are drawn: pick fewer heads or one token to see the rest."
        )
    st.caption(
        "Left: each token as a **query**; right: the same tokens as **keys**. A line's thickness is the attention "
        f"weight (lines under {MIN_HEAD_VIEW_WEIGHT:.0%} are left out). Click a token, on either side, to see only its "
        "lines; click it again, or pick “every token”, to see them all again. Hover a token on the left for what it reads most."
    )


def token_focus(url: UrlState, lines: HeadLines) -> str:
    """Whose lines to show: every token's, or one query's (left) or one key's (right); a click on a token picks it."""
    options = focus_options(len(lines.axis))
    focus_key = url.choice("focus", "all", options)
    changed, clicked = clicked_point("head_lines")
    if changed and (clicked is None or isinstance(clicked, list) and len(clicked) == 2):
        st.session_state[focus_key] = "all" if clicked is None else f"{str(clicked[0])[0]}{int(clicked[1])}"
    if st.session_state[focus_key] not in options:
        st.session_state[focus_key] = "all"
    labels = lines.axis.labels

    def describe(option: str) -> str:
        if option == "all":
            return "every token"
        where = "query, left" if option[0] == "q" else "key, right"
        return f"{int(option[1:])}. {visible_token(labels[int(option[1:])])} ({where})"

    return st.selectbox("Show the lines of", options, key=focus_key, format_func=describe)


def show_rollout(result: AttentionResult, layer: int, tokens: dict[str, bool]) -> None:
    entry = get_entry(result.model_key)
    view = rollout_view(result, layer, **tokens)
    show_figure(
        charts.attention_heatmap(view, f"{entry.display_name}: rollout from the input through layer {layer}"),
        name=f"rollout_{entry.key}_layer{layer}",
        table=charts.matrix_table(view),
        key="rollout",
    )
    st.info(NOT_EXPLANATION, icon="⚠️")


def show_compare(url: UrlState, text: str) -> None:
    st.markdown(
        "The same text through both families. **BERT** (encoder, masked-LM pre-training) lets every token "
        "attend to every other: bidirectional. **GPT-2** (decoder, next-token prediction) is causal: its mask "
        "keeps the future from leaking into the past, so the upper triangle is empty."
    )
    left, right = st.columns(2)
    masked_key = left.selectbox("Encoder", MASKED, key=url.choice("bert", MASKED[0], MASKED), format_func=display_name)
    causal_key = right.selectbox("Decoder", CAUSAL, key=url.choice("gpt", CAUSAL[0], CAUSAL), format_func=display_name)
    results = [attention_or_warning(key, text) for key in (masked_key, causal_key)]
    if any(result is None for result in results):
        return
    layer, head = layer_head_controls(url, min(r.layers for r in results), min(r.heads for r in results))
    tokens = token_controls(url, results)
    views = [attention_view(result, layer, head, **tokens) for result in results]
    # One colour scale for both, so their weights compare cell for cell.
    zmax = max(charts.colour_max(view) for view in views)
    for column, result in zip(st.columns(2), results):
        with column:
            show_token_count(result)
    for column, result, view in zip(st.columns(2), results, views):
        with column:
            show_heatmap(
                view, result.model_key, layer, head, key=f"compare_{result.model_key}", short_title=True, zmax=zmax
            )


@st.fragment
def show_text_views(url: UrlState, view: str, text: str, model_key: str) -> None:
    """Everything below the text: moving a slider or a picker reruns this part only, not the page.

    Its arguments stay with the session, so they are keys; the result comes from the shared cache.
    """
    inspect_text(url, view, text, model_key)
    url.write()


def inspect_text(url: UrlState, view: str, text: str, model_key: str) -> None:
    if not text.strip():
        st.info("Type or paste a sentence above, or pick a preset, to see its attention.", icon="⌨️")
        return
    if view == "compare":
        show_compare(url, text)
        return
    result = attention_or_warning(model_key, text)
    if result is None:
        return
    # In lecture mode the chart comes first, on the projector's first screen, with the pickers under it.
    chart, controls = (st.container(), st.container()) if lecture_mode() else (st.container(), st.container())[::-1]
    with controls:
        show_token_count(result)
        if view == "model":
            open_clicked_head(url)
        layer, head = layer_head_controls(url, result.layers, result.heads, uses_head=view not in ("rollout", "lines"))
        tokens = token_controls(url, [result])
    with chart:
        show_text_view(url, view, result, layer, head, tokens)


def show_text_view(
    url: UrlState, view: str, result: AttentionResult, layer: int, head: HeadChoice, tokens: dict[str, bool]
) -> None:
    if view == "heatmap":
        show_heatmap(
            attention_view(result, layer, head, **tokens), result.model_key, layer, head, key="heatmap", main=True
        )
        show_query_key(url, result, layer, head)
    elif view == "lines":
        show_head_lines(url, result, layer, tokens)
    elif view == "model":
        show_model_view(url, result, layer, head, tokens)
    else:
        st.caption("Rollout runs from the input through the chosen layer, over all heads.")
        show_rollout(result, layer, tokens)


@st.fragment
def show_induction(url: UrlState) -> None:
    """The induction view; its controls rerun this part only."""
    inspect_induction(url)
    url.write()


def inspect_induction(url: UrlState) -> None:
    st.markdown(INDUCTION_CARD)
    st.caption("This view builds its own sequence of random tokens: it does not use the text above.")
    left, middle, right = st.columns(3)
    model_key = left.selectbox(
        "Model", CAUSAL, key=url.choice("ind_model", CAUSAL[0], CAUSAL), format_func=display_name
    )
    period = middle.slider(
        "Random tokens per copy",
        MIN_INDUCTION_PERIOD,
        MAX_INDUCTION_PERIOD,
        key=url.int("period", 50, MIN_INDUCTION_PERIOD, MAX_INDUCTION_PERIOD),
    )
    seed = right.number_input("Seed", 0, MAX_SEED, step=1, key=url.int("seed", 0, 0, MAX_SEED))
    loaded = require_model(model_key)
    result = cached_induction(loaded.identity, int(period), int(seed), loaded)
    show_induction_result(url, model_key, result)


def show_induction_result(url: UrlState, model_key: str, result: InductionResult) -> None:
    """The loss on both copies, every head's induction score, and the pattern of the head picked."""
    first, second = st.columns(2)
    first.metric("Loss on the first copy", f"{result.first_copy_loss:.2f} nats")
    second.metric(
        "Loss on the second copy",
        f"{result.second_copy_loss:.2f} nats",
        delta=f"{result.second_copy_loss - result.first_copy_loss:+.2f} nats",
        delta_color="inverse",
    )
    show_figure(
        charts.loss_by_position_figure(result),
        name=f"induction_loss_{model_key}",
        table=charts.loss_table(result),
        key="induction_loss",
    )
    show_figure(
        charts.induction_scores_figure(result),
        name=f"induction_scores_{model_key}",
        table=charts.scores_table(result),
        key="induction_scores",
    )
    best = top_heads(result.scores, 5)
    st.markdown("**Top heads:** " + " · ".join(f"L{layer} H{head} ({score:.2f})" for layer, head, score in best))
    st.caption(EXPECTATION)
    ranked = {
        f"{layer}.{head}": (layer, head, score) for layer, head, score in top_heads(result.scores, result.scores.size)
    }
    options = list(ranked)
    pick_key = url.choice("ind_head", options[0], options)
    if st.session_state[pick_key] not in ranked:
        st.session_state[pick_key] = options[0]
    picked = st.selectbox(
        "Head to look at (best first)",
        options,
        key=pick_key,
        format_func=lambda name: "L{} H{} (score {:.2f})".format(*ranked[name]),
    )
    layer, head, _ = ranked[picked]
    pattern = induction_view(result, layer, head)
    show_figure(
        charts.attention_heatmap(
            pattern, f"{display_name(model_key)}: layer {layer}, head {head} on the repeated tokens"
        ),
        name=f"induction_pattern_{model_key}_L{layer}H{head}",
        table=charts.matrix_table(pattern),
        key="induction_pattern",
    )
    st.caption(
        "An induction head draws a stripe one step right of the diagonal offset by the period: each token of the "
        "second copy looks at the token after its first occurrence."
    )


# ---------------------------------------------------------------------------------------
# The page

url = UrlState("attn")
OWN_TEXT = "own"  # the preset box's entry once the text is edited: it no longer names a preset it does not hold
text_key = url.text("text", default=PRESETS[0].text)
preset_key = url.choice("preset", PRESETS[0].id, [*PRESET_BY_ID, OWN_TEXT])
view_key = url.choice("view", "heatmap", list(VIEWS))
ONE_CHART_VIEWS = ("heatmap", "lines", "rollout")


def use_preset() -> None:
    if st.session_state[preset_key] in PRESET_BY_ID:
        st.session_state[text_key] = PRESET_BY_ID[st.session_state[preset_key]].text


def preset_name(preset_id: str) -> str:
    return PRESET_BY_ID[preset_id].name if preset_id in PRESET_BY_ID else "Your own text"


def text_section() -> tuple[str, str, str]:
    """The text, the preset it came from, the model and the view: (text, model key, view)."""
    if (
        st.session_state[preset_key] in PRESET_BY_ID
        and st.session_state[text_key] != PRESET_BY_ID[st.session_state[preset_key]].text
    ):
        st.session_state[preset_key] = OWN_TEXT
    view_slot = st.container()  # in lecture mode the view comes first: the inputs below it may run long
    text_column, pick_column = (
        st.columns([3, 2]) if st.session_state[view_key] not in ONE_CHART_VIEWS else (st.container(), st.container())
    )
    with pick_column:
        st.selectbox(
            "Preset from the course",
            [*PRESET_BY_ID, OWN_TEXT] if st.session_state[preset_key] == OWN_TEXT else list(PRESET_BY_ID),
            key=preset_key,
            format_func=preset_name,
            on_change=use_preset,
        )
        model_options = [*MASKED, *CAUSAL]
        model_key = st.selectbox(
            "Model", model_options, key=url.choice("model", MASKED[0], model_options), format_func=display_name
        )
    with text_column:
        text = st.text_area("Your text (edit it freely)", key=text_key, height=140, max_chars=MAX_TEXT_CHARS)
    preset = PRESET_BY_ID.get(st.session_state[preset_key])
    if preset is not None and text == preset.text:
        st.caption(f"**What to look for:** {preset.look_for}")
    view = (view_slot if lecture_mode() else st).segmented_control(
        "View", list(VIEWS), key=view_key, format_func=VIEWS.get, required=True
    )
    return text, model_key, view


def page() -> None:
    page_lead("🔍 Attention", LEAD)
    # One chart sits beside the inputs; views of two models or of every head take the page's full width.
    one_chart = st.session_state[view_key] in ONE_CHART_VIEWS
    inputs, main = demo_columns() if one_chart else (st.container(), st.container())
    with inputs:
        text, model_key, view = text_section()
    with main:
        if view == "induction":
            show_induction(url)
        else:
            show_text_views(url, view, text, model_key)
    with how_it_works():
        st.markdown(INTRO)
    url.write()
    url.show_link_notes()


page()
