"""Page tests run hundreds of AppTests in one process, whose resident memory grows far past a server's
budget; the budget's own rules are unit-tested (tests/unit/test_model_memory.py), so here it is lifted
and a page that needs two models at once (BERT beside GPT-2) keeps both."""

from __future__ import annotations

import pytest

from models.memory import MEMORY_BUDGET_ENV


@pytest.fixture(autouse=True)
def roomy_memory_budget(monkeypatch):
    monkeypatch.setenv(MEMORY_BUDGET_ENV, "1000000")
