"""The fake vLLM over real HTTP: each endpoint rule of docs/architecture.md §10.4 (sandbox/vllm)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.vllm import FakeVllm, serve

MODEL = "sandbox/echo-model"
ROOT = "Qwen/Qwen3.6-35B-A3B-FP8"
API_KEY = "sk-sandbox-vllm-key"
REPO = Path(__file__).resolve().parents[2]
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def request(
    url: str, body: Any = None, key: str | None = None, method: str | None = None
) -> tuple[int, bytes, dict[str, str]]:
    """One HTTP request: (status, body, headers), errors included."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with _OPENER.open(req, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def metric(base_url: str, name: str) -> float:
    """The value of `name{...model_name=MODEL...}` on /metrics."""
    _, body, _ = request(base_url + "/metrics")
    for line in body.decode().splitlines():
        if line.startswith(name + "{") and f'model_name="{MODEL}"' in line:
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} for {MODEL} not on /metrics:\n{body.decode()}")


@pytest.fixture
def vllm() -> Iterator[FakeVllm]:
    server = serve("127.0.0.1", 0, MODEL, root=ROOT, max_model_len=4096)
    assert server.listening.wait(5)
    yield server
    server.close()


@pytest.fixture
def keyed() -> Iterator[FakeVllm]:
    server = serve("127.0.0.1", 0, MODEL, api_key=API_KEY)
    assert server.listening.wait(5)
    yield server
    server.close()


def chat(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": messages, **extra}


def test_health_is_200_with_an_empty_body(vllm: FakeVllm) -> None:
    status, body, _ = request(vllm.url + "/health")
    assert (status, body) == (200, b"")


def test_models_lists_the_served_name_with_vllm_fields(vllm: FakeVllm) -> None:
    status, body, _ = request(vllm.url + "/v1/models")
    document = json.loads(body)
    assert status == 200
    assert document["object"] == "list"
    [model] = document["data"]
    assert (model["id"], model["object"], model["owned_by"]) == (MODEL, "model", "vllm")
    assert (model["root"], model["parent"], model["max_model_len"]) == (ROOT, None, 4096)
    assert isinstance(model["created"], int) and model["permission"][0]["object"] == "model_permission"


def test_models_json_is_compact_like_fastapi(vllm: FakeVllm) -> None:
    _, body, _ = request(vllm.url + "/v1/models")
    assert body.startswith(b'{"object":"list","data":[{"id":"' + MODEL.encode() + b'"')


def test_chat_usage_counts_whitespace_words() -> None:
    """prompt = words of every message; answer = "echo: " + last user message; completion = its words."""
    server = serve("127.0.0.1", 0, MODEL)
    try:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "hello  big\nworld"}]},
        ]
        status, body, _ = request(server.url + "/v1/chat/completions", chat(messages))
    finally:
        server.close()
    document = json.loads(body)
    assert status == 200, body
    assert document["object"] == "chat.completion" and document["model"] == MODEL
    assert document["choices"][0]["message"] == {
        "role": "assistant",
        "content": "echo: hello big world",
        "reasoning_content": None,
        "tool_calls": [],
    }
    assert document["choices"][0]["finish_reason"] == "stop"
    assert document["usage"]["prompt_tokens"] == 3 + 2 + 1 + 3
    assert document["usage"]["completion_tokens"] == 4
    assert document["usage"]["total_tokens"] == 13


def test_chat_max_tokens_cuts_the_answer_with_finish_reason_length(vllm: FakeVllm) -> None:
    messages = [{"role": "user", "content": "one two three four"}]
    _, body, _ = request(vllm.url + "/v1/chat/completions", chat(messages, max_tokens=2))
    document = json.loads(body)
    assert document["choices"][0]["message"]["content"] == "echo: one"
    assert document["choices"][0]["finish_reason"] == "length"
    assert document["usage"]["completion_tokens"] == 2


def test_chat_unknown_model_is_404_with_vllm_error_body(vllm: FakeVllm) -> None:
    body = {"model": "other", "messages": [{"role": "user", "content": "hi"}]}
    status, answer, _ = request(vllm.url + "/v1/chat/completions", body)
    assert status == 404
    assert json.loads(answer)["error"] == {
        "message": "The model `other` does not exist.",
        "type": "NotFoundError",
        "param": "model",
        "code": 404,
    }


