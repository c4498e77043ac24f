"""Generation on a vLLM server: the same tokens and numbers as the in-process engine on the same weights, a Stop
that cancels the server's request, and every way a server can fail reported in words.

The comparisons run against a real vLLM (CPU build) serving the same random-weight GPT-2 that this process loads
(tests/generation_server.py). The failure cases use small local stand-ins: a closed port, a port that never
answers, an HTTP server serving another model or another tokenizer, a stream that breaks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from models import generation as gen
from models.remote_generation import (
    CHECK_TIMEOUT_S,
    GenerationServer,
    GenerationServerError,
    RemoteGenerator,
    check_server,
    parse_server,
)
from tests.generation_server import free_port

COURSE_PROMPT = (
    "Translate English to French:\nsea otter => loutre de mer\npeppermint => menthe poivrée\n"
    "plush girafe => girafe peluche\ncheese =>"
)
UNICORN = (
    "In a shocking finding, scientist discovered a herd of unicorns living in a remote, previously unexplored valley"
)
LOG_TOLERANCE = 1e-4


def remote_for(server_url: str, loaded) -> RemoteGenerator:
    return RemoteGenerator(parse_server(server_url), loaded.entry, loaded.tokenizer, loaded.entry.context_length)


def prepared(loaded, text: str, max_new: int) -> gen.PreparedPrompt:
    return gen.prepare_prompt(loaded.tokenizer, text, max_new_tokens=max_new, context_length=1024)


def reference_log_probs(loaded, prompt_ids, new_ids) -> np.ndarray:
    """(new tokens, vocab): the model's own log-softmax before each new token, from one forward pass."""
    ids = torch.tensor([list(prompt_ids) + list(new_ids)])
    with torch.no_grad():
        logits = loaded.model(ids).logits[0, len(prompt_ids) - 1 : -1].double()
    return torch.log_softmax(logits, dim=-1).numpy()


def assert_steps_match_reference(loaded, prompt, result) -> None:
    """Each step's probability and top alternatives are the model's own, before any decoding setting."""
    reference = reference_log_probs(loaded, prompt.ids.tolist(), result.token_ids.tolist())
    for step, row in zip(result.steps, reference):
        assert math.log(step.probability) == pytest.approx(row[step.token_id], abs=LOG_TOLERANCE)
        best = np.argsort(-row)[: len(step.alternative_ids)]
        assert step.alternative_ids.tolist() == best.tolist()
        np.testing.assert_allclose(np.log(step.alternative_probs), row[best], atol=LOG_TOLERANCE)


# ---------------------------------------------------------------------------------------
# Against a real vLLM server


@pytest.mark.parametrize(
    "text, settings",
    [
        (COURSE_PROMPT, gen.DecodingSettings(max_new_tokens=12)),
        (COURSE_PROMPT, gen.DecodingSettings(max_new_tokens=30, stop_at_newline=True)),
        (UNICORN, gen.DecodingSettings(max_new_tokens=40, repetition_penalty=1.3)),
    ],
    ids=["greedy", "stop-at-newline", "repetition-penalty"],
)
def test_greedy_tokens_and_log_probabilities_equal_the_in_process_engine(vllm_server, server_gpt2, text, settings):
    remote = remote_for(vllm_server.url, server_gpt2)
    prompt = prepared(server_gpt2, text, settings.max_new_tokens)
    here = gen.generate(server_gpt2, prompt, settings)
    there = gen.generate(remote, prompt, settings)
    assert there.token_ids.tolist() == here.token_ids.tolist()
    assert there.stop_reason == here.stop_reason
    for mine, theirs in zip(here.steps, there.steps):
        assert theirs.alternative_ids.tolist() == mine.alternative_ids.tolist()
        np.testing.assert_allclose(np.log(theirs.alternative_probs), np.log(mine.alternative_probs), atol=LOG_TOLERANCE)
        assert math.log(theirs.probability) == pytest.approx(math.log(mine.probability), abs=LOG_TOLERANCE)
        assert math.isnan(theirs.filtered_probability)  # not sent by the server: left out, not estimated


