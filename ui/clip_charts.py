"""Plotly figures (and their data tables) for the CLIP page. No Streamlit here.

Every label, caption and file name is user text: it goes through `ui.text.plotly_label` before it reaches a
tick label, title or hover text.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from models.zero_shot import ProbeResult, SimilarityMatrix, ZeroShotResult
from ui import palette
from ui.text import plotly_label

PROBABILITY_COLOUR = palette.BLUE
COSINE_COLOUR = palette.GREY
ZERO_SHOT_COLOUR = palette.ORANGE
TICK_LINE_CHARS = 16  # the matrix's caption labels wrap at this width…
TICK_LINES = 3  # …over at most this many lines


def _tick(text: str) -> str:
    """A label on at most TICK_LINES lines of TICK_LINE_CHARS, wrapped at spaces, so captions stay whole and
    horizontal on a narrow matrix instead of being cut or slanted off the chart."""
    lines = textwrap.wrap(text, TICK_LINE_CHARS, break_long_words=True) or [text]
    if len(lines) > TICK_LINES:
        lines = lines[:TICK_LINES]
        lines[-1] = lines[-1][: TICK_LINE_CHARS - 1] + "…"
    return "<br>".join(plotly_label(line) for line in lines)


def _unique_ticks(texts: tuple[str, ...]) -> list[str]:
    """Axis categories must be distinct: number repeated (or equally shortened) labels."""
    ticks, seen = [], {}
    for text in texts:
        tick = _tick(text)
        seen[tick] = seen.get(tick, 0) + 1
        ticks.append(tick if seen[tick] == 1 else f"{tick} ({seen[tick]})")
    return ticks


# ---------------------------------------------------------------------------------------
# Zero-shot: probabilities with the raw cosines alongside


def probability_table(result: ZeroShotResult, image: int = 0) -> pd.DataFrame:
    """One row per label, most probable first."""
    table = pd.DataFrame(
        {
            "label": result.labels,
            "probability": result.probabilities[image],
            "cosine similarity": result.cosine[image],
            "logit (scale × cosine)": result.logit_scale * result.cosine[image],
        }
    )
    return table.sort_values("probability", ascending=False, ignore_index=True)


def probability_figure(result: ZeroShotResult, image: int = 0) -> go.Figure:
    """Horizontal bars: softmax probabilities (left) and the cosines they come from (right)."""
    table = probability_table(result, image)
    title = f"Most likely: {plotly_label(table['label'][0])} ({table['probability'][0]:.0%})"
    ticks = _unique_ticks(tuple(table["label"]))
    hover = [plotly_label(label) for label in table["label"]]
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        column_widths=[0.62, 0.38],
        horizontal_spacing=0.04,
    )
    figure.add_trace(
        go.Bar(
            x=table["probability"] * 100,
            y=ticks,
            orientation="h",
            marker_color=PROBABILITY_COLOUR,
            text=[f"{p:.1%}" for p in table["probability"]],
            textposition="auto",
            customdata=hover,
            hovertemplate="%{customdata}<br>probability %{x:.2f} %<extra></extra>",
            name="probability",
        ),
        row=1,
        col=1,
    )
    figure.add_trace(
        go.Bar(
            x=table["cosine similarity"],
            y=ticks,
            orientation="h",
            marker_color=COSINE_COLOUR,
            text=[f"{c:.3f}" for c in table["cosine similarity"]],
            textposition="auto",
            customdata=hover,
            hovertemplate="%{customdata}<br>cosine %{x:.4f}<extra></extra>",
            name="cosine",
        ),
        row=1,
        col=2,
    )
    # The panels are named under their axes: titles above them ran into each other in a narrow column.
    figure.update_xaxes(title_text="probability, %<br>softmax(scale × cosine)", range=[0, 100], row=1, col=1)
    figure.update_xaxes(title_text=f"cosine similarity<br>(scale = {result.logit_scale:.1f})", row=1, col=2)
    figure.update_yaxes(autorange="reversed", row=1, col=1)
    figure.update_layout(title=title, showlegend=False, height=max(320, 44 * len(ticks) + 140), bargap=0.25)
    return figure


# ---------------------------------------------------------------------------------------
# Similarity matrix: images × captions, matching pairs on the diagonal


MATRIX_VIEWS = {
    "cosine": "Cosine similarity",
    "image_to_text": "Softmax over captions (each row sums to 1)",
    "text_to_image": "Softmax over images (each column sums to 1)",
}


def similarity_table(matrix: SimilarityMatrix) -> pd.DataFrame:
    """Long format: one row per (image, caption) pair."""
    rows = []
    for i, name in enumerate(matrix.image_names):
        for j, caption in enumerate(matrix.captions):
            rows.append(
                {
                    "image": name,
                    "caption": caption,
                    "matching pair (diagonal)": i == j,
                    "cosine similarity": float(matrix.cosine[i, j]),
                    "P(caption | image)": float(matrix.image_to_text[i, j]),
                    "P(image | caption)": float(matrix.text_to_image[i, j]),
                }
            )
    return pd.DataFrame(rows)


def similarity_figure(matrix: SimilarityMatrix, view: str = "cosine") -> go.Figure:
    """Heatmap of `view` (a MATRIX_VIEWS key); the diagonal, the matching pairs, is outlined."""
    values = getattr(matrix, view)
    rows, cols = values.shape
    x_ticks = _unique_ticks(matrix.captions)
    y_ticks = _unique_ticks(matrix.image_names)
    hover = np.array(
        [
            [f"{plotly_label(name)}<br>{plotly_label(caption)}" for caption in matrix.captions]
            for name in matrix.image_names
        ],
        dtype=object,
    ).reshape(rows, cols)
    number = ".3f" if view == "cosine" else ".0%"
    figure = go.Figure(
        go.Heatmap(
            z=values,
            x=list(range(cols)),
            y=list(range(rows)),
            colorscale="Blues",
            text=[[format(v, number) for v in row] for row in values],
            texttemplate="%{text}",
            customdata=hover,
            hovertemplate="%{customdata}<br>%{text}<extra></extra>",
            colorbar={"title": {"text": "cosine" if view == "cosine" else "prob."}},
        )
    )
    for k in range(min(rows, cols)):
        figure.add_shape(
            type="rect",
            x0=k - 0.5,
            x1=k + 0.5,
            y0=k - 0.5,
            y1=k + 0.5,
            line={"color": ZERO_SHOT_COLOUR, "width": 3},
        )
    figure.update_xaxes(
        tickvals=list(range(cols)), ticktext=x_ticks, tickangle=0, side="bottom", title="caption", automargin=True
    )
    figure.update_yaxes(
        tickvals=list(range(rows)), ticktext=y_ticks, autorange="reversed", title="image", automargin=True
    )
    figure.update_layout(
        title=f"{MATRIX_VIEWS[view]}: matching pairs outlined on the diagonal",
        height=max(380, 70 * rows + 220),
    )
    return figure


# ---------------------------------------------------------------------------------------
# Linear probe against zero-shot


def probe_table(result: ProbeResult) -> pd.DataFrame:
    """One row per number of examples per class."""
    return pd.DataFrame(
        {
            "examples per class": result.shots,
            "linear probe accuracy (mean)": result.mean_accuracy,
            "linear probe accuracy (min)": result.accuracy.min(axis=0),
            "linear probe accuracy (max)": result.accuracy.max(axis=0),
            "zero-shot accuracy": result.zero_shot_accuracy,
            "chance": result.chance,
        }
    )


def probe_figure(result: ProbeResult) -> go.Figure:
    """Probe accuracy against examples per class (log scale), with zero-shot and chance as lines."""
    shots = list(result.shots)
    low, high = result.accuracy.min(axis=0) * 100, result.accuracy.max(axis=0) * 100
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=shots + shots[::-1],
            y=list(high) + list(low[::-1]),
            mode="lines",
            fill="toself",
            fillcolor="rgba(31, 78, 156, 0.15)",
            line={"width": 0},
            hoverinfo="skip",
            name=f"range over {result.accuracy.shape[0]} random draws",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=shots,
            y=result.mean_accuracy * 100,
            mode="lines+markers",
            line={"color": PROBABILITY_COLOUR, "width": 3},
            marker={"size": 10},
            name="linear probe on frozen CLIP features",
            hovertemplate="%{x} per class: %{y:.1f} %<extra></extra>",
        )
    )
    figure.add_hline(
        y=result.zero_shot_accuracy * 100,
        line={"color": ZERO_SHOT_COLOUR, "width": 3, "dash": "dash"},
        annotation_text=f"zero-shot (no examples): {result.zero_shot_accuracy:.0%}",
        annotation_position="top left",
    )
    figure.add_hline(
        y=result.chance * 100,
        line={"color": COSINE_COLOUR, "width": 2, "dash": "dot"},
        annotation_text=f"chance: {result.chance:.0%}",
        annotation_position="bottom right",
    )
    figure.update_xaxes(
        type="log", tickvals=shots, ticktext=[str(k) for k in shots], title="labelled examples per class"
    )
    figure.update_yaxes(range=[0, 102], title=f"test accuracy (%), {result.n_test} test images")
    figure.update_layout(
        title="Linear probe vs zero-shot: transfer learning from frozen features",
        height=460,
        legend={"orientation": "h", "y": -0.25},
    )
    return figure
