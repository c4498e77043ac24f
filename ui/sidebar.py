"""The sidebar every page shares: device, model status, lecture mode."""

from __future__ import annotations

from typing import Callable

import streamlit as st

from models.registry import MODELS
from ui.lecture import LECTURE_KEY
from models.engine import EngineLoad
from models.quantize import int8_requested
from ui.loaders import all_model_status, current_device, engine_loads
from ui.generation_server import generation_location
from ui.share import show_share, start_offers

_STATE_ICONS = {"not loaded": "⚪", "loading": "⏳", "loaded": "🟢", "unavailable": "🔴"}


def describe_load(load: EngineLoad | None) -> str:
    """ " · 12 running, 30 waiting · 140 answered, 3 stopped": what the class is doing with a model."""
    if load is None:
        return ""
    now = f" · {load.running} running, {load.waiting} waiting" if load.running or load.waiting else ""
    done = f" · {load.answered} answered" + (f", {load.stopped} stopped" if load.stopped else "")
    return now + (done if load.answered or load.stopped else "")


def keep_lecture_in_link() -> None:
    """Lecture mode is part of the view: a link says whether it is on."""
    if st.session_state.get(LECTURE_KEY):
        st.query_params["lecture"] = "1"
    elif "lecture" in st.query_params:
        del st.query_params["lecture"]


def render_sidebar() -> Callable[[], None]:
    """Draw the sidebar; returns the function that fills in the models' status and the share panel once the page
    has run.

    Both are written last: the status shows the loads (and lets-go) the page itself just caused, and the link
    holds the inputs the page just wrote to the address.
    """
    start_offers()
    with st.sidebar:
        if LECTURE_KEY not in st.session_state:
            st.session_state[LECTURE_KEY] = st.query_params.get("lecture", "") in ("1", "true", "on")
        st.toggle(
            "Lecture mode",
            key=LECTURE_KEY,
            help="Large type, high contrast and fewer controls, for a projector.",
            on_change=keep_lecture_in_link,
        )
        share_slot = st.expander("Share this view (link, QR code)", icon="🔗", expanded=False).empty()
        st.caption(f"**Device:** {current_device().label}")
        generation_slot = st.empty()
        if int8_requested() and current_device().device == "cpu":
            st.caption(
                "**int8 mode:** GPT-2 and BERT run with 8-bit weights for a big class; their numbers "
                "are close to, not exactly, full precision."
            )
        status_slot = st.expander("Models", expanded=False).empty()

    def show_model_status() -> None:
        show_share(share_slot)
        generation_slot.caption(f"**Generation runs** {generation_location()}.")
        statuses = all_model_status()
        loads = engine_loads()
        with status_slot.container():
            for entry in MODELS:
                status = statuses[entry.key]
                load = describe_load(loads.get(entry.key))
                st.caption(f"{_STATE_ICONS[status.state]} **{entry.display_name}**: {status.describe()}{load}")

    show_model_status()
    return show_model_status
