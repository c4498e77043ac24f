"""Share this view: the page's link (every input is in it) to copy, and as a QR code for the projector."""

from __future__ import annotations

import io
from urllib.parse import urlencode

import streamlit as st

# `?run=<action>` in a link presses the page's main button once when the link is opened ("run it"): a lecturer
# shares a generation or a training run already under way, not a page waiting for a click.
RUN_PARAM = "run"
_OFFERS_KEY = "share__run_offers"

# A QR code holds at most about 2,900 characters (version 40, low error correction); longer links (a long
# text in the link) are offered to copy only.
MAX_QR_CHARS = 2_900


def view_link(base_url: str, params: dict[str, str], *, lecture: bool = False, run: str | None = None) -> str:
    """The link that reopens this view: the page's address and its inputs, lecture mode on or off, and the action
    to run on opening, if any."""
    query = {name: value for name, value in params.items() if name not in ("lecture", RUN_PARAM)}
    if lecture:
        query["lecture"] = "1"
    if run:
        query[RUN_PARAM] = run
    return base_url + (("?" + urlencode(query)) if query else "")


def start_offers() -> None:
    """Called before each page run: the page then names the actions a link may run (`run_from_link`)."""
    st.session_state[_OFFERS_KEY] = {}


def run_from_link(action: str, label: str) -> bool:
    """True once per browser session when the link says `run=<action>`: the page then acts as if its `label` button
    had been pressed. The share panel offers a link that does it."""
    st.session_state.setdefault(_OFFERS_KEY, {})[action] = label
    done_key = f"share__ran__{action}"
    if st.query_params.get(RUN_PARAM) != action or st.session_state.get(done_key):
        return False
    st.session_state[done_key] = True
    return True


def qr_png(link: str, scale: int = 6) -> bytes | None:
    """The link as a QR code (PNG), or None when it is too long for one."""
    if len(link) > MAX_QR_CHARS:
        return None
    import segno

    buffer = io.BytesIO()
    segno.make(link, error="l").save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()


def show_share(slot) -> None:
    """Fill `slot` (in the sidebar) once the page has written its inputs to the address."""
    base = st.context.url
    with slot.container():
        if not base:
            st.caption("Open the app in a browser to share a view.")
            return
        params = {name: st.query_params[name] for name in st.query_params}
        link = view_link(base, params)
        st.caption("Students open the same view (scan, or copy the link: the copy icon is on the right):")
        png = qr_png(link)
        if png is None:
            st.caption("This link is too long for a QR code (a long text is in it): copy it instead.")
        else:
            st.image(png, width=200)
        st.code(link, language=None, wrap_lines=True)
        st.caption("The same view in lecture mode:")
        st.code(view_link(base, params, lecture=True), language=None, wrap_lines=True)
        for action, label in st.session_state.get(_OFFERS_KEY, {}).items():
            st.caption(f"The same view, pressing **{label}** as it opens:")
            st.code(view_link(base, params, run=action), language=None, wrap_lines=True)
