"""Plotly figures and CSV tables for the attention page, built from models.attention results.

Every token that reaches a label or hover text goes through `ui.text.plotly_safe` (plotly reads some
HTML). Heatmap axes are categorical, so category names must be unique: repeated tokens get a counter.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from plotly.subplots import make_subplots

from models.attention import (
    AttentionView,
    HeadLines,
    HeadSummary,
    InductionResult,
    Links,
    ModelViewGrid,
    QueryKeyView,
    strongest_keys,
)
from ui.text import plotly_safe
from ui import palette

# Tick labels longer than this are cut (the hover still names the position).
MAX_LABEL_CHARS = 18
# A model-view tile has at most this many cells a side: about one screen pixel per cell on a projector
# (12 heads across ~1200 px), and it keeps the 144-tile figure small to send (see bench/bench_attention.py).
MODEL_VIEW_MAX_CELLS = 32
COLOURS = "Blues"
HEATMAP_HOVER = "query: %{y}<br>key: %{x}<br>weight: %{z:.4f}<extra></extra>"


def axis_labels(labels: tuple[str, ...] | list[str]) -> list[str]:
    """Escaped, shortened and unique labels, in order: the second 'the' becomes 'the (2)'."""
    seen: set[str] = set()
    unique = []
    for label in labels:
        # Cut before escaping, so an entity such as &lt; is never cut in half.
        text = plotly_safe(label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…")
        candidate, count = text, 1
        while candidate in seen:
            count += 1
            candidate = f"{text} ({count})"
        seen.add(candidate)
        unique.append(candidate)
    return unique


def _heatmap_height(tokens: int) -> int:
    return int(np.clip(260 + 22 * tokens, 560, 1000))


def colour_max(view: AttentionView) -> float:
    """Top of the colour scale: the largest weight, leaving out a causal model's first row, which can
    only look at itself (weight 1) and would wash every other cell out."""
    rows = view.matrix[1:] if view.causal and len(view.matrix) > 1 else view.matrix
    return max(float(rows.max()), 1e-6)


def attention_heatmap(view: AttentionView, title: str, *, zmax: float | None = None) -> go.Figure:
    """The view's matrix, queries down the side and keys along the top; a causal mask's cells are blank."""
    labels = axis_labels(view.axis.labels)
    z = view.matrix.astype(np.float64)
    if view.causal:
        z = np.where(np.triu(np.ones_like(z, dtype=bool), k=1), np.nan, z)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            colorscale=COLOURS,
            zmin=0.0,
            zmax=zmax if zmax is not None else colour_max(view),
            hovertemplate=HEATMAP_HOVER,
            hoverongaps=False,
            colorbar={"title": {"text": "weight"}},
        )
    )
    fig.update_xaxes(type="category", tickangle=-60, title_text="key (the token looked at)")
    fig.update_yaxes(type="category", autorange="reversed", title_text="query (the token looking)")
    # Square cells (set as the figure is drawn: not on a phone), so the picture reads as a matrix.
    fig.update_layout(title=title, height=_heatmap_height(len(labels)), meta={"surface": "masked", "square": True})
    return fig


def matrix_table(view: AttentionView) -> pd.DataFrame:
    """The matrix as CSV rows: the query token first, then one column per key token."""
    names = [f"{index}:{label}" for index, label in enumerate(view.axis.labels)]
    table = pd.DataFrame(view.matrix, columns=names)
    table.insert(0, "query", names)
    return table


def model_view_figure(grid: ModelViewGrid, selected: tuple[int, int] | None = None) -> go.Figure:
    """All heads as one tiled heatmap (one trace, one shared colour scale); `selected` gets a frame.

    Row and column category names carry layer, head and token, so the hover names all of them.
    """
    step = grid.cells + 1
    cell_labels = [_block_label(grid, cell) for cell in range(grid.cells)]
    rows = _tiled_names(grid.layers, step, lambda layer, cell: f"layer {layer} · query {cell_labels[cell]}")
    columns = _tiled_names(grid.heads, step, lambda head, cell: f"head {head} · key {cell_labels[cell]}")
    fig = go.Figure(
        go.Heatmap(
            z=grid.image,
            x=columns,
            y=rows,
            colorscale=COLOURS,
            zmin=0.0,
            # One scale for every tile, so heads stay comparable; its top is the strongest weight shown.
            zmax=max(float(np.nanmax(grid.image)), 1e-6),
            hoverongaps=False,
            hovertemplate="%{y}<br>%{x}<br>weight: %{z:.4f}<extra></extra>",
            colorbar={"title": {"text": "weight"}},
        )
    )
    middle = grid.cells // 2
    fig.update_xaxes(
        type="category",
        tickvals=[columns[head * step + middle] for head in range(grid.heads)],
        ticktext=[f"H{head}" for head in range(grid.heads)],
        tickangle=0,
        showgrid=False,
    )
    fig.update_yaxes(
        type="category",
        autorange="reversed",
        tickvals=[rows[layer * step + middle] for layer in range(grid.layers)],
        ticktext=[f"L{layer}" for layer in range(grid.layers)],
        showgrid=False,
    )
    if selected is not None:
        layer, head = selected
        fig.add_shape(
            type="rect",
            x0=head * step - 0.9,
            x1=head * step + grid.cells - 0.1,
            y0=layer * step - 0.9,
            y1=layer * step + grid.cells - 0.1,
            line={"color": palette.RED, "width": 3},
        )
    fig.update_layout(
        title="Every layer (rows, L) × head (columns, H)",
        height=int(np.clip(120 + 70 * grid.layers, 360, 960)),
    )
    return fig


def _block_label(grid: ModelViewGrid, cell: int) -> str:
    first, last = (int(value) for value in grid.blocks[cell])
    labels = grid.axis.labels
    if first == last:
        return f"{first}: {plotly_safe(labels[first])}"
    return f"{first}–{last}: {plotly_safe(labels[first])} … {plotly_safe(labels[last])}"


def _tiled_names(tiles: int, step: int, name) -> list[str]:
    """Category names along one side of the tiled image; the gap after each tile gets a unique blank-ish name."""
    names = []
    for tile in range(tiles):
        names.extend(name(tile, cell) for cell in range(step - 1))
        if tile < tiles - 1:
            names.append(" " * (tile + 1))
    return names


def head_summary_table(grid: ModelViewGrid) -> pd.DataFrame:
    """One row per head: where it looks on average (the model view's CSV)."""
    layers, heads = np.meshgrid(np.arange(grid.layers), np.arange(grid.heads), indexing="ij")
    summary = grid.summary
    return pd.DataFrame(
        {
            "layer": layers.ravel(),
            "head": heads.ravel(),
            "to_self": summary.to_self.ravel(),
            "to_previous_token": summary.to_previous.ravel(),
            "to_first_token": summary.to_first.ravel(),
            "entropy_bits": summary.entropy_bits.ravel(),
        }
    )


def loss_by_position_figure(result: InductionResult) -> go.Figure:
    """Loss per predicted token, the first copy shaded apart from the second."""
    positions = np.arange(1, len(result.token_ids))
    period = result.period
    fig = go.Figure(
        go.Scatter(
            x=positions,
            y=result.loss,
            mode="lines+markers",
            marker={"size": 5},
            line={"color": palette.BLUE},
            hovertemplate="position %{x}<br>loss %{y:.2f} nats<extra></extra>",
            name="loss",
        )
    )
    copies = (
        (0.5, period + 0.5, "first copy", result.first_copy_loss, "#dddddd"),
        (period + 0.5, 2 * period + 0.5, "second copy", result.second_copy_loss, "#c6dbef"),
    )
    for start, end, name, mean, colour in copies:
        fig.add_vrect(x0=start, x1=end, fillcolor=colour, opacity=0.35, line_width=0, layer="below")
        fig.add_shape(
            type="line", x0=start, x1=end, y0=mean, y1=mean, line={"color": palette.RED, "width": 3, "dash": "dash"}
        )
        fig.add_annotation(
            x=(start + end) / 2,
            y=mean,
            text=f"{name}: mean {mean:.2f}",
            showarrow=False,
            yshift=14,
            font={"color": palette.RED},
        )
    fig.update_layout(
        title="Loss on each next token (nats): random, then copied",
        xaxis_title="position of the predicted token",
        yaxis_title="loss (nats)",
        height=420,
        showlegend=False,
    )
    fig.update_yaxes(rangemode="tozero")
    return fig


def loss_table(result: InductionResult) -> pd.DataFrame:
    positions = np.arange(1, len(result.token_ids))
    return pd.DataFrame(
        {
            "position": positions,
            "token": list(result.labels[1:]),
            "copy": np.where(positions <= result.period, "first", "second"),
            "loss_nats": result.loss,
        }
    )


def induction_scores_figure(result: InductionResult) -> go.Figure:
    """Induction score of every head, layers down the side."""
    layers, heads = result.scores.shape
    fig = go.Figure(
        go.Heatmap(
            z=result.scores,
            x=[f"H{head}" for head in range(heads)],
            y=[f"L{layer}" for layer in range(layers)],
            colorscale="Viridis",
            zmin=0.0,
            zmax=1.0,
            hovertemplate="layer %{y}, head %{x}<br>induction score %{z:.3f}<extra></extra>",
            colorbar={"title": {"text": "score"}},
        )
    )
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_layout(title="Induction score per layer × head", height=int(np.clip(140 + 42 * layers, 320, 660)))
    return fig


def scores_table(result: InductionResult) -> pd.DataFrame:
    layers, heads = np.meshgrid(*(np.arange(size) for size in result.scores.shape), indexing="ij")
    return pd.DataFrame({"layer": layers.ravel(), "head": heads.ravel(), "induction_score": result.scores.ravel()})


def query_key_figure(view: QueryKeyView) -> go.Figure:
    """Left: the query vector and every key vector (one row each). Middle: q·kⱼ/√d. Right: their softmax,
    the attention row the heatmap shows."""
    labels = [f"{index}. {plotly_safe(label)}" for index, label in enumerate(view.axis.labels)]
    query_label = f"q of {labels[view.query_index]}"
    visible = np.isfinite(view.scores)
    fig = make_subplots(
        rows=1,
        cols=3,
        column_widths=[0.5, 0.25, 0.25],
        shared_yaxes=False,
        horizontal_spacing=0.08,
        subplot_titles=("query and keys (each a row of d numbers)", "q · k / √d", "softmax = attention"),
    )
    vectors = np.vstack([view.query[None, :], view.keys])
    limit = float(np.abs(vectors).max()) or 1.0
    fig.add_trace(
        go.Heatmap(
            z=vectors,
            y=[query_label, *[f"k of {label}" for label in labels]],
            colorscale="RdBu",
            zmid=0,
            zmin=-limit,
            zmax=limit,
            showscale=False,
            hovertemplate="%{y}, dimension %{x}: %{z:.3f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    scores = [float(score) if shown else None for score, shown in zip(view.scores, visible)]  # masked: no bar
    fig.add_trace(
        go.Bar(
            y=labels,
            x=scores,
            orientation="h",
            marker_color=palette.BLUE,
            hovertemplate="%{y}: %{x:.3f}<extra>q·k/√d</extra>",
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Bar(
            y=labels,
            x=view.weights,
            orientation="h",
            marker_color=palette.ORANGE,
            hovertemplate="%{y}: %{x:.1%}<extra>attention</extra>",
        ),
        row=1,
        col=3,
    )
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(tickformat=".0%", row=1, col=3)
    fig.update_layout(
        title=f"Where the row of {labels[view.query_index]} comes from: layer {view.layer}, head {view.head}",
        showlegend=False,
        height=160 + 24 * (len(labels) + 1),
    )
    return fig


def query_key_table(view: QueryKeyView) -> pd.DataFrame:
    return pd.DataFrame({"key token": list(view.axis.labels), "q·k/√d": view.scores, "attention": view.weights})


# --- head view: lines between two columns of tokens ----------------------------------------------

# One colour per head drawn at once (12 distinct, readable on white and on a projector).
HEAD_COLOURS = (
    "#1f77b4",
    palette.RED,
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#17becf",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#1a237e",
    "#004d40",
)
# Line weight classes: (lowest weight, width in px, opacity). Few classes keep the figure to a few traces.
LINE_CLASSES = ((0.0, 1.0, 0.30), (0.1, 2.5, 0.45), (0.25, 4.5, 0.65), (0.5, 7.0, 0.85))
QUERY_COLUMN, KEY_COLUMN = 0.0, 1.0


def head_colour(head: int) -> str:
    return HEAD_COLOURS[head % len(HEAD_COLOURS)]


def head_view_figure(lines: HeadLines, links: Links, *, focus: tuple[str, int] | None = None) -> go.Figure:
    """Queries on the left, keys on the right, a line per link, thicker for a larger weight, one colour per head.

    Trace 0 is the query column and trace 1 the key column (their points are what a click selects); the lines
    come after them and take no clicks.
    """
    labels = [plotly_safe(label) for label in lines.axis.labels]
    positions = list(range(len(labels)))
    strongest = strongest_keys(lines, 3)
    query_hover = [
        f"{i}. {labels[i]} reads most from: " + ", ".join(f"{labels[k]} {w:.0%}" for k, w in strongest[i])
        for i in positions
    ]
    focused = {side: index for side, index in [focus]} if focus else {}

    def token_column(x: float, side: str, hover: list[str], text_position: str) -> go.Scatter:
        chosen = focused.get(side)
        return go.Scatter(
            x=[x] * len(labels),
            y=positions,
            mode="markers+text",
            text=labels,
            textposition=text_position,
            marker={
                "size": 14,
                "color": [palette.ORANGE if i == chosen else palette.LIGHT_GREY for i in positions],
                "line": {"width": 0},
            },
            textfont={"color": [palette.ORANGE if i == chosen else palette.INK for i in positions]},
            customdata=[[side, i] for i in positions],
            hovertext=hover,
            hoverinfo="text",
            showlegend=False,
            cliponaxis=False,
        )

    fig = go.Figure(
        [
            token_column(QUERY_COLUMN, "query", query_hover, "middle left"),
            token_column(KEY_COLUMN, "key", [f"{i}. {labels[i]} (key)" for i in positions], "middle right"),
        ]
    )
    for index, head in enumerate(lines.heads):
        mine = links.head == index
        for number, (lowest, width, opacity) in enumerate(LINE_CLASSES):
            upper = LINE_CLASSES[number + 1][0] if number + 1 < len(LINE_CLASSES) else np.inf
            chosen = mine & (links.weight >= lowest) & (links.weight < upper)
            xs = np.tile([QUERY_COLUMN, KEY_COLUMN, np.nan], int(chosen.sum()))
            ys = np.column_stack([links.query[chosen], links.key[chosen], np.full(int(chosen.sum()), np.nan)]).ravel()
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line={"color": head_colour(head), "width": width},
                    opacity=opacity,
                    hoverinfo="skip",
                    name=f"head {head}",
                    legendgroup=f"head {head}",
                    showlegend=number == len(LINE_CLASSES) - 1,  # the legend shows the boldest line, not a faint one
                )
            )
    fig.update_xaxes(range=[-0.45, 1.45], visible=False, fixedrange=True)
    fig.update_yaxes(range=[len(labels) - 0.5, -0.5], visible=False, fixedrange=True)
    heads = ", ".join(str(head) for head in lines.heads)
    fig.update_layout(
        title=f"Layer {lines.layer}, head{'s' if len(lines.heads) > 1 else ''} {heads}: each token (left) to what it reads (right)",
        height=int(np.clip(140 + 26 * len(labels), 360, 1400)),
        hoverdistance=-1,
        legend={"orientation": "h", "y": -0.02, "yanchor": "top"},
        clickmode="event+select",
        dragmode=False,
    )
    return fig


def links_table(lines: HeadLines, links: Links) -> pd.DataFrame:
    labels = lines.axis.labels
    return pd.DataFrame(
        {
            "layer": lines.layer,
            "head": [lines.heads[index] for index in links.head],
            "query": [f"{i}:{labels[i]}" for i in links.query],
            "key": [f"{j}:{labels[j]}" for j in links.key],
            "weight": links.weight,
        }
    )


# --- head map: one square per head, to click ------------------------------------------------------

HEAD_STATISTICS = {
    "to_previous": "weight on the previous token",
    "to_first": "weight on the first token",
    "to_self": "weight on itself",
    "entropy_bits": "spread (entropy, bits)",
}


def head_map_figure(summary: HeadSummary, statistic: str, selected: tuple[int, int] | None = None) -> go.Figure:
    """Layers down, heads across, a square per head coloured by one pattern number; a click picks the head."""
    values = getattr(summary, statistic)
    layers, heads = values.shape
    layer_of, head_of = np.meshgrid(np.arange(layers), np.arange(heads), indexing="ij")
    outline = [3 if selected == (layer, head) else 0 for layer, head in zip(layer_of.ravel(), head_of.ravel())]
    fig = go.Figure(
        go.Scatter(
            x=head_of.ravel(),
            y=layer_of.ravel(),
            mode="markers",
            marker={
                "symbol": "square",
                "size": 26,
                "color": values.ravel(),
                "colorscale": COLOURS,
                "cmin": 0.0,
                "cmax": max(float(values.max()), 1e-6),
                "line": {"width": outline, "color": palette.RED},
                "colorbar": {"title": {"text": HEAD_STATISTICS[statistic].split(" (")[0]}},
            },
            # Plain lists: numpy arrays travel base64-packed and come back from a click as a dict, not a pair.
            customdata=[[int(layer), int(head)] for layer, head in zip(layer_of.ravel(), head_of.ravel())],
            hovertemplate="layer %{customdata[0]}, head %{customdata[1]}: %{marker.color:.2f}<br>click to open it<extra></extra>",
        )
    )
    fig.update_xaxes(
        title_text="head", tickmode="linear", dtick=1, range=[-0.6, heads - 0.4], fixedrange=True, showgrid=False
    )
    fig.update_yaxes(
        title_text="layer", tickmode="linear", dtick=1, range=[layers - 0.4, -0.6], fixedrange=True, showgrid=False
    )
    fig.update_layout(
        title=f"Click a head to open it: colour = {HEAD_STATISTICS[statistic]}",
        height=int(np.clip(140 + 34 * layers, 300, 700)),
        hoverdistance=-1,
        dragmode=False,
    )
    return fig
