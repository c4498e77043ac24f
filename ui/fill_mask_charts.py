"""Plotly figures (and their data tables) for the fill-mask page. No Streamlit here.

Tokens are WordPiece pieces ("##ing" continues the word before it) and may come from user
text: every one goes through `plotly_safe` before it reaches a tick label or hover text.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from models.fill_mask import (
    MLM_ACTIONS,
    MLM_MASK_SHARE,
    MLM_RANDOM_SHARE,
    FillResult,
    MaskComparison,
    MaskPrediction,
    MlmCorruption,
    MlmPredictions,
    MlmTally,
)
from ui.text import plotly_label, plotly_safe
from ui import palette

PROBABILITY_COLOUR = palette.BLUE
LEFT_TO_RIGHT_COLOUR = palette.ORANGE
ACTION_COLOURS = {"mask": palette.BLUE, "random": palette.ORANGE, "keep": palette.GREY}
ACTION_WORDS = {"mask": "→ [MASK] (80%)", "random": "→ random token (10%)", "keep": "kept as it is (10%)"}
PROBE_COLOURS = (palette.BLUE, palette.ORANGE)
BAR_HEIGHT = 36


def _height(bars: int) -> int:
    return 90 + BAR_HEIGHT * bars


def _probability_ticks(top: float) -> str:
    """A tick format with enough digits for the largest probability shown (random weights give ~3e-5)."""
    if top >= 0.05:
        return ".0%"
    if top >= 0.005:
        return ".1%"
    return ".1e"


# ---------------------------------------------------------------------------------------
# Top-k at one mask


def prediction_table(prediction: MaskPrediction, mask_number: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mask": mask_number,
            "rank": np.arange(1, len(prediction.token_ids) + 1),
            "wordpiece": prediction.pieces,
            "text": prediction.words,
            "token id": prediction.token_ids,
            "probability": prediction.probs,
        }
    )


def prediction_figure(prediction: MaskPrediction, title: str, x_max: float | None = None) -> go.Figure:
    """Horizontal bars, most probable on top, labelled with the WordPiece piece and its probability."""
    ticks = [plotly_safe(piece) for piece in prediction.pieces]
    figure = go.Figure(
        go.Bar(
            x=prediction.probs,
            y=ticks,
            orientation="h",
            marker_color=PROBABILITY_COLOUR,
            text=[_percent(p) for p in prediction.probs],
            textposition="outside",
            cliponaxis=False,
            customdata=np.stack([prediction.token_ids, np.arange(1, len(ticks) + 1)], axis=1),
            hovertemplate="%{y}<br>p = %{x:.4f}<br>token id %{customdata[0]}, rank %{customdata[1]}<extra></extra>",
        )
    )
    top = x_max if x_max is not None else float(prediction.probs.max())
    figure.update_layout(
        title=title,
        height=_height(len(ticks)),
        xaxis={"title": "probability", "range": [0, top * 1.25], "tickformat": _probability_ticks(top)},
        yaxis={"autorange": "reversed", "type": "category"},
        showlegend=False,
    )
    return figure


def _percent(p: float) -> str:
    return f"{p:.1%}" if p >= 0.001 else f"{p:.2e}"


# ---------------------------------------------------------------------------------------
# Several masks: independent against left to right


def strategies_table(independent: FillResult, left_to_right: FillResult) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mask": np.arange(1, len(independent.predictions) + 1),
            "independent: top-1": [p.pieces[0] for p in independent.predictions],
            "independent: probability": [p.probs[0] for p in independent.predictions],
            "left to right: top-1": [p.pieces[0] for p in left_to_right.predictions],
            "left to right: probability": [p.probs[0] for p in left_to_right.predictions],
        }
    )


def strategies_figure(independent: FillResult, left_to_right: FillResult) -> go.Figure:
    """Per mask, the top-1 probability of each strategy, bars labelled with the word chosen."""
    masks = [f"mask {number}" for number in range(1, len(independent.predictions) + 1)]
    figure = go.Figure()
    for name, result, colour in (
        ("independent (one pass)", independent, PROBABILITY_COLOUR),
        ("left to right", left_to_right, LEFT_TO_RIGHT_COLOUR),
    ):
        pieces = [plotly_safe(p.pieces[0]) for p in result.predictions]
        figure.add_bar(
            name=name,
            x=[float(p.probs[0]) for p in result.predictions],
            y=masks,
            orientation="h",
            marker_color=colour,
            text=pieces,
            textposition="outside",
            cliponaxis=False,
            customdata=pieces,
            hovertemplate=f"{name}<br>%{{y}}: %{{customdata}}<br>p = %{{x:.4f}}<extra></extra>",
        )
    top = max(float(p.probs[0]) for r in (independent, left_to_right) for p in r.predictions)
    figure.update_layout(
        title="Top-1 at each mask",
        barmode="group",
        height=_height(2 * len(masks)) + 40,
        # No axis title (the legend below would collide with it on a phone): hover text names the probability.
        xaxis={"range": [0, top * 1.4], "tickformat": _probability_ticks(top)},
        yaxis={"autorange": "reversed", "type": "category"},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2},
    )
    return figure


# ---------------------------------------------------------------------------------------
# Bias probe: two sentences over the same words


def comparison_table(comparison: MaskComparison, labels: tuple[str, ...]) -> pd.DataFrame:
    table = pd.DataFrame({"wordpiece": comparison.pieces, "token id": comparison.token_ids})
    for label, probs in zip(labels, comparison.probs):
        table[f"p | {label}"] = probs
    return table


def comparison_figure(comparison: MaskComparison, labels: tuple[str, ...]) -> go.Figure:
    """Grouped horizontal bars: each word's probability after each sentence."""
    ticks = [plotly_safe(piece) for piece in comparison.pieces]
    figure = go.Figure()
    for label, probs, colour in zip(labels, comparison.probs, PROBE_COLOURS):
        figure.add_bar(
            name=plotly_label(label),  # a sentence: escaped, but its spaces stay spaces
            x=probs,
            y=ticks,
            orientation="h",
            marker_color=colour,
            hovertemplate="%{y}: p = %{x:.4f}<extra>%{fullData.name}</extra>",
        )
    figure.update_layout(
        title="The same words, after each sentence: p at the mask",
        barmode="group",
        height=120 + 22 * len(comparison.probs) * len(ticks),
        xaxis={"tickformat": _probability_ticks(float(comparison.probs.max()))},
        yaxis={"autorange": "reversed", "type": "category"},
        legend={"orientation": "h", "yanchor": "top", "y": -0.15},
    )
    return figure


