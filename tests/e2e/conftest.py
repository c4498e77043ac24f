"""End-to-end fixtures: `streamlit run app.py` on a free localhost port, and Debian's Chromium
driven by Playwright.

The server gets the tiny random-weight models through LECTURE_LAB_MODEL_DIR and an empty,
offline Hugging Face cache, exactly as a classroom machine with a prefetched folder would.
Under CI=true a missing browser is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import IN_CI, REPO_ROOT
from tests.processes import wait_until_answering

CHROMIUM = os.environ.get("LECTURE_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class StreamlitServer:
    def __init__(self, model_dir: Path | None, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            HF_HOME=tempfile.mkdtemp(prefix="lecture-lab-e2e-hf-"),
            HF_HUB_OFFLINE="1",
            LECTURE_LAB_DEVICE="cpu",
            PYTHONUNBUFFERED="1",
        )
        env.pop("LECTURE_LAB_MODEL_DIR", None)
        if model_dir is not None:
            env["LECTURE_LAB_MODEL_DIR"] = str(model_dir)
        env.pop("LECTURE_LAB_GENERATION_URL", None)
        env.update(extra_env or {})
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(self.port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
                # Tests must see a fault's type and text if one ever slips through.
                "--client.showErrorDetails",
                "full",
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout_s: float = 90) -> None:
        wait_until_answering(
            self.process, f"{self.url}/_stcore/health", timeout_s, "streamlit", lambda: self.log_path.read_text()
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@contextlib.contextmanager
def running_server(
    model_dir: Path | None, log_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[StreamlitServer]:
    """`streamlit run app.py` on `model_dir`, healthy inside the block and stopped after it."""
    server = StreamlitServer(model_dir, log_dir / "streamlit.log", extra_env)
    try:
        server.wait_healthy()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def app_server(tiny_model_dir, tmp_path_factory) -> Iterator[StreamlitServer]:
    with running_server(tiny_model_dir, tmp_path_factory.mktemp("logs")) as server:
        yield server


@pytest.fixture(scope="session")
def offline_app_server(tmp_path_factory) -> Iterator[StreamlitServer]:
    """A server with no weights anywhere: every model page must say so, not crash or hang."""
    with running_server(tmp_path_factory.mktemp("no-models"), tmp_path_factory.mktemp("logs-offline")) as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


def wait_for_app(page, timeout_s: float = 60) -> None:
    """Wait until the script has finished running (Streamlit's status widget is gone)."""
    page.wait_for_selector('[data-testid="stApp"]', state="attached", timeout=timeout_s * 1000)
    page.wait_for_selector('[data-testid="stMain"]', state="attached", timeout=timeout_s * 1000)
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        skeleton = page.locator('[data-testid="stSkeleton"]').count() > 0
        if running or skeleton:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.8:
            return
        page.wait_for_timeout(100)
    raise TimeoutError("the app kept running")


def open_page(page, server: StreamlitServer, path: str = "", query: str = "") -> None:
    url = f"{server.url}/{path}" + (f"?{query}" if query else "")
    page.goto(url)
    wait_for_app(page)


def exception_texts(page) -> list[str]:
    return page.locator('[data-testid="stException"]').all_inner_texts()


def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save a screenshot under test-artifacts/ (kept by CI for people to look at): the whole page, or with
    `full_page=False` what the window shows."""
    folder = REPO_ROOT / "test-artifacts"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def tall_screenshot(page, name: str, width: int = 1400, height: int = 2600) -> Path:
    """A whole-page screenshot: Streamlit scrolls inside its own main block, so the window is made tall first."""
    page.set_viewport_size({"width": width, "height": height})
    wait_for_app(page)
    page.wait_for_timeout(500)
    return screenshot(page, name)