def test_a_newline_stop_ends_on_the_line_break_as_in_process(vllm_server, server_gpt2):
    remote = remote_for(vllm_server.url, server_gpt2)
    settings = gen.DecodingSettings(max_new_tokens=60, stop_at_newline=True)
    # Several prompts: on random weights a newline comes at some step for some of them.
    stops = []
    for query in ("cheese", "plush girafe", "moon"):
        prompt = prepared(server_gpt2, COURSE_PROMPT.replace("cheese", query), 60)
        here, there = gen.generate(server_gpt2, prompt, settings), gen.generate(remote, prompt, settings)
        assert there.token_ids.tolist() == here.token_ids.tolist()
        assert there.stop_reason == here.stop_reason
        stops.append(there.stop_reason)
    assert set(stops) <= {"newline", "eos", "max_new_tokens"}


def test_sampled_tokens_carry_the_models_probabilities_before_the_settings(vllm_server, server_gpt2):
    """vLLM's default raw_logprobs: the numbers mean what the in-process `probability` means, whatever the
    temperature, top-k, top-p and penalty."""
    remote = remote_for(vllm_server.url, server_gpt2)
    settings = gen.DecodingSettings(
        sample=True, temperature=1.7, top_k=40, top_p=0.9, repetition_penalty=1.2, max_new_tokens=25, seed=5
    )
    prompt = prepared(server_gpt2, UNICORN, settings.max_new_tokens)
    result = gen.generate(remote, prompt, settings)
    assert len(result.steps) > 1
    assert_steps_match_reference(server_gpt2, prompt, result)


def test_seeded_sampling_repeats_and_another_seed_differs(vllm_server, server_gpt2):
    remote = remote_for(vllm_server.url, server_gpt2)
    prompt = prepared(server_gpt2, UNICORN, 30)
    settings = gen.DecodingSettings(sample=True, temperature=1.0, top_k=0, max_new_tokens=30, seed=11)
    first = gen.generate(remote, prompt, settings)
    again = gen.generate(remote, prompt, settings)
    other = gen.generate(remote, prompt, dataclasses.replace(settings, seed=12))
    assert again.token_ids.tolist() == first.token_ids.tolist()
    assert other.token_ids.tolist() != first.token_ids.tolist()


def test_next_token_distribution_is_the_models_top_ten_without_an_entropy(vllm_server, server_gpt2):
    remote = remote_for(vllm_server.url, server_gpt2)
    prompt = prepared(server_gpt2, COURSE_PROMPT, 10)
    here = gen.next_token_distribution(server_gpt2, prompt)
    there = gen.next_token_distribution(remote, prompt)
    assert there.ids.tolist() == here.ids.tolist()
    np.testing.assert_allclose(np.log(there.probs), np.log(here.probs), atol=LOG_TOLERANCE)
    assert there.pieces == here.pieces
    assert math.isnan(there.entropy_bits)  # the server sends no whole distribution: not available, not faked
    assert not remote.has_whole_distribution


@pytest.mark.parametrize("k", [0, 1, 4])
def test_scoring_the_expected_answers_equals_the_in_process_scores(vllm_server, server_gpt2, k):
    remote = remote_for(vllm_server.url, server_gpt2)
    labelled = gen.load_labelled_sets()[0]
    here = gen.score_shots(server_gpt2, labelled, k)
    there = gen.score_shots(remote, labelled, k)
    np.testing.assert_allclose(np.log(there.probabilities), np.log(here.probabilities), atol=LOG_TOLERANCE * 10)
    assert there.correct.tolist() == here.correct.tolist()
    assert there.first_guesses == here.first_guesses


