"""A page whose model is busy with the rest of the class waits, tells the student where they stand, and
then shows its result. (That a notice never breaks a cached computation, which Streamlit only checks
under a real server, is covered in Chromium by tests/e2e/test_load_e2e.py.)"""

from __future__ import annotations

import threading

from models.engine import BatchKind, engine_for
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT
from ui.engine_wait import QUIET_WAIT_S, waiting_words
from ui.loaders import get_model
from models.engine import QueueStatus


class HeldEngine:
    """Keep a model's engine worker busy (as a class would) until `release()`."""

    def __init__(self, loaded) -> None:
        self.go = threading.Event()
        engine = engine_for(loaded)
        kind = BatchKind(
            "the rest of the class", lambda loaded, payloads: [self.go.wait(60)] * len(payloads), max_cost=1
        )
        self.thread = threading.Thread(target=lambda: engine.call(kind, "busy"))
        self.thread.start()
        while not engine.load().running:
            threading.Event().wait(0.01)

    def release_after(self, seconds: float) -> None:
        threading.Timer(seconds, self.go.set).start()

    def join(self) -> None:
        self.go.set()
        self.thread.join()


def test_a_page_waiting_on_a_busy_model_still_shows_its_result(with_tiny_models, fresh_app_state):
    """Through app.py, whose `model_requests()` draws the waiting notices (and the page's cached
    next-token distribution waits inside st.cache_data)."""
    app = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    app.run()
    held = HeldEngine(get_model("gpt2"))
    held.release_after(3 * QUIET_WAIT_S)  # long enough for the waiting notices to be drawn
    try:
        app.switch_page("demos/generation.py").run()
    finally:
        held.join()
    assert not app.exception, [error.value for error in app.exception]
    assert "Generation" in app.title[0].value
    assert app.get("plotly_chart"), "the next-token chart is missing"


def test_the_waiting_words_say_where_the_request_stands():
    assert "2 requests ahead, about 4 s" in waiting_words(QueueStatus(ahead=2, eta_s=3.2, running=False))
    assert "next in line" in waiting_words(QueueStatus(ahead=0, eta_s=None, running=False))
    assert waiting_words(QueueStatus(ahead=0, eta_s=None, running=True)).startswith("The model is working")
