"""Lecture mode: large type, high contrast and fewer controls, for a projector.

The toggle lives in the shared sidebar (app.py); pages ask `lecture_mode()` and put
their secondary controls in `more_controls()`, which folds them away in lecture mode.
"""

from __future__ import annotations

import streamlit as st

LECTURE_KEY = "lecture_mode"

_LECTURE_CSS = """
<style>
html, body, .stApp { font-size: 21px; }
.stApp { background: #ffffff; color: #000000; }
.stMarkdown p, .stMarkdown li, label, .stText,
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p,
[data-testid="stPageLink"] p, [data-testid="stSidebarNav"] span {
  font-size: 1.15rem !important; color: #000 !important;
}
h1 { font-size: 2.8rem !important; }
h2 { font-size: 2.1rem !important; }
h3 { font-size: 1.7rem !important; }
[data-testid="stSidebar"] { background: #f0f0f0; }
</style>
"""

LECTURE_FONT_SIZE = 20
NORMAL_FONT_SIZE = 14


def lecture_mode() -> bool:
    return bool(st.session_state.get(LECTURE_KEY, False))


def apply_lecture_style() -> None:
    """Inject the lecture-mode stylesheet (a constant: no user text ever reaches it)."""
    if lecture_mode():
        st.markdown(_LECTURE_CSS, unsafe_allow_html=True)


def more_controls(label: str = "More controls"):
    """A container for secondary controls: folded away in lecture mode, open otherwise."""
    return st.expander(label, expanded=not lecture_mode())


def chart_font_size() -> int:
    return LECTURE_FONT_SIZE if lecture_mode() else NORMAL_FONT_SIZE
