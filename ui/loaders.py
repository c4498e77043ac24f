"""Cached model loading shared by every browser session, with a status anyone can see.

A model loads once per server process (a server-wide `ModelCache`, held by `st.cache_resource`,
keyed on model key and device) and is then shared read-only by all students. Before a load would
take the server past its memory budget, the least recently used models are let go, so the app
stays inside Streamlit Community Cloud's memory limit. The status of each model (not loaded /
loading / loaded in N s / unavailable and why) is kept server-wide too, so the sidebar of
every session tells the truth about what is in memory.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Literal

import streamlit as st

from models.continuous_batching import unclaimed_kv_mb
from models.engine import EngineLoad
from models.limits import ENGINE_KV_BUDGET_MB
from models.loading import DeviceChoice, LoadedModel, ModelUnavailable, choose_device, load_model
from models.memory import memory_budget_mb, server_rss_mb
from models.registry import MODELS, ModelEntry, get_entry
from ui.lecture import lecture_mode

State = Literal["not loaded", "loading", "loaded", "unavailable"]

# How long a failed load is remembered before the next page run tries again by itself
# (the Retry button always tries at once). Stops every rerun from re-probing the hub.
UNAVAILABLE_MEMORY_S = 60.0


@dataclass(frozen=True)
class ModelStatus:
    state: State
    detail: str = ""
    since: float = 0.0  # time.time() when this state began
    seconds: float | None = None  # load time, once loaded
    fix: str | None = None  # what to do about an unavailable model, as the loader said it

    def describe(self) -> str:
        if self.state == "loaded":
            return f"loaded in {self.seconds:.1f} s" + (f" ({self.detail})" if self.detail else "")
        if self.state == "loading":
            return f"loading… ({time.time() - self.since:.0f} s so far)"
        if self.state == "unavailable":
            return "unavailable: " + self.detail
        return "not loaded" + (f" ({self.detail})" if self.detail else "")


_status: dict[str, ModelStatus] = {}
_status_lock = threading.Lock()


def _set_status(key: str, status: ModelStatus) -> None:
    with _status_lock:
        _status[key] = status


def model_status(key: str) -> ModelStatus:
    with _status_lock:
        return _status.get(key, ModelStatus("not loaded"))


def all_model_status() -> dict[str, ModelStatus]:
    return {entry.key: model_status(entry.key) for entry in MODELS}


@st.cache_resource(show_spinner=False)
def current_device() -> DeviceChoice:
    return choose_device()


_SOURCE_WORDS = {
    "local-dir": "local folder",
    "package": "installed package",
    "cache": "local cache",
    "hub": "downloaded from the Hub",
}


def load_reserve_mb(entry: ModelEntry) -> float:
    """Memory a load of `entry` may need (measured with bench/bench_app.py): its own size, plus for a
    causal LM the keys and values its engine may hold while a class generates (ENGINE_KV_BUDGET_MB).

    transformers maps the safetensors file and keeps using those pages; CLIP's weights are read
    straight into the model's tensors (models.loading._read_clip_weights), never held twice.
    """
    return entry.size_mb + (ENGINE_KV_BUDGET_MB if entry.family == "causal-lm" else 0)


CacheKey = tuple[str, str]  # (registry key, device)


class ModelCache:
    """Loaded models, least recently used first, kept under a memory budget. No Streamlit here.

    `get` loads a missing model at most once however many sessions ask at the same time; before the
    load it lets go of the least recently used models until the server's RSS, plus what the loaded
    models' engines may still claim (`claimable_mb`: keys and values not yet allocated), plus the new
    model's reserve fits the budget (a model still in use by a running page is freed when that page
    finishes).
    """

    def __init__(
        self,
        budget_mb: Callable[[], float] = memory_budget_mb,
        rss_mb: Callable[[], float] = server_rss_mb,
        on_evict: Callable[[str], None] = lambda key: None,
        claimable_mb: Callable[[LoadedModel], float] = lambda loaded: 0.0,
    ) -> None:
        self._budget_mb = budget_mb
        self._rss_mb = rss_mb
        self._on_evict = on_evict
        self._claimable_mb = claimable_mb
        self._models: OrderedDict[CacheKey, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self._load_locks: dict[CacheKey, threading.Lock] = {}

    def keys(self) -> list[CacheKey]:
        """Cached keys, least recently used first."""
        with self._lock:
            return list(self._models)

    def loaded(self) -> list[LoadedModel]:
        with self._lock:
            return list(self._models.values())

    def get(self, key: CacheKey, reserve_mb: float, load: Callable[[], LoadedModel]) -> LoadedModel:
        with self._lock:
            load_lock = self._load_locks.setdefault(key, threading.Lock())
        with load_lock:
            with self._lock:
                if key in self._models:
                    self._models.move_to_end(key)
                    return self._models[key]
            self._make_room(reserve_mb)
            loaded = load()
            with self._lock:
                self._models[key] = loaded
            return loaded

    def _make_room(self, reserve_mb: float) -> None:
        with self._lock:
            claimable = sum(self._claimable_mb(loaded) for loaded in self._models.values())
        projected = self._rss_mb() + claimable + reserve_mb
        evicted = []
        with self._lock:
            while self._models and projected > self._budget_mb():
                key, loaded = self._models.popitem(last=False)
                projected -= loaded.entry.size_mb + self._claimable_mb(loaded)
                evicted.append(key)
        for key, _ in evicted:
            self._on_evict(key)
        if evicted:
            gc.collect()  # the models' tensors go now, not at some later collection

    def clear(self) -> None:
        with self._lock:
            self._models.clear()
        gc.collect()


def _note_evicted(key: str) -> None:
    _set_status(key, ModelStatus("not loaded", detail="let go to stay within the memory budget", since=time.time()))


@st.cache_resource(show_spinner=False)
def _model_cache() -> ModelCache:
    return ModelCache(on_evict=_note_evicted, claimable_mb=unclaimed_kv_mb)


def _load_with_status(key: str) -> LoadedModel:
    _set_status(key, ModelStatus("loading", since=time.time()))
    try:
        loaded = load_model(key, current_device())
    except ModelUnavailable as error:
        _set_status(key, ModelStatus("unavailable", detail=error.reason, since=time.time(), fix=error.fix))
        raise
    except Exception as error:
        _set_status(key, ModelStatus("unavailable", detail=f"{type(error).__name__}: {error}", since=time.time()))
        raise
    _set_status(
        key,
        ModelStatus("loaded", detail=_SOURCE_WORDS[loaded.source.kind], since=time.time(), seconds=loaded.load_seconds),
    )
    return loaded


def engine_loads() -> dict[str, EngineLoad]:
    """What each loaded model's engine is doing now (models never used since loading have none)."""
    return {loaded.entry.key: loaded.engine.load() for loaded in _model_cache().loaded() if loaded.engine is not None}


