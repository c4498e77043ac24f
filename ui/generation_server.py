"""Where the Generation page's tokens come from: this app's own engine, or the generation server an operator names.

LECTURE_LAB_GENERATION_URL points generation at an OpenAI-compatible server (vLLM); LECTURE_LAB_GENERATION_KEY is
its API key. Both are read from the environment or from Streamlit secrets (root-level secrets become environment
variables, so a key never needs to be in the code or the link). Unset, everything runs in-process as before.

The whole class shares one watch on the server: it is asked whether it is there and serves the model at most once
every SERVER_OK_MEMORY_S, and a server found down, slow or serving another model is reported within
CHECK_TIMEOUT_S and left alone for SERVER_DOWN_MEMORY_S, while generation runs in-process. Retry asks again at once.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import streamlit as st

from models.generation import Generator, InProcessGenerator
from models.loading import ModelUnavailable, load_tokenizer
from models.registry import ModelEntry, get_entry
from models.remote_generation import (
    GENERATION_KEY_ENV,
    GENERATION_URL_ENV,
    GenerationServer,
    RemoteGenerator,
    ServerCheck,
    check_server,
    check_tokenizer,
    parse_server,
    served_name,
)
from ui.loaders import require_model
from ui.text import markdown_text

SERVER_OK_MEMORY_S = 30.0
SERVER_DOWN_MEMORY_S = 60.0


def _setting(name: str) -> str | None:
    st.secrets.load_if_toml_exists()  # puts root-level secrets in the environment; no file is fine
    return os.environ.get(name) or None


def configured_server() -> tuple[GenerationServer | None, str | None]:
    """(the server, None), (None, None) when none is configured, or (None, what is wrong with the setting)."""
    try:
        return parse_server(_setting(GENERATION_URL_ENV), _setting(GENERATION_KEY_ENV)), None
    except ValueError as error:
        return None, str(error)


@dataclass
class _Seen:
    check: ServerCheck
    at: float
    model_problems: dict[str, str | None]


class ServerWatch:
    """What the class knows about the generation server, asked once for everyone (one check at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: _Seen | None = None

    def problem(self, server: GenerationServer, entry: ModelEntry, tokenizer) -> str | None:
        """None when `server` serves `entry` with this tokenizer; else why not, in a student's words."""
        with self._lock:
            seen = self._fresh(server)
            if not seen.check.ok:
                return seen.check.problem
            if entry.key not in seen.model_problems:
                seen.model_problems[entry.key] = self._model_problem(seen.check, entry, tokenizer)
            return seen.model_problems[entry.key]

    def _fresh(self, server: GenerationServer) -> _Seen:
        seen, now = self._seen, time.monotonic()
        if seen is not None and seen.check.server == server:
            memory = SERVER_OK_MEMORY_S if seen.check.ok else SERVER_DOWN_MEMORY_S
            if now - seen.at < memory:
                return seen
        self._seen = _Seen(check_server(server), time.monotonic(), {})
        return self._seen

    @staticmethod
    def _model_problem(check: ServerCheck, entry: ModelEntry, tokenizer) -> str | None:
        name = served_name(entry)
        if name not in check.models:
            served = ", ".join(repr(model) for model in check.models) or "no model"
            return f"the generation server at {check.server.host} serves {served}, not {name!r}"
        return check_tokenizer(check.server, entry, tokenizer)

    def context_length(self, entry: ModelEntry) -> int:
        with self._lock:
            lengths = self._seen.check.context_lengths if self._seen else {}
        return min(entry.context_length, lengths.get(served_name(entry), entry.context_length))

    def report_failure(self, server: GenerationServer, problem: str) -> None:
        """A request failed in use (the server went down mid-generation): generate in-process for a while."""
        with self._lock:
            self._seen = _Seen(ServerCheck(server, (), {}, problem), time.monotonic(), {})

    def forget(self) -> None:
        with self._lock:
            self._seen = None

    def last_check(self) -> ServerCheck | None:
        with self._lock:
            return self._seen.check if self._seen else None


@st.cache_resource(show_spinner=False)
def server_watch() -> ServerWatch:
    return ServerWatch()


@st.cache_resource(show_spinner=False)
def _tokenizer(key: str):
    return load_tokenizer(key)


def retry_server() -> None:
    server_watch().forget()


def generator_for(model_key: str, notices) -> Generator:
    """The page's generator for `model_key`: the configured server when it serves the model, else this app's own
    engine, with a notice in `notices` saying why and a Retry."""
    server, setting_problem = configured_server()
    if server is None:
        if setting_problem:
            notices.warning(f"**Generation runs in this app:** {markdown_text(setting_problem)}.", icon="🔌")
        return InProcessGenerator(require_model(model_key))
    entry = get_entry(model_key)
    try:
        tokenizer = _tokenizer(model_key)
    except ModelUnavailable:
        return InProcessGenerator(require_model(model_key))  # shows what is missing and how to get it
    with st.spinner(f"Asking the generation server at {server.host}…"):
        problem = server_watch().problem(server, entry, tokenizer)
    if problem is None:
        return RemoteGenerator(server, entry, tokenizer, server_watch().context_length(entry))
    show_fallback(notices, problem)
    return InProcessGenerator(require_model(model_key))


def show_fallback(notices, problem: str) -> None:
    with notices.container(border=True):
        st.warning(
            f"**Generating in this app instead:** {markdown_text(problem)}. The page works the same; a whole class "
            "at once is "
            "slower here.",
            icon="🔌",
        )
        st.button("Retry the generation server", icon="🔄", key="gen__retry_server", on_click=retry_server)


def report_server_failure(problem: str) -> None:
    """A request to the server failed in use (mid-generation, or a score): the class generates here for a while."""
    server, _ = configured_server()
    if server is not None:
        server_watch().report_failure(server, problem)


def generation_location() -> str:
    """One sidebar line: where the Generation page's tokens are computed now."""
    server, setting_problem = configured_server()
    if server is None:
        return "in this app" + (" (the generation server setting is not valid)" if setting_problem else "")
    check = server_watch().last_check()
    if check is None:
        return f"on the generation server at {server.host} (not asked yet)"
    if check.ok:
        return f"on the generation server at {server.host}"
    return f"in this app for now: the generation server at {server.host} is not answering"
