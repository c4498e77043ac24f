"""What the page tests share: running a page with a link's query string, and reading its text."""

from __future__ import annotations

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
