"""style_figure, which every chart passes through on every draw (cached figures too): the title band under the tool
bar adds to the height once, and a near-black curve follows the theme while per-point colours stay as built."""

from __future__ import annotations

import plotly.graph_objects as go

from ui import figures, palette


def test_the_title_band_and_the_theme_ink_are_applied_once_per_draw(monkeypatch):
    monkeypatch.setattr(figures, "theme_type", lambda: "dark")
    fig = go.Figure(
        [
            go.Scatter(x=[1, 2], y=[1, 2], line={"color": palette.INK}),
            go.Bar(x=[1, 2], y=[1, 2], marker={"color": [palette.INK, palette.BLUE]}),
            go.Heatmap(z=[[1, 2], [3, 4]]),
        ]
    )
    fig.update_layout(title="A title", height=300)
    for _ in range(3):  # a figure kept between runs is styled again on each
        figures.style_figure(fig)
    assert fig.data[0].line.color == palette.INK_ON_DARK
    assert list(fig.data[1].marker.color) == [palette.INK, palette.BLUE]
    # The title sits below the tool bar, and the plot keeps the height it was built with (300 less the default
    # margins), however often the figure is styled.
    assert fig.layout.margin.t > figures.MODEBAR_ROOM
    plot = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    assert plot == 300 - 50 - 10
    monkeypatch.setattr(figures, "theme_type", lambda: "light")
    figures.style_figure(fig)
    assert fig.data[0].line.color == palette.INK


def test_a_figure_without_a_title_keeps_its_height():
    fig = go.Figure(go.Scatter(x=[1], y=[1]))
    fig.update_layout(height=250)
    figures.style_figure(fig)
    assert fig.layout.height == 250 and fig.layout.margin.t == figures.DEFAULT_TOP_MARGIN
