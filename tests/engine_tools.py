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