# ---------------------------------------------------------------------------------------
# MLM training view


def mlm_table(corruption: MlmCorruption, step: MlmPredictions) -> pd.DataFrame:
    """One row per selected position: what the rule did there, what the model guessed, the loss."""
    rows = []
    for position, target_prob, loss, top in zip(step.positions, step.target_probs, step.losses, step.top):
        rows.append(
            {
                "position": int(position),
                "original": corruption.original_pieces[position],
                "rule": corruption.actions[position],
                "model input": corruption.corrupted_pieces[position],
                "top prediction": top.pieces[0],
                "p(top)": float(top.probs[0]),
                "p(original)": float(target_prob),
                "loss = −log p(original)": float(loss),
            }
        )
    return pd.DataFrame(rows)


def mlm_loss_figure(corruption: MlmCorruption, step: MlmPredictions, vocab_size: int) -> go.Figure:
    """Cross-entropy at each selected position, coloured by what the 80/10/10 rule did there."""
    figure = go.Figure()
    labels = [f"{int(p)}: {plotly_safe(corruption.original_pieces[p])}" for p in step.positions]
    actions = [corruption.actions[p] for p in step.positions]
    for action in MLM_ACTIONS:
        rows = [i for i, a in enumerate(actions) if a == action]
        if not rows:
            continue
        figure.add_bar(
            name=ACTION_WORDS[action],
            x=[labels[i] for i in rows],
            y=[float(step.losses[i]) for i in rows],
            marker_color=ACTION_COLOURS[action],
            customdata=[[float(step.target_probs[i]), plotly_safe(step.top[i].pieces[0])] for i in rows],
            hovertemplate=(
                "%{x}<br>loss %{y:.2f}<br>p(original) = %{customdata[0]:.4f}"
                "<br>model's top guess: %{customdata[1]}<extra></extra>"
            ),
        )
    uniform = math.log(vocab_size)
    top = max(uniform, float(step.losses.max()))
    figure.add_hline(
        y=step.loss,
        line_dash="solid",
        line_color="#111",
        annotation_text=f"MLM loss (mean) = {step.loss:.2f}",
        annotation_position="top left",
    )
    figure.add_hline(
        y=uniform,
        line_dash="dot",
        line_color="#888",
        annotation_text=f"uniform guess: ln {vocab_size:,} = {uniform:.2f}",
        annotation_position="bottom right",
    )
    figure.update_layout(
        title="Loss at the selected positions only",
        height=400,
        barmode="relative",  # one bar per position: each trace holds one action
        xaxis={
            "title": "selected position: original token",
            "type": "category",
            "categoryorder": "array",
            "categoryarray": labels,
        },
        yaxis={"title": "cross-entropy (nats)", "range": [0, top * 1.2]},
        legend={"orientation": "h", "yanchor": "top", "y": -0.3},
    )
    return figure


MLM_RULE_SHARES = {"mask": MLM_MASK_SHARE, "random": MLM_RANDOM_SHARE, "keep": 1.0 - MLM_MASK_SHARE - MLM_RANDOM_SHARE}


def mlm_tally_figure(tally: MlmTally) -> go.Figure:
    """Running shares of masked / random / kept among the picked tokens, after each draw, against the rule."""
    figure = go.Figure()
    shares = tally.running_shares
    for column, action in enumerate(MLM_ACTIONS):
        colour = ACTION_COLOURS[action]
        figure.add_scatter(
            x=tally.draws,
            y=shares[:, column],
            mode="lines",
            name=ACTION_WORDS[action],
            line={"color": colour, "width": 2.5},
            hovertemplate="after %{x} draws: %{y:.1%}<extra>" + action + "</extra>",
        )
        figure.add_hline(y=MLM_RULE_SHARES[action], line_dash="dot", line_color=colour)
    figure.update_layout(
        title=f"The rule over {len(tally.counts):,} draws: shares of the picked tokens (dotted: 80 / 10 / 10)",
        height=400,
        xaxis={"title": "draws (seeds 0, 1, 2, …)", "type": "log"},
        yaxis={"title": "share of the picked tokens so far", "tickformat": ".0%", "range": [0, 1]},
        legend={"orientation": "h", "yanchor": "top", "y": -0.25},
    )
    return figure


def mlm_tally_table(tally: MlmTally) -> pd.DataFrame:
    shares = tally.running_shares
    table = pd.DataFrame({"draw": tally.draws})
    for column, action in enumerate(MLM_ACTIONS):
        table[f"{action} (this draw)"] = tally.counts[:, column]
        table[f"{action} share so far"] = shares[:, column]
    return table
