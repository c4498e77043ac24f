"""The app's colours, in one place: every chart draws with these names, so a colour means the same on every page
(blue: the model's answer or the main series; orange: the contrasting one; grey: references and what is left out).

Each reads on white and on Streamlit's dark background. Plot surfaces follow the theme (ui/figures.py).
"""

from __future__ import annotations

BLUE = "#1f4e9c"  # the main series: the model's probabilities, bias², the chosen token
ORANGE = "#c2410c"  # the contrasting series: variance, left to right, the picked token
GREEN = "#15803d"  # training data and training error
PURPLE = "#7c3aed"  # test error, the fitted curve
RED = "#d62728"  # a marker that points at something: the selected head, the interpolation threshold
GREY = "#6b7280"  # noise, "keep", from scratch
LIGHT_GREY = "#9ca3af"  # references: chance, faint curves, tokens not picked
INK = "#111827"  # text drawn inside a chart on a light surface, and the sum of the other curves
INK_ON_DARK = "#f3f4f6"  # INK's curves on a dark surface (ui/figures.py swaps them with the theme)

# Many series at once (curves over seeds, heads of a layer): plotly's own ten, which users know.
SERIES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")

# Plot surfaces by theme. "masked" sits behind heatmaps whose blank cells mean "not allowed" (a causal mask):
# it must differ from the colour scale's zero, which is white.
SURFACES = {
    "light": {"plain": "#ffffff", "masked": "#f4f4f4"},
    "dark": {"plain": "#0e1117", "masked": "#262730"},
}