def test_closing_a_stream_cancels_the_request_on_the_server(vllm_server, server_gpt2):
    remote = remote_for(vllm_server.url, server_gpt2)
    settings = gen.DecodingSettings(max_new_tokens=200)
    prompt = prepared(server_gpt2, UNICORN, 200)
    # Greedy on these weights runs the whole 200 tokens (no end-of-text), so a cancelled request is one that
    # produced fewer.
    assert gen.generate(server_gpt2, prompt, settings).stop_reason == "max_new_tokens"
    before = vllm_server.metric("vllm:generation_tokens_total")
    stream = gen.stream_generation(remote, prompt, settings)
    first = next(stream)
    stream.close()
    assert first.index == 0
    deadline = time.monotonic() + 30
    while vllm_server.metric("vllm:num_requests_running") > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert vllm_server.metric("vllm:num_requests_running") == 0
    assert vllm_server.metric("vllm:generation_tokens_total") - before < settings.max_new_tokens


def test_the_server_names_its_model_and_context(vllm_server):
    check = check_server(parse_server(vllm_server.url + "/v1"))
    assert check.ok, check.problem
    assert check.models == ("gpt2",)
    assert check.context_lengths == {"gpt2": 1024}


def test_a_server_cut_mid_generation_raises_a_message_not_a_traceback(server_line, server_gpt2):
    remote = remote_for(server_line.url, server_gpt2)
    prompt = prepared(server_gpt2, UNICORN, 200)
    stream = gen.stream_generation(remote, prompt, gen.DecodingSettings(max_new_tokens=200))
    next(stream)
    server_line.cut()
    with pytest.raises(GenerationServerError, match="broke off in the middle of a generation"):
        for _ in stream:
            pass


# ---------------------------------------------------------------------------------------
# Stand-ins for servers that fail


def test_a_malformed_url_is_refused_with_an_example():
    with pytest.raises(ValueError, match="http://gpu-1:8000/v1"):
        parse_server("gpu-1:8000")
    assert parse_server("") is None
    assert parse_server("   ") is None
    server = parse_server("https://gen.example.org/v1/", "secret")
    assert server.base == "https://gen.example.org"
    assert "secret" not in repr(server)  # the key never reaches a log line or the page
    with pytest.raises(ValueError):
        parse_server("http://gpu-1:eighty/v1")
    # A password written into the URL is sent to the server, never shown: the page names host and port only.
    assert parse_server("http://teacher:hunter2@gpu-1:8000/v1").host == "gpu-1:8000"


def test_nothing_listening_is_reported_as_unreachable():
    check = check_server(GenerationServer(f"http://127.0.0.1:{free_port()}"))
    assert not check.ok
    assert "cannot be reached" in check.problem


def test_a_server_that_never_answers_is_reported_within_the_timeout():
    assert CHECK_TIMEOUT_S <= 3.0  # the promise to a waiting class: down or slow is said within 3 s
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections, never answers
        check = check_server(GenerationServer(f"http://127.0.0.1:{silent.getsockname()[1]}"), timeout=0.5)
    assert not check.ok
    assert "did not answer in time" in check.problem


class FakeServer:
    """An OpenAI-compatible stand-in: `routes` maps a path to (status, body) or to a list of raw SSE lines."""

    def __init__(self, routes: dict) -> None:
        routes_ = routes

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _answer(self) -> None:
                route = routes_.get(self.path.split("?")[0])
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                if isinstance(route, list):  # a stream that may break off
                    self.send_response(200)
                    self.send_header("content-type", "text/event-stream")
                    self.end_headers()
                    for line in route:
                        self.wfile.write(line.encode() + b"\n\n")
                        self.wfile.flush()
                    return
                status, body = route
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            do_GET = _answer
            do_POST = _answer

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def models_route(*names: str):
    return 200, {"object": "list", "data": [{"id": name, "max_model_len": 512} for name in names]}


@pytest.fixture
def fake_server():
    servers = []

    def start(routes: dict) -> FakeServer:
        servers.append(FakeServer(routes))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_a_server_serving_another_model_is_named(fake_server, tiny_gpt2):
    from ui.generation_server import ServerWatch

    fake = fake_server({"/v1/models": models_route("meta-llama/Llama-3.2-1B")})
    problem = ServerWatch().problem(parse_server(fake.url), tiny_gpt2.entry, tiny_gpt2.tokenizer)
    assert problem == f"the generation server at {fake.url[7:]} serves 'meta-llama/Llama-3.2-1B', not 'gpt2'"


