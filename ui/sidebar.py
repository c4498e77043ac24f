"""The sidebar every page shares: device, model status, lecture mode."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from models.registry import MODELS
from ui.lecture import LECTURE_KEY
from ui.loaders import all_model_status, current_device

_STATE_ICONS = {"not loaded": "⚪", "loading": "⏳", "loaded": "🟢", "unavailable": "🔴"}


def render_sidebar() -> Callable[[], None]:
    """Draw the sidebar; returns the function that fills in the models' status once the page has run.

    The status is written last so it shows the loads (and lets-go) the page itself just caused.
    """
    with st.sidebar:
        if LECTURE_KEY not in st.session_state:
            st.session_state[LECTURE_KEY] = st.query_params.get("lecture", "") in ("1", "true", "on")
        st.toggle(
            "Lecture mode",
            key=LECTURE_KEY,
            help="Large type, high contrast and fewer controls, for a projector.",
        )
        st.caption(f"**Device:** {current_device().label}")
        status_slot = st.expander("Models", expanded=False).empty()

    def show_model_status() -> None:
        statuses = all_model_status()
        with status_slot.container():
            for entry in MODELS:
                status = statuses[entry.key]
                st.caption(f"{_STATE_ICONS[status.state]} **{entry.display_name}**: {status.describe()}")

    show_model_status()
    return show_model_status
