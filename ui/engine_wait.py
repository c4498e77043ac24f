"""Who a page's model calls belong to, and what the student sees while the rest of the class is served.

The engines (models/engine.py) take every session's requests in turn. A page wraps its model calls in
`model_requests()`: the requests then count as this browser session's (so one student's long job is
shared out fairly against everyone else's), and while one waits the student sees where it stands
("3 requests ahead, about 4 s") instead of a frozen page. A tab closed mid-request stops the page
at the next notice, which cancels the request and gives its place to the next student.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner_utils.exceptions import StopException
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from models.engine import QueueStatus, asking_as

try:  # Streamlit records what a cached function draws and replays it on every later cache hit
    from streamlit.runtime.caching.cached_message_replay import in_cached_function
except ImportError:  # another Streamlit version: never draw a notice rather than have it replayed
    in_cached_function = None

# A request that answers within this long shows no notice at all (no flicker for the usual case).
QUIET_WAIT_S = 0.8


# While a page streams (tokens, training epochs) it draws its own Stop, which keeps what came so far; Streamlit's
# Stop (top right) would end the run without the summary. A constant: no user text ever reaches it.
HIDE_STREAMLIT_STOP = '<style>[data-testid="stStatusWidget"] button { display: none; }</style>'


def session_id() -> str:
    context = get_script_run_ctx(suppress_warning=True)
    return context.session_id if context is not None else f"thread-{threading.get_ident()}"


def still_connected() -> bool:
    """False once this session's browser tab has gone (the server keeps its state a while in case it
    comes back, and would otherwise keep running its requests for nobody)."""
    if not Runtime.exists():  # AppTest and scripts: no server, nobody to lose
        return True
    context = get_script_run_ctx(suppress_warning=True)
    return context is None or Runtime.instance().is_active_session(context.session_id)


def inside_cached_function() -> bool:
    return in_cached_function is None or in_cached_function.get()


def waiting_words(status: QueueStatus) -> str:
    if status.running:
        return "The model is working on your request" + (f" ({status.describe()})" if status.eta_s else "") + "…"
    return f"The class is using the model: your request is queued, {status.describe()}."


@contextlib.contextmanager
def model_requests(slot=None) -> Iterator[None]:
    """Model calls inside belong to this session; a request waiting longer than QUIET_WAIT_S is shown in
    `slot` (an st.empty() where the result will appear), or in a toast when no slot is given."""
    shown: list = []

    def on_wait(status: QueueStatus) -> None:
        if not still_connected():
            raise StopException()  # Streamlit ends the run quietly; the engine drops the request
        if status.waited_s < QUIET_WAIT_S:
            return
        if inside_cached_function():
            return  # a notice drawn here would be replayed to every later student; the spinner says it
        words = waiting_words(status)
        if slot is not None:
            slot.info(words, icon="⏳")
            shown.append(slot)
        elif shown:
            shown[0].toast(words, icon="⏳")
        else:
            shown.append(st.toast(words, icon="⏳"))

    with asking_as(session_id(), on_wait):
        yield
    if shown and slot is not None:
        slot.empty()
    elif shown:
        shown[0].toast("Your request is done.", icon="✅")
