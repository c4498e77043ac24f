"""Waiting for a server the tests started (Streamlit, vLLM) to answer, or to say why it never will."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from typing import Callable


def wait_until_answering(
    process: subprocess.Popen, url: str, timeout_s: float, what: str, log: Callable[[], str], every_s: float = 0.3
) -> None:
    """Return once `url` answers 200; raise with the server's log if the process ends or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(every_s)
    raise TimeoutError(f"{what} did not answer {url} within {timeout_s:.0f} s:\n{log()}")
