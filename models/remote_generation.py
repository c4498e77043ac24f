"""Generation on an OpenAI-compatible server (vLLM), giving what the in-process engine gives. No Streamlit.

One 2-CPU server decodes a few dozen students' tokens at a time; a vLLM server on a GPU (or several behind a
load balancer) decodes hundreds, with continuous batching. The server's operator sets LECTURE_LAB_GENERATION_URL;
the Generation page then asks that server, through its OpenAI-compatible `/v1/completions`, for:
- a generation, streamed as server-sent events, each token with its log-probability and top alternatives
  (`logprobs`, token ids through vLLM's `return_tokens_as_token_ids`, so no two tokens share a key);
- the next-token distribution after a prompt (one token, `logprobs`);
- teacher-forced scores of expected answers (vLLM's `prompt_logprobs`: each prompt token's log-probability
  and rank, so "greedy would write the answer" is rank 1 at every answer token).

The numbers mean the same on both backends. vLLM's default `--logprobs-mode raw_logprobs` returns the
log-softmax of the model's logits before the repetition penalty, temperature, top-k and top-p: what the
in-process `GenerationStep.probability` and its alternatives are. What the server does not send is left out,
never estimated: the probability after the settings (`filtered_probability`, NaN here), the entropy of the whole
distribution (NaN) and the whole vocabulary's distribution (the sampling view).

Prompts go as token ids, tokenized here by the same tokenizer, so both backends read the same tokens; stop
reasons are read off the tokens as the in-process engine decides them (end-of-text, a newline, the length).
Closing a stream closes its connection, and vLLM aborts a request whose client has gone.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit

import numpy as np
import requests

from models.continuous_batching import AnswerScore, Distribution, GenerateRequest, ScoreRequest, TokenEvent
from models.registry import ModelEntry

GENERATION_URL_ENV = "LECTURE_LAB_GENERATION_URL"
GENERATION_KEY_ENV = "LECTURE_LAB_GENERATION_KEY"

# A server that is down, slow or wrong is reported within this many seconds, and generation moves in-process.
CHECK_TIMEOUT_S = 3.0
# The longest wait for the next streamed token (or a score) before the server counts as failed. Longer than the
# check's: a server that answers its model list at once may still queue a big class's requests for a while (vLLM's
# CPU build, 100 students at once on 2 cores: first tokens after up to 10 s; bench/bench_vllm.py).
STREAM_TIMEOUT_S = 30.0
# Prompts per scoring request: the k = 0..8 experiment sends one request per k.
SCORE_BATCH = 32


class GenerationServerError(RuntimeError):
    """The generation server cannot serve this request; the message says why, in a student's words."""


@dataclass(frozen=True)
class GenerationServer:
    """Where generation runs: an OpenAI-compatible base URL (with or without `/v1`) and an optional API key."""

    url: str
    api_key: str | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return self.url.rstrip("/").removesuffix("/v1")

    @property
    def host(self) -> str:
        """The server as the page names it: host and port, never a user name or password written into the URL."""
        parts = urlsplit(self.base)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def post(self, path: str, body: dict, *, stream: bool = False, timeout: float = STREAM_TIMEOUT_S):
        try:
            response = requests.post(
                self.base + path,
                json=body,
                headers=self.headers(),
                stream=stream,
                timeout=(CHECK_TIMEOUT_S, timeout),
            )
        except requests.RequestException as error:
            raise GenerationServerError(describe_failure(self, error)) from error
        if response.status_code != 200:
            message = _error_message(response)
            response.close()
            raise GenerationServerError(f"the generation server at {self.host} refused the request ({message})")
        return response


def parse_server(url: str | None, api_key: str | None = None) -> GenerationServer | None:
    """The configured server, or None when generation runs in-process. Raises ValueError on a malformed URL."""
    if not url or not url.strip():
        return None
    url = url.strip()
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port that is not a number
        port_ok = False
    if not port_ok or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{GENERATION_URL_ENV} must be an http(s) URL such as http://gpu-1:8000/v1")
    return GenerationServer(url, api_key or None)


