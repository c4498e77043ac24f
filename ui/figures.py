"""Showing plotly figures the same way everywhere: lecture-mode type, PNG and CSV export."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Callable, Hashable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui.lecture import chart_font_size, lecture_mode


def plotly_config(name: str) -> dict:
    """Always show the tool bar, whose camera button saves the chart as a PNG at 2× scale."""
    return {
        "displaylogo": False,
        "displayModeBar": True,
        "toImageButtonOptions": {"format": "png", "filename": safe_filename(name), "scale": 2},
    }


def safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:80] or "chart"


def style_figure(fig: go.Figure) -> go.Figure:
    fig.update_layout(font={"size": chart_font_size()}, margin={"l": 10, "r": 10, "t": 50, "b": 10})
    if lecture_mode():
        fig.update_layout(template="simple_white")
    return fig


# Figures each session keeps built (the last few results' ones); each is well under a megabyte.
FIGURES_KEPT = 8


def figure_once(key: Hashable, build: Callable[[], go.Figure]) -> go.Figure:
    """The figure for `key` (a result's fingerprint and the chart's name), built on the first call only.

    A page reruns on every click; rebuilding the same plotly figure each time was a good part of the
    server's work per request when a class uses the app at once.
    """
    memo: OrderedDict = st.session_state.setdefault("ll__figures", OrderedDict())
    if key in memo:
        memo.move_to_end(key)
        return memo[key]
    memo[key] = figure = build()
    while len(memo) > FIGURES_KEPT:
        memo.popitem(last=False)
    return figure


def show_figure(fig: go.Figure, *, name: str, table: pd.DataFrame | None = None, key: str | None = None) -> None:
    """Draw `fig` full width; offer its data as CSV when `table` is given."""
    st.plotly_chart(style_figure(fig), config=plotly_config(name), width="stretch", key=key)
    if table is not None:
        st.download_button(
            "Download data (CSV)",
            table.to_csv(index=False).encode("utf-8"),
            file_name=f"{safe_filename(name)}.csv",
            mime="text/csv",
            key=f"csv__{key or safe_filename(name)}",
            icon="⬇️",
        )