def test_chat_stream_sends_chunks_usage_and_done(vllm: FakeVllm) -> None:
    body = chat([{"role": "user", "content": "a b"}], stream=True, stream_options={"include_usage": True})
    status, answer, headers = request(vllm.url + "/v1/chat/completions", body)
    events = [line[len("data: ") :] for line in answer.decode().splitlines() if line.startswith("data: ")]
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "echo: a b"
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "total_tokens": 5, "completion_tokens": 3}


def test_metrics_token_counters_grow_by_each_answers_usage(vllm: FakeVllm) -> None:
    before = (metric(vllm.url, "vllm:prompt_tokens_total"), metric(vllm.url, "vllm:generation_tokens_total"))
    _, body, _ = request(vllm.url + "/v1/chat/completions", chat([{"role": "user", "content": "x y z"}]))
    usage = json.loads(body)["usage"]
    after = (metric(vllm.url, "vllm:prompt_tokens_total"), metric(vllm.url, "vllm:generation_tokens_total"))
    assert after == (before[0] + usage["prompt_tokens"], before[1] + usage["completion_tokens"])


def test_metrics_has_running_gauge_labelled_model_name(vllm: FakeVllm) -> None:
    status, body, headers = request(vllm.url + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert "# TYPE vllm:num_requests_running gauge" in body.decode()
    assert metric(vllm.url, "vllm:num_requests_running") == 0.0


def test_version_reports_a_version(vllm: FakeVllm) -> None:
    status, body, _ = request(vllm.url + "/version")
    assert status == 200 and set(json.loads(body)) == {"version"}


@pytest.mark.parametrize(
    ("path", "key", "expected"),
    [
        ("/v1/models", None, 401),
        ("/v1/models", "wrong", 401),
        ("/v1/models", API_KEY, 200),
        ("/health", None, 200),
        ("/metrics", None, 200),
        ("/version", None, 200),
        ("/load", None, 200),
    ],
    ids=[
        "v1-no-key",
        "v1-wrong-key",
        "v1-right-key",
        "health-open",
        "metrics-open",
        "version-open",
        "load-open",
    ],
)
def test_api_key_guards_only_v1_paths(keyed: FakeVllm, path: str, key: str | None, expected: int) -> None:
    status, body, _ = request(keyed.url + path, key=key)
    assert status == expected, body
    if expected == 401:
        assert json.loads(body) == {"error": "Unauthorized"}


def test_api_key_guards_chat_completions(keyed: FakeVllm) -> None:
    status, body, _ = request(keyed.url + "/v1/chat/completions", chat([{"role": "user", "content": "hi"}]))
    assert (status, json.loads(body)) == (401, {"error": "Unauthorized"})


def test_api_key_does_not_guard_options(keyed: FakeVllm) -> None:
    status, _, _ = request(keyed.url + "/v1/models", method="OPTIONS")
    assert status != 401


def test_port_refuses_connections_during_startup_then_serves() -> None:
    server = serve("127.0.0.1", 0, MODEL, startup_seconds=1.0)
    try:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.host, server.port), timeout=2).close()
        assert server.listening.wait(5)
        status, _, _ = request(server.url + "/health")
        assert status == 200
    finally:
        server.close()


def test_binds_exactly_the_address_it_is_told() -> None:
    server = serve("127.100.254.7", 0, MODEL)
    try:
        assert server.listening.wait(5)
        assert server.host == "127.100.254.7"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
    finally:
        server.close()


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "::1", "", "localhost"])
def test_refuses_addresses_outside_loopback_v4(host: str) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.0/8"):
        serve(host, 0, MODEL)


def test_cli_reads_vllm_api_key_from_environment_and_writes_exit_code(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    exit_file = tmp_path / "exit"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VLLM_API_KEY": API_KEY,
        "SANDBOX_VLLM_EXIT_FILE": str(exit_file),
    }
    argv = [
        sys.executable,
        "-m",
        "sandbox.vllm",
        "vllm",
        "serve",
        ROOT,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--served-model-name",
        MODEL,
        "--gpu-memory-utilization",
        "0.8",
    ]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 10
        while True:
            try:
                if request(base + "/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, "fake vLLM CLI did not come up"
                time.sleep(0.05)
        assert request(base + "/v1/models")[0] == 401
        _, body, _ = request(base + "/v1/models", key=API_KEY)
        assert json.loads(body)["data"][0]["root"] == ROOT
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=10)[0].decode()
    assert process.returncode == 0, output
    assert exit_file.read_text().strip() == "0"
    assert "Application startup complete." in output
