"""A reduced load test for CI: six students at once on one `streamlit run` server, three filling masks and
three generating, each with a text of their own. Every one finishes with no error and sees exactly the
result the model gives their input alone, and no other student's text. The full-size version (20
sessions, latency percentiles, a 200-request soak measuring the server's memory) is scripts/load_test.py.
"""

from __future__ import annotations

import pytest

from scripts.load_test import expected_result, make_students, problems, run_concurrent
from tests.e2e.conftest import open_page

pytestmark = pytest.mark.e2e

SESSIONS = 6
MAX_NEW_TOKENS = 6


def test_six_students_at_once_each_see_only_their_own_result(browser, app_server, tiny_bert, tiny_gpt2):
    warm = browser.new_page()  # load both models first: the test is about sessions, not loading
    for path in ("fill-mask", "generation"):
        open_page(warm, app_server, path)
    warm.close()
    students = make_students(SESSIONS)
    assert {student.kind for student in students} == {"fill-mask", "generation"}
    expected = {s.number: expected_result(s, tiny_bert, tiny_gpt2, MAX_NEW_TOKENS) for s in students}
    assert len(set(expected.values())) == SESSIONS  # every student's answer is their own

    outcomes = run_concurrent(browser, app_server.url, students, max_new_tokens=MAX_NEW_TOKENS, timeout_s=240)

    assert problems(outcomes, expected) == []
    assert all(outcome.seconds is not None for outcome in outcomes)
