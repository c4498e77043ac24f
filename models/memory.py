"""The server's memory budget, shared by the model cache (ui/loaders.py) and the engines' caches. No Streamlit.

Streamlit Community Cloud stops a container that passes about 2.7 GB, and with it every student's
session, so everything that holds memory for long (models, keys and values, prefix caches) asks here
first whether it still fits.
"""

from __future__ import annotations

import os

import psutil

from models.limits import MEMORY_BUDGET_MB

MEMORY_BUDGET_ENV = "LECTURE_LAB_MEMORY_BUDGET_MB"


def memory_budget_mb() -> float:
    """The server's memory budget: LECTURE_LAB_MEMORY_BUDGET_MB if it is a positive number, else the default."""
    try:
        value = float(os.environ.get(MEMORY_BUDGET_ENV, ""))
    except ValueError:
        return float(MEMORY_BUDGET_MB)
    return value if value > 0 else float(MEMORY_BUDGET_MB)


def server_rss_mb() -> float:
    return psutil.Process().memory_info().rss / 1e6


def release_freed_memory() -> None:
    """Hand memory freed by Python and torch back to the system (glibc keeps it otherwise).

    Without this the server's resident memory stays at its high-water mark after a model load, an
    eviction or a burst of requests, and the memory budget would see memory that is in fact free.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        pass