def forget_loaded_models() -> None:
    """Drop every cached model and its status (memory back; the next use loads afresh)."""
    _model_cache().clear()
    with _status_lock:
        _status.clear()


def get_model(key: str) -> LoadedModel:
    """The shared model for `key`; raises ModelUnavailable. No UI: for code that handles errors itself."""
    # The device is part of the cache key so a forced CPU run and a GPU run never share.
    cache_key = (key, current_device().device)
    return _model_cache().get(cache_key, load_reserve_mb(get_entry(key)), lambda: _load_with_status(key))


def require_model(key: str) -> LoadedModel:
    """The shared model for `key`, or a clear "not available" panel and a stopped page.

    Shows a status panel while a model loads for the first time; later calls return at once.
    """
    entry = get_entry(key)
    status = model_status(key)
    retry_key = f"retry_model__{key}"
    retrying = bool(st.session_state.pop(retry_key, False))
    if status.state == "unavailable" and not retrying and time.time() - status.since < UNAVAILABLE_MEMORY_S:
        _show_unavailable(entry.key, entry.display_name, status.detail, status.fix)
    if status.state == "loaded":
        # The load panel's place, kept empty: a page's elements keep their positions from the visit that loaded
        # the model to the next run, so a long run (a generation) never shows the old page's copy below the new.
        st.empty()
        loaded = get_model(key)
    else:
        loaded = _load_in_panel(key, entry)
    if loaded.notice:
        st.warning(loaded.notice)
    return loaded


def _load_in_panel(key: str, entry: ModelEntry) -> LoadedModel:
    """Load with a status panel; on failure the panel gives way to the reason, the fix and Retry, in full."""
    slot = st.empty()
    failure: tuple[str, str | None] | None = None
    with slot.status(f"Loading {entry.display_name} ({entry.size_mb} MB)…", expanded=False) as panel:
        started = time.perf_counter()
        try:
            loaded = get_model(key)
        except ModelUnavailable as error:
            failure = (error.reason, error.fix)
        except Exception as error:  # an unexpected fault must still leave the page usable
            failure = (f"{type(error).__name__}: {error}", None)
        else:
            panel.update(
                label=f"{entry.display_name} ready ({_SOURCE_WORDS[loaded.source.kind]}, "
                f"{time.perf_counter() - started:.1f} s)",
                state="complete",
            )
    if failure is None and lecture_mode():
        slot.empty()  # on the projector the demo, not the load report, takes the first screen's room
    if failure is not None:
        # Not inside the folded panel: a visitor must see why, what to do, and Retry without opening anything.
        slot.empty()
        _show_unavailable(entry.key, entry.display_name, *failure)
    return loaded


def _show_unavailable(key: str, name: str, reason: str, fix: str | None) -> None:
    from models.loading import MODEL_DIR_ENV, PREFETCH_COMMAND

    st.error(f"**{name} is not available on this machine.**", icon="📦")
    st.text(f"Why: {reason}")
    st.markdown(
        "**Fix:** "
        + (
            fix
            or f"on a machine with internet, run `{PREFETCH_COMMAND} --only {key}`; for an offline classroom "
            f"copy, add `--dir FOLDER` and start the app with `{MODEL_DIR_ENV}=FOLDER`. Then press Retry."
        )
    )
    if st.button("Retry", key=f"retry_button__{key}", icon="🔄"):
        st.session_state[f"retry_model__{key}"] = True
        st.rerun()
    st.caption("The other pages keep working; the home page lists which models are available.")
    st.stop()
