"""The Generation page on a vLLM server, in Streamlit's AppTest: the same page and the same tokens as in-process,
what the server cannot give said as such, and a server that goes away reported with the page still working."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from models.remote_generation import GENERATION_URL_ENV
from tests.conftest import REPO_ROOT
from tests.pages import helpers
from tests.pages.helpers import plotly_numbers, texts

SCRIPT = "generation.py"


@pytest.fixture
def server_models(server_model_dir, monkeypatch, fresh_app_state):
    """The app reads the vLLM server's weights from its model folder; the server watch starts afresh."""
    from ui.generation_server import _tokenizer, server_watch

    monkeypatch.setenv("LECTURE_LAB_MODEL_DIR", str(server_model_dir))
    monkeypatch.delenv(GENERATION_URL_ENV, raising=False)
    server_watch.clear()
    _tokenizer.clear()
    yield server_model_dir
    server_watch.clear()


def shown(elements) -> str:
    """Messages as a student reads them: the Markdown escapes that keep a server's words literal taken out."""
    return re.sub(r"\\(.)", r"\1", texts(elements))


def use_server(monkeypatch, url: str | None) -> None:
    from ui.generation_server import server_watch

    if url is None:
        monkeypatch.delenv(GENERATION_URL_ENV, raising=False)
    else:
        monkeypatch.setenv(GENERATION_URL_ENV, url)
    server_watch.clear()


def generated(query: dict[str, str]) -> tuple[AppTest, list[int]]:
    at = helpers.run_page(SCRIPT, query)
    at.button(key="gen__generate").click().run()
    assert not at.exception
    state = at.session_state["gen__result"]
    return at, [step.token_id for step in state["steps"]]


def chart(at: AppTest, words: str) -> dict:
    return next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if words in c.proto.spec)


@pytest.mark.parametrize(
    "query",
    [
        {"max_new": "15", "stop_nl": "0"},
        {"preset": "unicorn", "max_new": "30", "rep": "1.3"},
    ],
    ids=["course-prompt", "unicorn-with-penalty"],
)
def test_the_page_generates_the_same_tokens_on_the_server_and_in_process(
    server_models, vllm_server, monkeypatch, query
):
    use_server(monkeypatch, vllm_server.url + "/v1")
    remote, remote_tokens = generated(query)
    assert f"Tokens are computed by the generation server at 127.0.0.1:{vllm_server.port}." in texts(remote.caption)
    use_server(monkeypatch, None)
    local, local_tokens = generated(query)
    assert "Tokens are computed by this app's server (CPU)." in texts(local.caption)
    assert remote_tokens == local_tokens
    assert len(remote_tokens) > 1
    # The per-token chart shows the same probabilities.
    np.testing.assert_allclose(
        plotly_numbers(chart(remote, "Each token's probability")["data"][0]["y"]),
        plotly_numbers(chart(local, "Each token's probability")["data"][0]["y"]),
        atol=1e-4,
    )


def test_what_the_server_does_not_send_is_said_not_faked(server_models, vllm_server, monkeypatch):
    use_server(monkeypatch, vllm_server.url)
    at = helpers.run_page(SCRIPT, {"decode": "sample", "seed": "3"})
    assert not at.exception
    assert "sends only the most likely ones" in texts(at.info)  # the whole-vocabulary sampling view
    next_token = chart(at, "Next token")
    assert "entropy not sent by the generation server" in json.dumps(next_token["layout"])
    assert "a seed gives the same text every time there" in texts(at.caption)


def test_a_seeded_sample_on_the_server_repeats(server_models, vllm_server, monkeypatch):
    use_server(monkeypatch, vllm_server.url)
    query = {"preset": "unicorn", "decode": "sample", "seed": "42", "max_new": "20", "temp": "1.3", "top_k": "0"}
    _, first = generated(query)
    _, again = generated(query)
    _, other = generated(dict(query, seed="43"))
    assert first == again
    assert first != other


def test_the_k_experiment_scores_the_same_on_the_server(server_models, vllm_server, monkeypatch):
    curves = []
    for url in (vllm_server.url, None):
        use_server(monkeypatch, url)
        at = helpers.run_page(SCRIPT, {"set": "sentiment"})
        at.button(key="gen__experiment_run").click().run()
        assert not at.exception
        curves.append(chart(at, "In-context learning"))
    for remote_trace, local_trace in zip(curves[0]["data"], curves[1]["data"]):
        np.testing.assert_allclose(plotly_numbers(remote_trace["y"]), plotly_numbers(local_trace["y"]), atol=1e-4)


def test_a_server_that_is_down_is_named_and_generation_runs_here_until_retry(server_models, server_line, monkeypatch):
    use_server(monkeypatch, server_line.url)
    server_line.cut()
    at, down_tokens = generated({"max_new": "12", "stop_nl": "0"})
    warning = shown(at.warning)
    assert "Generating in this app instead" in warning
    assert f"the generation server at 127.0.0.1:{server_line.port} cannot be reached" in warning
    assert "Tokens are computed by this app's server (CPU)." in texts(at.caption)
    assert len(down_tokens) == 12

    server_line.restore()
    at.button(key="gen__retry_server").click().run()
    assert not at.exception
    assert "Generating in this app instead" not in shown(at.warning)
    assert f"Tokens are computed by the generation server at 127.0.0.1:{server_line.port}." in texts(at.caption)
    at.button(key="gen__generate").click().run()
    assert [step.token_id for step in at.session_state["gen__result"]["steps"]] == down_tokens


def test_a_malformed_server_setting_is_named_and_generation_runs_here(server_models, monkeypatch):
    use_server(monkeypatch, "gpu-1:8000")
    at, tokens = generated({"max_new": "5", "stop_nl": "0"})
    assert "must be an http(s) URL such as http://gpu-1:8000/v1" in shown(at.warning)
    assert len(tokens) == 5


def test_the_sidebar_says_where_generation_runs(server_models, vllm_server, monkeypatch):
    use_server(monkeypatch, vllm_server.url)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.query_params["page"] = "generation"
    at.switch_page("demos/generation.py").run()
    assert not at.exception
    assert f"**Generation runs** on the generation server at 127.0.0.1:{vllm_server.port}." in " ".join(
        c.value for c in at.sidebar.caption
    )


def test_shots_side_by_side_on_the_server_equal_in_process(server_models, vllm_server, monkeypatch):
    answers = []
    for url in (vllm_server.url, None):
        use_server(monkeypatch, url)
        at = helpers.run_page(SCRIPT, {"max_new": "8"})
        at.button(key="gen__compare").click().run()
        assert not at.exception
        state = at.session_state["gen__comparison"]
        answers.append(
            (
                [result.token_ids.tolist() for result in state["results"]],
                state["scores"].correct.tolist(),
                np.log(state["scores"].probabilities),
            )
        )
    (remote_tokens, remote_correct, remote_logp), (local_tokens, local_correct, local_logp) = answers
    assert remote_tokens == local_tokens
    assert remote_correct == local_correct
    np.testing.assert_allclose(remote_logp, local_logp, atol=1e-3)
