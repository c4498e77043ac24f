"""Lecture mode, the presenter's view: large type, high contrast, the demo on the projector's first screen.

The toggle lives in the shared sidebar (app.py). Every page follows one shape, built from these pieces:
`page_lead` (title and a short lead, folded in lecture mode), `demo_columns` (the inputs that matter beside
the main chart, so both fit on a 1280 × 720 screen; one after the other on a phone), `more_controls` (secondary controls, folded in lecture mode) and `how_it_works` (the explanation,
below the demo and folded).
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

LECTURE_KEY = "lecture_mode"

# Large type, and the theme's own colours pushed to full contrast (black on white, or white on black).
_LECTURE_CSS = """
<style>
html, body, .stApp { font-size: 21px; }
.stApp { background: BACKGROUND; color: INK; }
.stMarkdown p, .stMarkdown li, label, .stText,
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p,
[data-testid="stPageLink"] p, [data-testid="stSidebarNav"] span {
  font-size: 1.15rem !important; color: INK !important;
}
h1 { font-size: 2.8rem !important; }
h2 { font-size: 2.1rem !important; }
h3 { font-size: 1.7rem !important; }
[data-testid="stSidebar"] { background: SIDEBAR; }
/* The projector's first screen is the demo: no blank band above the title, and the page's full width. */
[data-testid="stHeader"] { background: transparent; }
[data-testid="stMainBlockContainer"] {
  padding-top: 0.6rem !important; padding-left: 2.6rem !important; padding-right: 2.6rem !important;
}
h1 { font-size: 1.8rem !important; padding: 0.2rem 0 !important; }
</style>
"""
_LECTURE_COLOURS = {
    "light": {"BACKGROUND": "#ffffff", "INK": "#000000", "SIDEBAR": "#f0f0f0"},
    "dark": {"BACKGROUND": "#000000", "INK": "#ffffff", "SIDEBAR": "#1a1a1a"},
}

LECTURE_FONT_SIZE = 20
NORMAL_FONT_SIZE = 14
LECTURE_TICK_FONT_SIZE = 18  # a projector's back row reads tick labels from 16 px up
NORMAL_TICK_FONT_SIZE = 12


def lecture_mode() -> bool:
    return bool(st.session_state.get(LECTURE_KEY, False))


def on_phone() -> bool:
    """Whether the browser says it is a phone (the "Mobi" its user agent carries, as MDN advises to test)."""
    try:
        return "Mobi" in (st.context.headers.get("User-Agent") or "")
    except Exception:  # no browser behind this run (AppTest, a script)
        return False


def theme_type() -> str:
    """ "dark" or "light": the theme the browser shows (its system preference, or the one picked in ⋮ → Settings)."""
    try:
        return "dark" if st.context.theme.type == "dark" else "light"
    except Exception:  # no browser behind this run (AppTest, a script)
        return "light"


# Every page, every mode: a row of segmented-control or pill buttons wraps onto a second line on a narrow screen,
# rather than scrolling sideways with its last options out of sight; a phone's title takes two lines, not four.
_PAGE_CSS = """
<style>
[data-testid="stButtonGroup"] > div { flex-wrap: wrap !important; overflow-x: visible !important; row-gap: 0.3rem; }
@media (max-width: 640px) { h1 { font-size: 1.9rem !important; } }
</style>
"""


def apply_lecture_style() -> None:
    """Inject the page's stylesheet, and lecture mode's (constants only: no user text ever reaches them)."""
    st.markdown(_PAGE_CSS, unsafe_allow_html=True)
    if lecture_mode():
        css = _LECTURE_CSS
        for name, colour in _LECTURE_COLOURS[theme_type()].items():
            css = css.replace(name, colour)
        st.markdown(css, unsafe_allow_html=True)


def page_lead(title: str, lead: str) -> None:
    """A page's title and its short lead; in lecture mode the lead is folded beside the title, so the demo itself
    starts on the projector's first screen."""
    if lecture_mode():
        title_column, about_column = st.columns([4, 1], vertical_alignment="center")
        title_column.title(title)
        with about_column.popover("About this demo", icon="ℹ️", width="stretch"):
            st.markdown(lead)
    else:
        st.title(title)
        st.markdown(lead)


# The inputs take this share of the width, the main chart the rest.
DEMO_COLUMNS = (2, 3)


def demo_columns() -> tuple[DeltaGenerator, DeltaGenerator]:
    """(inputs, main): the inputs that matter beside the main chart (or the main button), so both are on the first
    screen at 1280 × 720, on a projector too. A phone stacks them: the inputs first, the chart right below."""
    inputs, main = st.columns(DEMO_COLUMNS, gap="medium")
    return inputs, main


def how_it_works(label: str = "How it works"):
    """The explanation below the demo: folded in lecture mode (the lecturer says it), open otherwise."""
    return st.expander(label, icon="📖", expanded=not lecture_mode())


def more_controls(label: str = "More controls"):
    """A container for secondary controls: folded away in lecture mode, open otherwise."""
    return st.expander(label, expanded=not lecture_mode())


def chart_font_size() -> int:
    return LECTURE_FONT_SIZE if lecture_mode() else NORMAL_FONT_SIZE


def tick_font_size() -> int:
    return LECTURE_TICK_FONT_SIZE if lecture_mode() else NORMAL_TICK_FONT_SIZE


# The tallest a page's main chart may be in lecture mode: it must fit on a 1280 × 720 screen beside the inputs.
PRESENTER_CHART_HEIGHT = 590


def main_chart_height(height: int | None, room: int | None = None) -> int | None:
    """The height to draw a page's main chart at: its own, capped in lecture mode to fit the projector's screen."""
    if not lecture_mode():
        return height
    most = min(room or PRESENTER_CHART_HEIGHT, PRESENTER_CHART_HEIGHT)
    return min(height or most, most)
