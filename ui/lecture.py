"""Lecture mode: large type, high contrast and fewer controls, for a projector.

The toggle lives in the shared sidebar (app.py); pages ask `lecture_mode()` and put
their secondary controls in `more_controls()`, which folds them away in lecture mode.
"""

from __future__ import annotations

import streamlit as st

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
</style>
"""
_LECTURE_COLOURS = {
    "light": {"BACKGROUND": "#ffffff", "INK": "#000000", "SIDEBAR": "#f0f0f0"},
    "dark": {"BACKGROUND": "#000000", "INK": "#ffffff", "SIDEBAR": "#1a1a1a"},
}

LECTURE_FONT_SIZE = 20
NORMAL_FONT_SIZE = 14


def lecture_mode() -> bool:
    return bool(st.session_state.get(LECTURE_KEY, False))


def theme_type() -> str:
    """ "dark" or "light": the theme the browser shows (its system preference, or the one picked in ⋮ → Settings)."""
    try:
        return "dark" if st.context.theme.type == "dark" else "light"
    except Exception:  # no browser behind this run (AppTest, a script)
        return "light"


def apply_lecture_style() -> None:
    """Inject the lecture-mode stylesheet (constants only: no user text ever reaches it)."""
    if lecture_mode():
        css = _LECTURE_CSS
        for name, colour in _LECTURE_COLOURS[theme_type()].items():
            css = css.replace(name, colour)
        st.markdown(css, unsafe_allow_html=True)


def page_lead(title: str, lead: str) -> None:
    """A page's title and its short explanation; in lecture mode the explanation is folded, so the demo itself
    starts on the projector's first screen."""
    st.title(title)
    if lecture_mode():
        with st.expander("About this demo", icon="ℹ️"):
            st.markdown(lead)
    else:
        st.markdown(lead)


def more_controls(label: str = "More controls"):
    """A container for secondary controls: folded away in lecture mode, open otherwise."""
    return st.expander(label, expanded=not lecture_mode())


def chart_font_size() -> int:
    return LECTURE_FONT_SIZE if lecture_mode() else NORMAL_FONT_SIZE
