"""What tests of the engines share: waiting (with a deadline) until an engine has let every request go."""

from __future__ import annotations

import time

from models.engine import EngineLoad, engine_for


def wait_until_idle(loaded, timeout_s: float = 30.0) -> bool:
    """True once `loaded`'s engine holds no running or waiting request; False if it still does after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        load: EngineLoad = engine_for(loaded).load()
        if load.running == 0 and load.waiting == 0:
            return True
        time.sleep(0.02)
    return False


# Two runs of the same request may differ in the last bits of their sums (batched or alone); a token
# may then differ only where the two most likely tokens were closer than this in logit.
LOGIT_TIE = 1e-5
PROBABILITY_TOLERANCE = 1e-4


def assert_same_generation(expected, actual) -> None:
    """`actual` (a GenerationResult) is `expected` token for token, probabilities within 1e-4; a token may
    differ only at a genuine tie of the two best logits, after which the two texts go their own ways."""
    import math

    import numpy as np

    for index, (a, b) in enumerate(zip(expected.steps, actual.steps)):
        if a.token_id != b.token_id:
            gap = math.log(a.alternative_probs[0]) - math.log(a.alternative_probs[1])
            assert gap < LOGIT_TIE, f"step {index}: token {b.token_id} instead of {a.token_id} (logit gap {gap:.2e})"
            return
        assert abs(a.probability - b.probability) <= PROBABILITY_TOLERANCE, f"step {index}: probability"
        assert abs(a.filtered_probability - b.filtered_probability) <= PROBABILITY_TOLERANCE, f"step {index}"
        assert a.alternative_ids.tolist() == b.alternative_ids.tolist() or np.allclose(
            a.alternative_probs, b.alternative_probs, atol=LOGIT_TIE
        ), f"step {index}: alternatives"
        np.testing.assert_allclose(b.alternative_probs, a.alternative_probs, atol=PROBABILITY_TOLERANCE)
    assert len(expected.steps) == len(actual.steps)
    assert expected.stop_reason == actual.stop_reason
