"""Plotly figures and tables for the fine-tuning lab, built from models.finetune results. No Streamlit here."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from models.finetune import STRATEGY_NAMES, EpochRecord, FinetuneResult, Strategy
from ui import palette

STRATEGY_COLOURS = {
    "scratch": palette.GREY,
    "probe": palette.BLUE,
    "top": palette.GREEN,
    "full": palette.ORANGE,
    "lora": palette.PURPLE,
}
CHANCE = 0.5  # two balanced classes


def _layout(fig: go.Figure, title: str) -> go.Figure:
    """The lab's charts: one height, the legend under the plot."""
    fig.update_layout(
        title=title,
        height=440,
        legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom"},
        margin={"b": 110},
    )
    return fig


def _chance_line(fig: go.Figure, low: float, high: float) -> None:
    """Chance accuracy from x = low to high, named in the legend: a label in the plot sat on the curves near 50 %."""
    fig.add_trace(
        go.Scatter(
            x=[low, high],
            y=[CHANCE, CHANCE],
            mode="lines",
            name="chance (50 %)",
            line={"color": palette.LIGHT_GREY, "dash": "dot"},
            hoverinfo="skip",
        )
    )


def curves_figure(records: list[EpochRecord] | tuple[EpochRecord, ...], epochs: int) -> go.Figure:
    """Test accuracy (solid) and training accuracy (dotted) after each epoch, one colour per strategy."""
    fig = go.Figure()
    for strategy in STRATEGY_NAMES:
        mine = [record for record in records if record.strategy == strategy]
        if not mine:
            continue
        colour = STRATEGY_COLOURS[strategy]
        epochs_seen = [record.epoch for record in mine]
        fig.add_trace(
            go.Scatter(
                x=epochs_seen,
                y=[r.test_accuracy for r in mine],
                name=f"{STRATEGY_NAMES[strategy]}: test",
                mode="lines+markers",
                line={"color": colour, "width": 3},
                legendgroup=strategy,
                hovertemplate="epoch %{x}: %{y:.0%}<extra>test</extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=epochs_seen,
                y=[r.train_accuracy for r in mine],
                name="train",
                showlegend=False,
                mode="lines",
                line={"color": colour, "width": 1.5, "dash": "dot"},
                legendgroup=strategy,
                hovertemplate="epoch %{x}: %{y:.0%}<extra>train</extra>",
            )
        )
    _chance_line(fig, 0.8, max(epochs, 1) + 0.2)
    fig.update_xaxes(title_text="epoch", range=[0.8, max(epochs, 1) + 0.2], dtick=1 if epochs <= 15 else 5)
    fig.update_yaxes(title_text="accuracy", range=[0, 1.02], tickformat=".0%")
    return _layout(fig, "Accuracy after each epoch (solid: test, dotted: training examples)")


def share_text(share: float) -> str:
    """ "100 %", "15.6 %", "0.33 %", "0.0034 %": enough digits that a linear head's tiny share is not shown as 0."""
    if share >= 0.1:
        return f"{share:.1%}"
    if share >= 0.001:
        return f"{share:.2%}"
    return f"{share:.4%}"


def results_table(result: FinetuneResult) -> pd.DataFrame:
    rows = []
    for item in result.results:
        forgetting = item.forgetting
        rows.append(
            {
                "strategy": STRATEGY_NAMES[item.strategy],
                "trainable parameters": item.trainable_params,
                "share trained": share_text(item.trainable_params / item.total_params),
                "test accuracy": item.test_accuracy if item.history else None,
                "paraphrases found, before → after": (
                    f"{forgetting.retrieval_before:.0%} → {forgetting.retrieval_after:.0%}" if forgetting else "–"
                ),
                "drift of sentence vectors": forgetting.drift if forgetting else None,
                "seconds": item.seconds,
            }
        )
    return pd.DataFrame(rows)


def accuracy_by_examples_figure(points: dict[Strategy, list[tuple[int, float]]]) -> go.Figure:
    """Test accuracy against labelled examples per class (log axis), one line per strategy."""
    fig = go.Figure()
    for strategy, pairs in points.items():
        if not pairs:
            continue
        pairs = sorted(pairs)
        fig.add_trace(
            go.Scatter(
                x=[k for k, _ in pairs],
                y=[a for _, a in pairs],
                name=STRATEGY_NAMES[strategy],
                mode="lines+markers",
                line={"color": STRATEGY_COLOURS[strategy], "width": 3},
                hovertemplate="%{x} per class: %{y:.0%}<extra>" + STRATEGY_NAMES[strategy] + "</extra>",
            )
        )
    sizes = sorted({k for pairs in points.values() for k, _ in pairs} | {4, 64})
    _chance_line(fig, sizes[0], sizes[-1])
    fig.update_xaxes(
        title_text="labelled examples per class (log scale)",
        type="log",
        tickvals=sizes,
        ticktext=[str(k) for k in sizes],
        range=[0.5, 1.9],
    )
    fig.update_yaxes(title_text="test accuracy", range=[0.3, 1.02], tickformat=".0%")
    return _layout(fig, "Few labelled examples: what pre-training buys")


def sweep_table(points: dict[Strategy, list[tuple[int, float]]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"strategy": STRATEGY_NAMES[s], "per class": k, "test accuracy": a}
            for s, pairs in points.items()
            for k, a in sorted(pairs)
        ]
    )