def test_a_server_with_another_tokenizer_is_refused(fake_server, tiny_gpt2):
    from ui.generation_server import ServerWatch

    fake = fake_server({"/v1/models": models_route("gpt2"), "/tokenize": (200, {"tokens": [1, 2, 3]})})
    problem = ServerWatch().problem(parse_server(fake.url), tiny_gpt2.entry, tiny_gpt2.tokenizer)
    assert "another tokenizer" in problem


def test_a_server_with_the_right_model_passes_and_its_shorter_context_is_kept(fake_server, tiny_gpt2):
    from ui.generation_server import ServerWatch

    ours = tiny_gpt2.tokenizer("sea otter => loutre de mer\nThe unicorns spoke perfect English.")["input_ids"]
    fake = fake_server({"/v1/models": models_route("gpt2"), "/tokenize": (200, {"tokens": ours})})
    watch = ServerWatch()
    assert watch.problem(parse_server(fake.url), tiny_gpt2.entry, tiny_gpt2.tokenizer) is None
    assert watch.context_length(tiny_gpt2.entry) == 512


def test_a_model_list_with_garbage_in_it_is_a_problem_not_a_crash(fake_server):
    fake = fake_server({"/v1/models": (200, {"data": [{"id": "gpt2", "max_model_len": "lots"}]})})
    check = check_server(parse_server(fake.url))
    assert "did not answer as an OpenAI-compatible server" in check.problem


def test_a_refused_key_is_named(fake_server):
    fake = fake_server({"/v1/models": (401, {"error": {"message": "bad key"}})})
    check = check_server(parse_server(fake.url, "wrong"))
    assert "refused the API key" in check.problem


def test_the_watch_remembers_a_failure_until_retry(fake_server, tiny_gpt2):
    from ui.generation_server import ServerWatch

    ours = tiny_gpt2.tokenizer("sea otter => loutre de mer\nThe unicorns spoke perfect English.")["input_ids"]
    fake = fake_server({"/v1/models": models_route("gpt2"), "/tokenize": (200, {"tokens": ours})})
    server, watch = parse_server(fake.url), ServerWatch()
    watch.report_failure(server, "the generation server went down")
    assert watch.problem(server, tiny_gpt2.entry, tiny_gpt2.tokenizer) == "the generation server went down"
    watch.forget()  # Retry
    assert watch.problem(server, tiny_gpt2.entry, tiny_gpt2.tokenizer) is None


@pytest.mark.parametrize(
    "lines, words",
    [
        (['data: {"error": {"message": "out of KV cache"}}'], "out of KV cache"),
        (['data: {"choices": [{"logprobs": null}]}'], "stream ended before its end mark"),
        (["data: {not json"], "sent something unreadable in the middle of a generation"),
    ],
    ids=["error-event", "no-done", "garbage"],
)
def test_a_broken_stream_raises_a_message(fake_server, tiny_gpt2, lines, words):
    fake = fake_server({"/v1/models": models_route("gpt2"), "/v1/completions": lines})
    remote = remote_for(fake.url, tiny_gpt2)
    prompt = prepared(tiny_gpt2, COURSE_PROMPT, 10)
    with pytest.raises(GenerationServerError, match=words):
        list(gen.stream_generation(remote, prompt, gen.DecodingSettings(max_new_tokens=10)))


def test_a_refused_request_says_what_the_server_said(fake_server, tiny_gpt2):
    fake = fake_server({"/v1/completions": (400, {"error": {"message": "max_tokens is too large"}})})
    remote = remote_for(fake.url, tiny_gpt2)
    with pytest.raises(GenerationServerError, match="max_tokens is too large"):
        gen.next_token_distribution(remote, prepared(tiny_gpt2, COURSE_PROMPT, 10))
