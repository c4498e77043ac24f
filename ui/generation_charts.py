"""Plotly figures (and the tables behind them) for the generation page.

Every token that reaches a label or hover text goes through `plotly_safe`: generated text is model
output that can contain anything, HTML included.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from models.generation import (
    GenerationResult,
    GenerationStep,
    LabelledSet,
    NextTokenDistribution,
    SamplingFilter,
    ShotCurve,
)
from ui.text import plotly_safe, visible_token
from ui import palette

CHOSEN_COLOUR = palette.BLUE
OTHER_COLOUR = "#a9bcd9"
ACCURACY_COLOUR = palette.BLUE
PROBABILITY_COLOUR = "#d9822b"


def percent(probability: float) -> str:
    """Two significant digits, so that the tiny probabilities of rare tokens do not all print as 0.0%."""
    if probability < 1e-4:
        return "<0.01%"
    return f"{probability * 100:.2g}%" if probability < 0.1 else f"{probability:.0%}"


def _ranked_labels(pieces) -> list[str]:
    # Numbered so that two tokens that print the same (byte fragments) stay two bars.
    return [f"{rank}. {plotly_safe(piece)}" for rank, piece in enumerate(pieces, start=1)]


def _probability_bars(labels: list[str], probs: np.ndarray, colours: list[str], title: str, axis: str) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=probs,
            y=labels,
            orientation="h",
            marker_color=colours,
            text=[percent(p) for p in probs],
            textposition="auto",
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    # Short titles: the always-on plotly tool bar covers the right end of a long one in a half-width column.
    fig.update_layout(
        title=title,
        xaxis={"title": axis, "tickformat": "~%", "rangemode": "tozero"},
        yaxis={"autorange": "reversed", "type": "category"},
        height=120 + 32 * len(labels),
        showlegend=False,
    )
    return fig


def next_token_figure(dist: NextTokenDistribution) -> go.Figure:
    return _probability_bars(
        _ranked_labels(dist.pieces),
        dist.probs,
        [CHOSEN_COLOUR] * len(dist.probs),
        "Next token",
        "probability · entropy not sent by the generation server"
        if math.isnan(dist.entropy_bits)
        else f"probability · entropy {dist.entropy_bits:.1f} bits",
    )


CUT_COLOUR = "#c8c8c8"
FILTER_BARS = 15


def sampling_filter_figure(filtered: SamplingFilter, pieces: list[str]) -> go.Figure:
    """The model's top tokens: before the settings (outline) and after (filled); tokens cut away are grey."""
    shown = slice(0, len(pieces))
    labels = _ranked_labels(pieces)
    # Outlined: the model's own probability; a token the settings cut away keeps that bar, filled grey.
    before_fill = ["rgba(0,0,0,0)" if kept else CUT_COLOUR for kept in filtered.kept[shown]]
    fig = go.Figure()
    fig.add_bar(
        y=labels,
        x=filtered.before[shown],
        orientation="h",
        name="model (temperature 1, no filter); grey: cut away",
        marker={"color": before_fill, "line": {"color": OTHER_COLOUR, "width": 2}},
        hovertemplate="%{y}: %{x:.2%} before<extra></extra>",
    )
    fig.add_bar(
        y=labels,
        x=filtered.after[shown],
        orientation="h",
        name="what sampling draws from",
        marker={"color": CHOSEN_COLOUR},
        hovertemplate="%{y}: %{x:.2%} after<extra></extra>",
    )
    kept = int(filtered.kept.sum())
    fig.update_layout(
        title=(
            f"Sampling keeps {kept:,} token{'s' if kept != 1 else ''} · entropy "
            f"{filtered.entropy_before_bits:.1f} → {filtered.entropy_after_bits:.1f} bits"
        ),
        barmode="overlay",
        height=90 + 26 * len(labels),
        yaxis={"autorange": "reversed", "type": "category"},
        xaxis={"title": "probability", "tickformat": ".0%"},
        legend={"orientation": "h", "yanchor": "top", "y": -0.18},
    )
    return fig


def sampling_filter_table(filtered: SamplingFilter, pieces: list[str]) -> pd.DataFrame:
    count = len(pieces)
    return pd.DataFrame(
        {
            "rank": np.arange(1, count + 1),
            "token": pieces,
            "token_id": filtered.ids[:count],
            "before": filtered.before[:count],
            "after": filtered.after[:count],
            "kept": filtered.kept[:count],
        }
    )


def next_token_table(dist: NextTokenDistribution) -> pd.DataFrame:
    return pd.DataFrame(
        {"rank": np.arange(1, len(dist.ids) + 1), "token": dist.pieces, "token_id": dist.ids, "probability": dist.probs}
    )


def alternatives_figure(step: GenerationStep) -> go.Figure:
    """The model's top tokens at one step; the one generated is dark (or added last when it was not in the top)."""
    pieces, probs = list(step.alternative_pieces), list(step.alternative_probs)
    chosen = [int(token) == step.token_id for token in step.alternative_ids]
    labels = _ranked_labels(pieces)
    if not any(chosen):
        labels.append(f"generated: {plotly_safe(step.piece)}")
        probs.append(step.probability)
        chosen.append(True)
    colours = [CHOSEN_COLOUR if is_chosen else OTHER_COLOUR for is_chosen in chosen]
    title = f"Step {step.index + 1}: {plotly_safe(step.piece)} ({percent(step.probability)})"
    return _probability_bars(labels, np.array(probs), colours, title, "probability (dark: the token generated)")


