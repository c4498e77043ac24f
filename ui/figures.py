"""Showing plotly figures the same way everywhere: lecture-mode type, PNG and CSV export."""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Callable, Hashable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from ui import palette
from ui.lecture import chart_font_size, lecture_mode, main_chart_height, on_phone, theme_type, tick_font_size


def plotly_config(name: str) -> dict:
    """Always show the tool bar, whose camera button saves the chart as a PNG at 2× scale."""
    return {
        "displaylogo": False,
        "displayModeBar": True,
        "toImageButtonOptions": {"format": "png", "filename": safe_filename(name), "scale": 2},
    }


def safe_filename(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:80] or "chart"


MAIN_CHART_KEY = "main-chart"
DEFAULT_TOP_MARGIN = 50  # px; the charts' heights were chosen with this much room above the plot
MODEBAR_ROOM = 44  # px at the top of a chart that the plotly tool bar takes, with a gap below it


def style_figure(fig: go.Figure) -> go.Figure:
    """Lecture-mode type, and the theme's template and plot surface, set on every draw: a figure kept between runs
    (figure_once) follows a theme switch too."""
    fig.update_layout(font={"size": chart_font_size()}, margin={"l": 10, "r": 10, "t": DEFAULT_TOP_MARGIN, "b": 10})
    meta = dict(fig.layout.meta) if isinstance(fig.layout.meta, dict) else {}
    drawn_height = meta.setdefault("drawn_height", fig.layout.height)  # as built, before any band was added
    title = fig.layout.title.text
    if title:
        # The tool bar stays on top of the chart; the title goes in a band under it, never beneath its icons. The
        # chart grows by the band, so its plot keeps the room it was built with.
        lines = title.count("<br>") + 1
        top = MODEBAR_ROOM + int(lines * 1.5 * chart_font_size()) + 12
        fig.update_layout(
            title={"yref": "container", "y": 1, "yanchor": "top", "pad": {"t": MODEBAR_ROOM}},
            margin={"t": top},
            height=drawn_height + max(0, top - DEFAULT_TOP_MARGIN) if drawn_height else None,
        )
    fig.update_layout(meta=meta)
    if meta.get("square"):
        # Square cells read as a matrix; on a phone they would shrink the chart to a stamp and drop every other
        # label, so there the rows take the chart's height instead.
        fig.layout.yaxis.scaleanchor = None if on_phone() else "x"
        fig.layout.yaxis.constrain = None if on_phone() else "domain"
    # Streamlit's chart theme sizes tick labels at 0.75 of the page's type, under 16 px even in lecture mode.
    fig.update_xaxes(tickfont={"size": tick_font_size()})
    fig.update_yaxes(tickfont={"size": tick_font_size()})
    theme = theme_type()
    surface = meta.get("surface", "plain")
    # A near-black curve would vanish on the dark surface: it turns near-white there (and back on a light one).
    ink = palette.INK_ON_DARK if theme == "dark" else palette.INK
    for trace in fig.data:
        for part in ("line", "marker"):
            holder = getattr(trace, part, None)
            colour = getattr(holder, "color", None) if holder is not None else None
            if isinstance(colour, str) and colour in (palette.INK, palette.INK_ON_DARK):
                holder.color = ink
    # Streamlit's own template follows the theme in the browser (fonts, grid lines); lecture mode on a light
    # theme takes plotly's plainest one, black on white.
    template = "simple_white" if lecture_mode() and theme == "light" else "streamlit"
    fig.update_layout(
        template=template,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor=palette.SURFACES[theme][surface],
        modebar={"bgcolor": "rgba(0,0,0,0)"},  # the template's grey toolbar band sat on the chart's title
    )
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


def show_figure(
    fig: go.Figure,
    *,
    name: str,
    table: pd.DataFrame | None = None,
    key: str | None = None,
    clickable: bool = False,
    main: bool = False,
    room: int | None = None,
) -> None:
    """Draw `fig` full width; offer its data as CSV when `table` is given. A `clickable` figure reruns the page
    when a point is clicked: read the click with `clicked_point(key)` before drawing the widgets it sets.
    A page's `main` chart is kept short enough in lecture mode to fit on the projector's first screen (within
    `room` pixels, when what sits above it leaves less than most pages have)."""
    selection = {"on_select": "rerun", "selection_mode": "points"} if clickable else {}
    fig = style_figure(fig)
    height = main_chart_height(fig.layout.height, room) if main else None
    # The main chart's box is named (class st-key-main-chart): the layout checks in the browser find it by that.
    with st.container(key=MAIN_CHART_KEY) if main else st.container():
        st.plotly_chart(
            fig,
            config=plotly_config(name),
            width="stretch",
            height=height or "content",
            key=key,
            **selection,
        )
    if table is not None:
        st.download_button(
            "Download data (CSV)",
            table.to_csv(index=False).encode("utf-8"),
            file_name=f"{safe_filename(name)}.csv",
            mime="text/csv",
            key=f"csv__{key or safe_filename(name)}",
            icon="⬇️",
        )


def clicked_point(key: str) -> tuple[bool, list | None]:
    """(changed, customdata) of the clickable figure `key`: whether a click changed its selection since the last
    run, and the point now selected (None when the click cleared it, as a second click on a point does).

    A selection stays in the figure's state until the next click, so each click is reported once: moving a
    slider afterwards must not be undone by the same old click.
    """
    event = st.session_state.get(key)
    points = list(event.selection.points) if event else []
    seen_key = f"ll__clicked__{key}"
    seen = repr(points)
    changed = key in st.session_state and st.session_state.get(seen_key, "[]") != seen
    st.session_state[seen_key] = seen
    return changed, (points[0].get("customdata") if points else None)
