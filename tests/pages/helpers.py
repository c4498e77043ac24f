"""What the page tests share: running a page with a link's query string, and reading its text."""

from __future__ import annotations

import base64

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT


def run_page(script: str, query: dict[str, str] | None = None) -> AppTest:
    """Run demos/`script` once, as if opened from a link carrying `query`."""
    at = AppTest.from_file(str(REPO_ROOT / "demos" / script), default_timeout=120)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    return at.run()


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def plotly_numbers(values) -> np.ndarray:
    """A trace's numbers: plotly writes numpy arrays as base64 typed arrays (with a shape for 2-D), lists as lists."""
    if isinstance(values, dict) and "bdata" in values:
        flat = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"])).astype(float)
        return flat.reshape([int(size) for size in str(values["shape"]).split(",")]) if "shape" in values else flat
    return np.asarray([np.nan if v is None else v for v in values], dtype=float)
