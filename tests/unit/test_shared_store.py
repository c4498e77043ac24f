"""The store the CLIP page shares between sessions: bounded, oldest out first, safe under many threads."""

from __future__ import annotations

import threading

import pytest

from ui.shared_store import SharedStore


def test_the_oldest_value_goes_when_the_store_is_full():
    store: SharedStore[str, int] = SharedStore(capacity=2)
    store.put("a", 1)
    store.put("b", 2)
    store.put("a", 10)  # refreshed: now "b" is the oldest
    store.put("c", 3)
    assert (store.get("a"), store.get("b"), store.get("c")) == (10, None, 3)
    assert len(store) == 2


def test_a_capacity_below_one_is_refused():
    with pytest.raises(ValueError):
        SharedStore(capacity=0)


def test_many_threads_putting_and_reading_never_break_it():
    store: SharedStore[int, int] = SharedStore(capacity=3)
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def student(offset: int) -> None:
        try:
            start.wait()
            for i in range(2000):
                key = (offset + i) % 7
                store.put(key, key * 2)
                value = store.get(key)
                assert value is None or value == key * 2
        except BaseException as error:  # collected and asserted on below
            errors.append(error)

    threads = [threading.Thread(target=student, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store) == 3