def alternatives_table(step: GenerationStep) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "rank": np.arange(1, len(step.alternative_ids) + 1),
            "token": step.alternative_pieces,
            "token_id": step.alternative_ids,
            "probability": step.alternative_probs,
            "generated": step.alternative_ids == step.token_id,
        }
    )


def token_probability_figure(result: GenerationResult) -> go.Figure:
    """Each generated token's probability; a dot marks the most likely token's, where the two differ."""
    steps = result.steps
    labels = [f"{step.index + 1}·{plotly_safe(step.piece)}" for step in steps]
    best = [float(step.alternative_probs[0]) for step in steps]
    fig = go.Figure()
    fig.add_bar(
        x=labels,
        y=[step.probability for step in steps],
        name="generated token",
        marker_color=CHOSEN_COLOUR,
        customdata=[[percent(step.probability), plotly_safe(step.alternative_pieces[0])] for step in steps],
        hovertemplate="%{x}: %{customdata[0]}<br>most likely: %{customdata[1]}<extra></extra>",
    )
    fig.add_scatter(
        x=labels,
        y=best,
        mode="markers",
        name="most likely token",
        marker={"color": PROBABILITY_COLOUR, "size": 9, "symbol": "diamond"},
        hoverinfo="skip",
    )
    # No legend: at the top it would sit under the tool bar; the axis title says what is what.
    fig.update_layout(
        title="Each token's probability",
        yaxis={"title": "probability", "tickformat": ".0%", "range": [0, 1.05]},
        xaxis={"type": "category", "tickangle": -45, "title": "bar: generated token · ◆: the most likely token"},
        showlegend=False,
        height=380,
    )
    return fig


def token_probability_table(result: GenerationResult) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "step": [step.index + 1 for step in result.steps],
            "token": [step.piece for step in result.steps],
            "token_id": [step.token_id for step in result.steps],
            "probability": [step.probability for step in result.steps],
            "probability_after_settings": [step.filtered_probability for step in result.steps],
            "most_likely_token": [step.alternative_pieces[0] for step in result.steps],
            "most_likely_probability": [float(step.alternative_probs[0]) for step in result.steps],
            "seconds_since_start": [step.elapsed_s for step in result.steps],
        }
    )


def chip_titles(result_steps) -> list[str]:
    """Hover text of each generated-token chip: its probability and the top alternatives."""
    titles = []
    for step in result_steps:
        best = ", ".join(
            f"{visible_token(piece)} {prob:.0%}"
            for piece, prob in zip(step.alternative_pieces[:5], step.alternative_probs[:5])
        )
        titles.append(f"step {step.index + 1}: p = {step.probability:.1%}; top: {best}")
    return titles


def shot_curve_figure(curve: ShotCurve, labelled: LabelledSet) -> go.Figure:
    fig = go.Figure()
    # ±1 standard error over the items: a curve whose bars overlap from k to k has not clearly moved.
    fig.add_scatter(
        x=curve.ks.tolist(),
        y=curve.accuracy,
        mode="lines+markers",
        name="accuracy (greedy answer right)",
        line={"color": ACCURACY_COLOUR, "width": 3},
        error_y={"type": "data", "array": curve.accuracy_error, "color": ACCURACY_COLOUR, "thickness": 1.5},
        customdata=curve.accuracy_error,
        hovertemplate="k = %{x}: %{y:.0%} ± %{customdata:.0%}<extra>accuracy</extra>",
    )
    fig.add_scatter(
        x=curve.ks.tolist(),
        y=curve.mean_probability,
        mode="lines+markers",
        name="mean P(right answer)",
        line={"color": PROBABILITY_COLOUR, "width": 3, "dash": "dash"},
        error_y={"type": "data", "array": curve.probability_error, "color": PROBABILITY_COLOUR, "thickness": 1.5},
        customdata=curve.probability_error,
        hovertemplate="k = %{x}: %{y:.1%} ± %{customdata:.1%}<extra>mean probability</extra>",
    )
    fig.update_layout(
        title=f"In-context learning: {labelled.title}",  # a shipped title, not user text
        xaxis={"title": "k, examples in the prompt (no gradient updates)", "dtick": 1},
        yaxis={"title": "accuracy / probability", "tickformat": ".0%", "range": [0, 1.05]},
        legend={"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0, "xanchor": "left"},
        height=460,
    )
    return fig


def shot_curve_table(curve: ShotCurve, labelled: LabelledSet) -> pd.DataFrame:
    """One row per (k, item): the item's P(right answer), with the curve's points repeated for each k."""
    rows = []
    for point, k in enumerate(curve.ks):
        for item, probability, right in zip(labelled.items, curve.item_probabilities[point], curve.item_correct[point]):
            rows.append(
                {
                    "k": int(k),
                    "input": item.input,
                    "answer": item.output,
                    "right": bool(right),
                    "probability_of_answer": float(probability),
                    "accuracy_at_k": float(curve.accuracy[point]),
                    "accuracy_standard_error_at_k": float(curve.accuracy_error[point]),
                    "mean_probability_at_k": float(curve.mean_probability[point]),
                    "mean_probability_standard_error_at_k": float(curve.probability_error[point]),
                }
            )
    return pd.DataFrame(rows)
