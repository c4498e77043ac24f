"""The server-wide model cache: loads once, lets the least recently used models go under a memory budget."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from models.limits import ENGINE_KV_BUDGET_MB, MEMORY_BUDGET_MB
from models.registry import get_entry
from models.memory import MEMORY_BUDGET_ENV, memory_budget_mb
from ui.loaders import ModelCache, load_reserve_mb


def fake_model(key: str) -> SimpleNamespace:
    return SimpleNamespace(entry=get_entry(key))


class Server:
    """A pretend server: RSS is a base plus the size of every model the cache still holds."""

    def __init__(self, base_mb: float, budget_mb: float) -> None:
        self.base_mb = base_mb
        self.budget_mb = budget_mb
        self.evicted: list[str] = []
        self.loads: list[str] = []
        self.cache = ModelCache(budget_mb=lambda: self.budget_mb, rss_mb=self.rss_mb, on_evict=self.evicted.append)

    def rss_mb(self) -> float:
        return self.base_mb + sum(get_entry(key).size_mb for key, _ in self.cache.keys())

    def use(self, key: str):
        def load():
            self.loads.append(key)
            return fake_model(key)

        return self.cache.get((key, "cpu"), load_reserve_mb(get_entry(key)), load)


def test_a_model_loads_once_and_is_shared():
    server = Server(base_mb=600, budget_mb=2200)
    first = server.use("gpt2")
    assert server.use("gpt2") is first
    assert server.loads == ["gpt2"]


def test_all_default_text_models_fit_together_without_eviction():
    server = Server(base_mb=660, budget_mb=2200)
    server.use("bert-base-uncased")
    server.use("gpt2")  # the attention page's comparison needs both at once
    assert server.evicted == []
    assert [key for key, _ in server.cache.keys()] == ["bert-base-uncased", "gpt2"]


def test_least_recently_used_goes_first_when_the_budget_would_be_passed():
    server = Server(base_mb=660, budget_mb=2200)
    server.use("bert-base-uncased")
    server.use("gpt2")
    server.use("bert-base-uncased")  # now gpt2 is the least recently used
    server.use("clip-vit-b-32-openai")
    assert server.evicted[0] == "gpt2"
    assert server.rss_mb() - get_entry("clip-vit-b-32-openai").size_mb + load_reserve_mb(
        get_entry("clip-vit-b-32-openai")
    ) <= 2200 or server.cache.keys() == [("clip-vit-b-32-openai", "cpu")]
    assert server.cache.keys()[-1] == ("clip-vit-b-32-openai", "cpu")


def test_eviction_stops_as_soon_as_the_new_model_fits():
    server = Server(base_mb=600, budget_mb=10_000)
    for key in ("bert-base-uncased", "gpt2", "distilgpt2"):
        server.use(key)
    server.budget_mb = server.rss_mb() + get_entry("distilbert-base-uncased").size_mb - 1
    server.use("distilbert-base-uncased")
    assert server.evicted == ["bert-base-uncased"]


def test_a_model_bigger_than_the_budget_still_loads_alone():
    server = Server(base_mb=600, budget_mb=700)
    server.use("gpt2")
    server.use("clip-vit-b-32-openai")
    assert server.evicted == ["gpt2"]
    assert server.cache.keys() == [("clip-vit-b-32-openai", "cpu")]


def test_concurrent_sessions_trigger_one_load():
    cache = ModelCache(budget_mb=lambda: 10_000, rss_mb=lambda: 0.0)
    loads = []

    def slow_load():
        loads.append(1)
        time.sleep(0.3)
        return fake_model("gpt2")

    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(("gpt2", "cpu"), 548, slow_load))) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loads) == 1 and len({id(result) for result in results}) == 1


def test_a_failed_load_caches_nothing():
    cache = ModelCache(budget_mb=lambda: 10_000, rss_mb=lambda: 0.0)

    def broken():
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        cache.get(("gpt2", "cpu"), 548, broken)
    assert cache.keys() == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", MEMORY_BUDGET_MB),
        ("3000", 3000.0),
        ("lots", MEMORY_BUDGET_MB),
        ("-5", MEMORY_BUDGET_MB),
        ("0", MEMORY_BUDGET_MB),
    ],
)
def test_budget_from_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv(MEMORY_BUDGET_ENV, value)
    assert memory_budget_mb() == expected


def test_keys_and_values_an_engine_may_still_claim_count_against_the_budget():
    """A class generating on GPT-2 may take ENGINE_KV_BUDGET_MB more: a new model must leave room for it."""
    server = Server(base_mb=660, budget_mb=2400)
    server.cache = ModelCache(
        budget_mb=lambda: server.budget_mb,
        rss_mb=server.rss_mb,
        on_evict=server.evicted.append,
        claimable_mb=lambda loaded: ENGINE_KV_BUDGET_MB if loaded.entry.family == "causal-lm" else 0,
    )
    server.use("bert-base-uncased")
    server.use("gpt2")
    assert server.evicted == []
    server.use("clip-vit-b-32-openai")  # 660 + 440 + 548 + 605 = 2253 fits; with GPT-2's keys and values to come, not
    assert server.evicted == ["bert-base-uncased"]
    assert load_reserve_mb(get_entry("gpt2")) == get_entry("gpt2").size_mb + ENGINE_KV_BUDGET_MB
