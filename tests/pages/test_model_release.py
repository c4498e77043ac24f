"""A model the memory budget lets go is really freed, even while students who used it keep their sessions.

Widget callbacks keep a page's globals alive for the whole session, so a page that held its model in a
global would pin it in memory for good: the budget would evict it and the memory would never come back.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from tests.pages.helpers import run_page
from ui.loaders import _model_cache, forget_loaded_models

PAGES = [
    ("attention.py", {"view": "compare"}, ["bert-base-uncased", "gpt2"]),
    ("generation.py", {}, ["gpt2"]),
    ("fill_mask.py", {}, ["bert-base-uncased"]),
    ("clip_zero_shot.py", {}, ["clip-vit-b-32-openai"]),
]


@pytest.mark.parametrize(("script", "query", "keys"), PAGES, ids=[page[0] for page in PAGES])
def test_a_let_go_model_is_freed_while_the_session_lives_on(with_tiny_models, fresh_app_state, script, query, keys):
    at = run_page(script, query)
    assert not at.exception
    held = {key: loaded.model for (key, _), loaded in _model_cache()._models.items()}
    assert set(keys) <= set(held), f"{script} did not load {keys}"
    watchers = {key: weakref.ref(model) for key, model in held.items()}
    del held
    forget_loaded_models()
    gc.collect()
    still_alive = [key for key, watcher in watchers.items() if watcher() is not None]
    assert still_alive == [], f"{script} keeps {still_alive} alive after the cache let go"
    assert at.session_state is not None  # the session (and its widget callbacks) is still there