def describe_failure(server: GenerationServer, error: Exception) -> str:
    if isinstance(error, requests.ConnectTimeout):
        return f"the generation server at {server.host} did not accept a connection in time"
    if isinstance(error, requests.ReadTimeout):
        return f"the generation server at {server.host} did not answer in time"
    if isinstance(error, requests.ConnectionError):
        return f"the generation server at {server.host} cannot be reached (nothing answers there, or it went down)"
    return f"the generation server at {server.host} failed ({type(error).__name__})"


def _error_message(response: requests.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    error = payload.get("error", payload) if isinstance(payload, dict) else payload
    detail = error.get("message") if isinstance(error, dict) else None
    return f"HTTP {response.status_code}: {str(detail or error)[:200]}"


# ---------------------------------------------------------------------------------------
# Is the server there, and serving this model?


@dataclass(frozen=True)
class ServerCheck:
    """What the server said it serves, or why it could not be asked. `context_lengths` per served model name."""

    server: GenerationServer
    models: tuple[str, ...]
    context_lengths: dict[str, int]
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def check_server(server: GenerationServer, timeout: float = CHECK_TIMEOUT_S) -> ServerCheck:
    """Ask `/v1/models`, giving up after `timeout` seconds in all (half to connect, half to answer)."""

    def failed(problem: str) -> ServerCheck:
        return ServerCheck(server, (), {}, problem)

    try:
        response = requests.get(server.base + "/v1/models", headers=server.headers(), timeout=_halves(timeout))
    except requests.RequestException as error:
        return failed(describe_failure(server, error))
    if response.status_code in (401, 403):
        return failed(f"the generation server at {server.host} refused the API key (HTTP {response.status_code})")
    if response.status_code != 200:
        return failed(f"the generation server at {server.host} answered {_error_message(response)}")
    try:
        listed = response.json()["data"]
        models = tuple(str(item["id"]) for item in listed)
        lengths = {str(item["id"]): int(item["max_model_len"]) for item in listed if item.get("max_model_len")}
    except (ValueError, KeyError, TypeError, AttributeError):
        return failed(f"{server.host} did not answer as an OpenAI-compatible server (no model list at /v1/models)")
    return ServerCheck(server, models, lengths, None)


def _halves(timeout: float) -> tuple[float, float]:
    """(connect, read) timeouts that add up to `timeout`: requests applies each separately."""
    return timeout / 2, timeout / 2


def served_name(entry: ModelEntry) -> str:
    """The name a server must serve a model under: its hub id, as `vllm serve gpt2` names it."""
    return entry.hub_id


def check_tokenizer(server: GenerationServer, entry: ModelEntry, tokenizer) -> str | None:
    """None when the server tokenizes a probe text as this app does; else what differs. A server without vLLM's
    `/tokenize` cannot be checked this way and passes."""
    probe = "sea otter => loutre de mer\nThe unicorns spoke perfect English."
    try:
        response = requests.post(
            server.base + "/tokenize",
            json={"model": served_name(entry), "prompt": probe, "add_special_tokens": False},
            headers=server.headers(),
            timeout=_halves(CHECK_TIMEOUT_S),
        )
    except requests.RequestException as error:
        return describe_failure(server, error)
    if response.status_code == 404:
        return None
    try:
        theirs = list(response.json()["tokens"])
    except (ValueError, KeyError, TypeError):
        return None
    ours = tokenizer(probe, add_special_tokens=False)["input_ids"]
    if theirs != ours:
        return (
            f"the generation server at {server.host} serves a model named {served_name(entry)!r} with another "
            "tokenizer, so its tokens would not be this model's"
        )
    return None


# ---------------------------------------------------------------------------------------
# The remote generator: the in-process generator's methods, answered by the server


@dataclass(frozen=True, eq=False)
class RemoteGenerator:
    """A causal LM served by `server`, with this app's copy of its tokenizer."""

    server: GenerationServer
    entry: ModelEntry
    tokenizer: Any
    context_length: int

    runs_here = False
    has_whole_distribution = False  # the server sends its top log-probabilities, not all 50,257

    @property
    def identity(self) -> str:
        return f"{self.entry.key}@{self.server.base}"

    @property
    def where(self) -> str:
        return f"the generation server at {self.server.host}"

    def token_events(self, request: GenerateRequest, settings) -> Iterator[TokenEvent]:
        """The in-process engine's token events, from a streamed completion. Stop reasons are decided here, as the
        engine decides them, from the tokens themselves."""
        body = {
            "model": served_name(self.entry),
            "prompt": list(request.prompt),
            "max_tokens": request.max_new_tokens,
            "stream": True,
            "logprobs": request.alternatives,
            "return_tokens_as_token_ids": True,
            "repetition_penalty": settings.repetition_penalty,
            **_sampling_fields(settings),
        }
        if request.stop_at_newline:
            body["stop_token_ids"] = list(newline_token_ids(self.tokenizer))
        response = self.server.post("/v1/completions", body, stream=True)
        generated = 0
        try:
            for chunk in _server_sent_events(self.server, response):
                arrived = time.perf_counter()
                logprobs = chunk["choices"][0].get("logprobs") or {}
                for token_key, logprob, top in zip(
                    logprobs.get("tokens") or [],
                    logprobs.get("token_logprobs") or [],
                    logprobs.get("top_logprobs") or [],
                ):
                    token = _token_id(token_key)
                    generated += 1
                    # The sampled token is added to the alternatives when it is not among them: keep the top ones.
                    ranked = sorted(((_token_id(key), value) for key, value in top.items()), key=lambda t: -t[1])
                    ranked = ranked[: request.alternatives]
                    yield TokenEvent(
                        token_id=token,
                        probability=math.exp(logprob),
                        filtered_probability=math.nan,
                        alternative_ids=np.array([t for t, _ in ranked], dtype=np.int64),
                        alternative_probs=np.exp(np.array([v for _, v in ranked], dtype=np.float64)).astype(np.float32),
                        at=arrived,
                        stop=self._stop_reason(token, generated, request),
                    )
        finally:
            # Closing the connection is the cancel: vLLM aborts a request whose client has gone.
            response.close()

    def _stop_reason(self, token: int, generated: int, request: GenerateRequest) -> str | None:
        if token == self.tokenizer.eos_token_id:
            return "eos"
        if request.stop_at_newline and "\n" in self.tokenizer.decode([token]):
            return "newline"
        if generated >= request.max_new_tokens:
            return "max_new_tokens"
        return None

    def scores(self, requests_: Sequence[ScoreRequest]) -> list[AnswerScore | Distribution]:
        """The in-process engine's `score`, from the server: answers from prompt log-probabilities, next-token
        distributions from one generated token's alternatives (entropy not available: NaN)."""
        results: list[AnswerScore | Distribution | None] = [None] * len(requests_)
        answers = [index for index, request in enumerate(requests_) if request.answer_length]
        for start in range(0, len(answers), SCORE_BATCH):
            batch = answers[start : start + SCORE_BATCH]
            for index, scored in zip(batch, self._answer_scores([requests_[i] for i in batch])):
                results[index] = scored
        for index, request in enumerate(requests_):
            if not request.answer_length:
                results[index] = self._next_token(request)
        return results  # type: ignore[return-value]

    def _answer_scores(self, batch: Sequence[ScoreRequest]) -> list[AnswerScore]:
        body = {
            "model": served_name(self.entry),
            "prompt": [list(request.prompt) for request in batch],
            "max_tokens": 1,
            "temperature": 0.0,
            "prompt_logprobs": 1,
        }
        payload = _json(self.server, self.server.post("/v1/completions", body))
        choices = sorted(payload["choices"], key=lambda choice: choice["index"])
        scored = []
        for request, choice in zip(batch, choices):
            positions = range(len(request.prompt) - request.answer_length, len(request.prompt))
            total, all_argmax, first_argmax = 0.0, True, -1
            for position in positions:
                entries = choice["prompt_logprobs"][position]
                mine = entries[str(request.prompt[position])]
                total += float(mine["logprob"])
                all_argmax &= int(mine["rank"]) == 1
                if position == positions[0]:
                    first_argmax = next(int(token) for token, entry in entries.items() if int(entry["rank"]) == 1)
            scored.append(AnswerScore(log_probability=total, all_argmax=all_argmax, first_argmax=first_argmax))
        return scored

    def _next_token(self, request: ScoreRequest) -> Distribution:
        body = {
            "model": served_name(self.entry),
            "prompt": list(request.prompt),
            "max_tokens": 1,
            "temperature": 0.0,
            "logprobs": request.top,
            "return_tokens_as_token_ids": True,
        }
        payload = _json(self.server, self.server.post("/v1/completions", body))
        top = payload["choices"][0]["logprobs"]["top_logprobs"][0]
        ranked = sorted(((_token_id(key), value) for key, value in top.items()), key=lambda t: -t[1])[: request.top]
        return Distribution(
            ids=np.array([token for token, _ in ranked], dtype=np.int64),
            probs=np.exp(np.array([value for _, value in ranked], dtype=np.float64)).astype(np.float32),
            entropy_bits=math.nan,
        )


@lru_cache(maxsize=8)
def newline_token_ids(tokenizer) -> tuple[int, ...]:
    """Every token whose text holds a line break: the in-process engine's newline stop, as vLLM stop token ids.
    Once per tokenizer (decoding the whole vocabulary takes a moment)."""
    pieces = tokenizer.batch_decode([[token] for token in range(len(tokenizer))])
    return tuple(token for token, piece in enumerate(pieces) if "\n" in piece)


def _sampling_fields(settings) -> dict:
    """Greedy as temperature 0. Top-p 0 (keep the single most likely token) is greedy too: vLLM refuses p = 0."""
    if settings.greedy or settings.top_p == 0.0:
        return {"temperature": 0.0}
    return {
        "temperature": settings.temperature,
        "top_k": settings.top_k or -1,
        "top_p": settings.top_p,
        "seed": settings.seed,
    }


def _token_id(key: str) -> int:
    """'token_id:464' (vLLM's `return_tokens_as_token_ids`) -> 464."""
    return int(str(key).rsplit(":", 1)[-1])


def _json(server: GenerationServer, response: requests.Response) -> dict:
    try:
        payload = response.json()
    except (ValueError, requests.RequestException) as error:
        raise GenerationServerError(f"the generation server at {server.host} sent an unreadable answer") from error
    finally:
        response.close()
    if "choices" not in payload:
        raise GenerationServerError(f"the generation server at {server.host} sent no choices")
    return payload


def _server_sent_events(server: GenerationServer, response: requests.Response) -> Iterator[dict]:
    """The JSON events of a streamed completion, up to `data: [DONE]`; a broken stream raises GenerationServerError."""
    try:
        for line in response.iter_lines(decode_unicode=True):
            if not line or not line.startswith("data:"):
                continue
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                return
            event = json.loads(data)
            if "error" in event:
                error = event["error"]
                detail = error.get("message") if isinstance(error, dict) else error
                raise GenerationServerError(f"the generation server at {server.host} stopped with an error ({detail})")
            yield event
    except requests.RequestException as error:
        # Reset, refused or cut short: to a student it is one thing, the server went away mid-generation.
        raise GenerationServerError(
            f"the connection to the generation server at {server.host} broke off in the middle of a generation "
            "(the server may have gone down)"
        ) from error
    except ValueError as error:
        raise GenerationServerError(
            f"the generation server at {server.host} sent something unreadable in the middle of a generation"
        ) from error
    raise GenerationServerError(
        f"the connection to the generation server at {server.host} broke off in the middle of a generation "
        "(the stream ended before its end mark)"
    )
