"""A fake vLLM OpenAI-compatible server: the endpoints, auth rule and startup behaviour of `vllm serve`.

Emulates vLLM's OpenAI-compatible server as the GB10 deploy runs it (docs/architecture.md §10.4) without
a model or a GPU, on the sandbox's HTTP scaffold (sandbox/http.py):

| Request | Answer |
|---|---|
| `GET /health` | 200, empty body |
| `GET /ping`, `POST /ping` | 200, empty body (SageMaker health) |
| `GET /version` | `{"version": VERSION}` |
| `GET /load` | `{"server_load": <requests in flight>}` |
| `GET /metrics` | Prometheus text: `vllm:num_requests_running`, `vllm:num_requests_waiting`, `vllm:prompt_tokens_total`, `vllm:generation_tokens_total`, `vllm:request_success_total`, each labelled `model_name` (and `engine="0"`, as vLLM v1 does) |
| `GET /v1/models` | `{"object": "list", "data": [{"id": <served name>, "owned_by": "vllm", "root", "max_model_len", ...}]}` |
| `POST /v1/chat/completions` | a deterministic echo answer with real token counts in `usage`; `stream: true` answers SSE chunks |

- **Auth.** With an API key (`--api-key`, else the `VLLM_API_KEY` environment variable, as vLLM reads
  it), only paths starting `/v1`, `/v2`, `/inference` or `/cohere` need `Authorization: Bearer <key>`
  (OPTIONS is never checked); anything else, `/health` and `/metrics` included, stays open. A missing
  or wrong key is 401 `{"error": "Unauthorized"}`; keys are compared as SHA-256 digests in constant
  time, like vLLM's `AuthenticationMiddleware`.
- **Token rule (sandbox only).** A "token" is a whitespace-separated word: `prompt_tokens` is the sum
  of `len(text.split())` over every message's text (string content, or the `text` of each content
  part); the answer is `"echo: " + <the last user message's words joined by single spaces>`, cut to
  `max_tokens` (or `max_completion_tokens`) words with `finish_reason: "length"`, else `"stop"`;
  `completion_tokens` is the answer's word count. The metrics counters add exactly these numbers.
- **Startup.** The socket is bound at once but `listen()` is only called after `startup_seconds`, so
  clients get *connection refused* while the "model loads", exactly as with vLLM; the log then prints
  `Application startup complete.` and `Uvicorn running on http://H:P`.
- **Binding.** Binds exactly the `--host` it is given, and only 127.0.0.0/8 addresses: vLLM's default
  (no `--host`: every interface) and `0.0.0.0` are refused with a message, never widened.
- **Exit file (sandbox only).** When `SANDBOX_VLLM_EXIT_FILE` is set, the CLI writes its exit code
  there on the way out, so the emulated `docker inspect` can report `State.ExitCode`.
- **Crash (sandbox only).** `--exit-after-seconds S` makes the process log an engine error and exit
  with status 1, S seconds after it starts (the `docker.vllm` fault switch, sandbox/faults.py).
- **Tensor parallel.** `--tensor-parallel-size N` (`-tp`) times `--pipeline-parallel-size` (`-pp`) is
  the world size; above 1 it needs that many GPUs before the model loads, checked the way vLLM does:
  - no `--distributed-executor-backend` (or `mp`) and more than the container's GPUs
    (`SANDBOX_CONTAINER_GPUS`, 1 outside a container): vLLM's config validation error `World size (N)
    is larger than the number of available GPUs (G) in this node. ...` (vllm/config/parallel.py);
  - `--distributed-executor-backend ray` in a container where `pip install ray` never ran:
    `ValueError: Failed to import Ray: No module named 'ray'.Please install Ray with `pip install
    ray`.` (vllm/v1/executor/ray_utils.py `assert_ray_available`);
  - `ray`: the cluster is the one `ray start` recorded for the container (`RAY_ADDRESS`, else its
    `/tmp/ray/ray_current_cluster`; none: a new single-node cluster with the container's GPUs, as
    `ray.init()` starts). Fewer GPUs than N: the warning `The number of required GPUs exceeds the
    total number of available GPUs in the placement group.`, then, while it waits for the
    placement group, the GPUs are counted again; if they never come, `ValueError: Cannot provide a
    placement group requiring N.0 GPUs (...) within S seconds. ...` and exit 1
    (`initialize_ray_cluster`, `_wait_until_pg_ready`). S is vLLM's 1800 s in vLLM; SANDBOX ONLY:
    `SANDBOX_VLLM_PG_WAIT_SECONDS` (default 3) in the sandbox.
  With enough GPUs it loads and serves as usual (the model is not really split).
- Not emulated: `/v1/completions`, `/v1/embeddings`, `/tokenize`, tools, logprobs, sampling, and
  `/health` answering 503 when the engine dies.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sandbox.http import JSON, EmulatorHandler, EmulatorServer, Reply, json_reply

VERSION = "0.28.0+sandbox"
"""What `GET /version` reports."""

PROTECTED_PREFIXES = ("/v1", "/v2", "/inference", "/cohere")
"""Path prefixes vLLM's `--api-key` middleware guards; every other path stays open."""

DEFAULT_MAX_MODEL_LEN = 8192
"""`max_model_len` reported by `/v1/models` when `--max-model-len` is not given."""

EXIT_FILE_ENV = "SANDBOX_VLLM_EXIT_FILE"
"""SANDBOX ONLY: environment variable naming a file the CLI writes its exit code to."""

MAX_BODY = 16 * 1024 * 1024
"""Largest request body read (bytes)."""

PG_WAIT_ENV = "SANDBOX_VLLM_PG_WAIT_SECONDS"
"""SANDBOX ONLY: how long a Ray placement group is waited for (vLLM: `PG_WAIT_TIMEOUT`, 1800 s)."""

DEFAULT_PG_WAIT_SECONDS = 3.0
"""The sandbox's placement-group wait when `SANDBOX_VLLM_PG_WAIT_SECONDS` is not set."""


def count_tokens(text: str) -> int:
    """The sandbox token rule: the number of whitespace-separated words in `text`."""
    return len(text.split())


def message_text(content: Any) -> str:
    """The text of a chat message's `content`: a string, or the `text` parts of a content list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and "text" in part
        )
    return ""


def check_bind_address(host: str | None) -> str:
    """`host` if it is a 127.0.0.0/8 address; otherwise a `ValueError` saying what the sandbox binds."""
    if not host:
        raise ValueError(
            "no --host given: vLLM would bind every interface; the sandbox binds only a 127.0.0.0/8 address"
        )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"--host {host!r} is not an IP address: the sandbox binds only 127.0.0.0/8"
        ) from None
    if address.version != 4 or address not in ipaddress.ip_network("127.0.0.0/8"):
        raise ValueError(f"refusing to bind {host}: the sandbox binds only 127.0.0.0/8 addresses")
    return host


@dataclass
class Metrics:
    """The counters `/metrics` exposes; every change takes the lock."""

    prompt_tokens: int = 0
    generation_tokens: int = 0
    running: int = 0
    finished: dict[str, int] = field(default_factory=dict)
    """`request_success_total` by `finished_reason`."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def render(self, model: str) -> str:
        """The Prometheus text exposition (format 0.0.4) of every counter, labelled `model_name`."""
        labels = f'engine="0",model_name="{model}"'
        with self.lock:
            lines = [
                "# HELP vllm:num_requests_running Number of requests in model execution batches.",
                "# TYPE vllm:num_requests_running gauge",
                f"vllm:num_requests_running{{{labels}}} {float(self.running)}",
                "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
                "# TYPE vllm:num_requests_waiting gauge",
                f"vllm:num_requests_waiting{{{labels}}} 0.0",
                "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
                "# TYPE vllm:prompt_tokens_total counter",
                f"vllm:prompt_tokens_total{{{labels}}} {float(self.prompt_tokens)}",
                "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
                "# TYPE vllm:generation_tokens_total counter",
                f"vllm:generation_tokens_total{{{labels}}} {float(self.generation_tokens)}",
                "# HELP vllm:request_success_total Count of successfully processed requests.",
                "# TYPE vllm:request_success_total counter",
            ]
            for reason in sorted(set(self.finished) | {"stop", "length"}):
                count = float(self.finished.get(reason, 0))
                lines.append(
                    f'vllm:request_success_total{{engine="0",finished_reason="{reason}",'
                    f'model_name="{model}"}} {count}'
                )
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ModelInfo:
    """What the server serves: the names clients route on, the loaded model, its context length."""

    served_names: tuple[str, ...]
    """`--served-model-name` values; the first is the id `/v1/models` lists and answers carry."""
    root: str
    """The model path or Hugging Face id vLLM loaded (`root` in `/v1/models`)."""
    max_model_len: int = DEFAULT_MAX_MODEL_LEN


def _error(message: str, kind: str, status: int, param: str | None = None) -> dict[str, Any]:
    """vLLM's OpenAI-style error body."""
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


class VllmHandler(EmulatorHandler):
    """One request: the auth rule, then dispatch by method and path (OPTIONS is never checked)."""

    server: FakeVllm
    protocol_version = "HTTP/1.1"
    methods = ("GET", "POST", "PUT", "DELETE", "OPTIONS")

    def version_string(self) -> str:
        """The `Server` header uvicorn sends."""
        return "uvicorn"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Uvicorn-style access lines (`INFO:     ip:port - "GET / HTTP/1.1" 200`) to the log."""
        client = f"{self.client_address[0]}:{self.client_address[1]}"
        self.server.say(f'INFO:     {client} - "{self.requestline}" {code}')

    def log_message(self, format: str, *args: Any) -> None:
        """Protocol errors, as warnings in the log."""
        self.server.say("WARNING  " + format % args)

    def _send(self, status: int, body: bytes = b"", content_type: str = JSON) -> None:
        """An answer; an empty JSON one carries no `Content-Type`, as uvicorn sends it."""
        self.send_reply(Reply(status, body, content_type if body or content_type != JSON else None))

    def _json(self, status: int, document: Any) -> None:
        self.send_reply(json_reply(document, status, separators=(",", ":")))

    def _body(self) -> bytes:
        return self.read_body(limit=MAX_BODY)

    def dispatch(self) -> None:
        """The auth rule, then the route table (see the module docstring)."""
        path = urlsplit(self.path).path
        protected = self.command != "OPTIONS" and path.startswith(PROTECTED_PREFIXES)
        if protected and not self.server.authorized(self.headers.get("Authorization")):
            self._body()
            self._json(401, {"error": "Unauthorized"})
            return
        routes: dict[str, dict[str, Any]] = {
            "/health": {"GET": self._empty},
            "/ping": {"GET": self._empty, "POST": self._empty},
            "/version": {"GET": lambda: self._json(200, {"version": VERSION})},
            "/load": {"GET": lambda: self._json(200, {"server_load": self.server.metrics.running})},
            "/metrics": {"GET": self._metrics},
            "/v1/models": {"GET": self._models},
            "/v1/chat/completions": {"POST": self._chat},
        }
        handlers = routes.get(path)
        if handlers is None:
            self._body()
            self._json(404, {"detail": "Not Found"})
            return
        handler = handlers.get(self.command)
        if handler is None:
            self._body()
            self._json(405, {"detail": "Method Not Allowed"})
            return
        handler()

    def _empty(self) -> None:
        self._body()
        self._send(200)

    def _metrics(self) -> None:
        text = self.server.metrics.render(self.server.model.served_names[0])
        self._send(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")

    def _models(self) -> None:
        model = self.server.model
        created = int(time.time())
        self._json(
            200,
            {
                "object": "list",
                "data": [
                    {
                        "id": model.served_names[0],
                        "object": "model",
                        "created": created,
                        "owned_by": "vllm",
                        "root": model.root,
                        "parent": None,
                        "max_model_len": model.max_model_len,
                        "permission": [
                            {
                                "id": f"modelperm-{secrets.token_hex(16)}",
                                "object": "model_permission",
                                "created": created,
                                "allow_create_engine": False,
                                "allow_sampling": True,
                                "allow_logprobs": True,
                                "allow_search_indices": False,
                                "allow_view": True,
                                "allow_fine_tuning": False,
                                "organization": "*",
                                "group": None,
                                "is_blocking": False,
                            }
                        ],
                    }
                ],
            },
        )

    def _chat(self) -> None:
        try:
            request = json.loads(self._body() or b"null")
        except ValueError as exc:
            self._json(400, _error(f"invalid JSON body: {exc}", "BadRequestError", 400))
            return
        if not isinstance(request, dict):
            self._json(400, _error("the body must be a JSON object", "BadRequestError", 400))
            return
        model = self.server.model
        requested = request.get("model") or model.served_names[0]
        if requested not in model.served_names:
            self._json(404, _error(f"The model `{requested}` does not exist.", "NotFoundError", 404, "model"))
            return
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            self._json(400, _error("messages must be a non-empty list of objects", "BadRequestError", 400))
            return
        prompt_tokens = sum(count_tokens(message_text(m.get("content"))) for m in messages)
        user = [m for m in messages if m.get("role") == "user"]
        words = ["echo:", *message_text(user[-1].get("content") if user else "").split()]
        limit = request.get("max_completion_tokens") or request.get("max_tokens")
        finish_reason = "stop"
        if isinstance(limit, int) and 0 < limit < len(words):
            words, finish_reason = words[:limit], "length"
        metrics = self.server.metrics
        with metrics.lock:
            metrics.running += 1
        try:
            if request.get("stream"):
                self._stream(request, requested, words, prompt_tokens, finish_reason)
            else:
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "total_tokens": prompt_tokens + len(words),
                    "completion_tokens": len(words),
                    "prompt_tokens_details": None,
                }
                self._json(
                    200,
                    {
                        "id": f"chatcmpl-{secrets.token_hex(16)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": requested,
                        "choices": [
                            {
                                "index": 0,
                                "message": {
                                    "role": "assistant",
                                    "content": " ".join(words),
                                    "reasoning_content": None,
                                    "tool_calls": [],
                                },
                                "logprobs": None,
                                "finish_reason": finish_reason,
                                "stop_reason": None,
                            }
                        ],
                        "usage": usage,
                        "prompt_logprobs": None,
                    },
                )
        finally:
            with metrics.lock:
                metrics.running -= 1
                metrics.prompt_tokens += prompt_tokens
                metrics.generation_tokens += len(words)
                metrics.finished[finish_reason] = metrics.finished.get(finish_reason, 0) + 1

    def _stream(
        self, request: dict[str, Any], model: str, words: list[str], prompt_tokens: int, finish_reason: str
    ) -> None:
        """Server-sent events: a role chunk, one chunk per word, a finish chunk, usage if asked, [DONE]."""
        chunk_id, created = f"chatcmpl-{secrets.token_hex(16)}", int(time.time())

        def chunk(delta: dict[str, Any], reason: str | None) -> dict[str, Any]:
            return {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}],
            }

        events = [chunk({"role": "assistant", "content": ""}, None)]
        events += [chunk({"content": (" " if i else "") + word}, None) for i, word in enumerate(words)]
        events.append(chunk({}, finish_reason))
        options = request.get("stream_options")
        if isinstance(options, dict) and options.get("include_usage"):
            usage = {
                "prompt_tokens": prompt_tokens,
                "total_tokens": prompt_tokens + len(words),
                "completion_tokens": len(words),
            }
            events.append({**chunk({}, None), "choices": [], "usage": usage})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for event in events:
            self.wfile.write(f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


class FakeVllm(EmulatorServer[ModelInfo]):
    """A bound (not yet listening) fake vLLM; `start()` listens after the startup delay in a thread."""

    handler_class = VllmHandler

    def __init__(
        self,
        host: str,
        port: int,
        model: ModelInfo,
        api_key: str | None = None,
        startup_seconds: float = 0.0,
        log: Any = None,
    ) -> None:
        super().__init__((check_bind_address(host), port), model, bind_and_activate=False)
        try:
            self.server_bind()
        except OSError:
            self.server_close()
            raise
        self.api_key_digest = hashlib.sha256(api_key.encode()).digest() if api_key else None
        self.startup_seconds = startup_seconds
        self.metrics = Metrics()
        self.log = log
        self.listening = threading.Event()
        """Set once the socket listens (the end of the simulated startup)."""
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self.started = int(time.time())

    @property
    def model(self) -> ModelInfo:
        """What it serves (the server's backend)."""
        return self.backend

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self.server_address[0])

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        return int(self.server_address[1])

    def say(self, line: str) -> None:
        """One log line, vLLM-style, to the log stream (stdout for the CLI, nothing when None)."""
        if self.log is not None:
            print(line, file=self.log, flush=True)

    def run(self) -> None:
        """Wait out the startup delay, listen, and serve until `close()` (blocks)."""
        self.say(f"INFO vLLM API server version {VERSION}")
        self.say(f"INFO Loading model {self.model.root} (sandbox: simulated, {self.startup_seconds:g}s)")
        if not self.listening.is_set():
            if self._closing.wait(self.startup_seconds):
                return
            self.server_activate()
            self.listening.set()
        self.say(f"INFO Starting vLLM API server on {self.url}")
        self.say("INFO:     Application startup complete.")
        self.say(f"INFO:     Uvicorn running on {self.url} (Press CTRL+C to quit)")
        self.serve_forever(poll_interval=0.1)

    def start(self) -> FakeVllm:
        """Run `run()` in a daemon thread; returns at once (the port refuses until startup ends).

        Without a startup delay the socket already listens when this returns.
        """
        if self.startup_seconds <= 0:
            self.server_activate()
            self.listening.set()
        self._thread = threading.Thread(target=self.run, name=f"fake-vllm-{self.port}", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (or abandon the startup) and release the port."""
        self._closing.set()
        if self.listening.is_set():
            self.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.server_close()

    def stop(self) -> None:
        """`close()`."""
        self.close()

    def authorized(self, header: str | None) -> bool:
        """Whether an `Authorization` header carries the API key (always, without a key)."""
        if self.api_key_digest is None:
            return True
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(hashlib.sha256(token.strip().encode()).digest(), self.api_key_digest)


def serve(
    host: str,
    port: int,
    model: str,
    api_key: str | None = None,
    startup_seconds: float = 0.0,
    root: str | None = None,
    max_model_len: int = DEFAULT_MAX_MODEL_LEN,
) -> FakeVllm:
    """Start a fake vLLM serving `model` (the served name) on `host:port` in a daemon thread.

    :param host: a 127.0.0.0/8 address (anything else raises `ValueError`).
    :param port: the TCP port; 0 picks a free one (read it from `.port`).
    :param model: the served model name (`/v1/models` id).
    :param api_key: when set, `/v1...` paths need `Authorization: Bearer <api_key>`.
    :param startup_seconds: how long the bound port refuses connections before it listens.
    :param root: the loaded model (`root` in `/v1/models`); defaults to `model`.
    :param max_model_len: the context length `/v1/models` reports.
    """
    info = ModelInfo(served_names=(model,), root=root or model, max_model_len=max_model_len)
    return FakeVllm(host, port, info, api_key=api_key, startup_seconds=startup_seconds).start()


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """`vllm serve`-style arguments: `[vllm serve] [MODEL] --host H --port P --served-model-name N ...`.

    Unknown `vllm serve` flags (e.g. `--gpu-memory-utilization 0.8`) are accepted and ignored.
    """
    words = list(argv)
    if words[:2] == ["vllm", "serve"]:
        words = words[2:]
    elif words[:1] == ["serve"]:
        words = words[1:]
    parser = argparse.ArgumentParser(prog="python -m sandbox.vllm", description=__doc__.splitlines()[0])
    parser.add_argument("model_tag", nargs="?", help="the model to 'load' (root in /v1/models)")
    parser.add_argument("--model", dest="model_flag", help="legacy spelling of the positional model")
    parser.add_argument("--host", help="address to bind (127.0.0.0/8 only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--served-model-name", nargs="+", help="names clients route on (first is the id)")
    parser.add_argument("--api-key", help="guard /v1 paths (default: $VLLM_API_KEY)")
    parser.add_argument("--max-model-len", type=int, default=DEFAULT_MAX_MODEL_LEN)
    parser.add_argument("--tensor-parallel-size", "-tp", type=int, default=1)
    parser.add_argument("--pipeline-parallel-size", "-pp", type=int, default=1)
    parser.add_argument("--distributed-executor-backend", choices=["ray", "mp", "uni", "external_launcher"])
    parser.add_argument("--startup-seconds", type=float, default=0.0, help="SANDBOX ONLY: simulated load")
    parser.add_argument("--exit-after-seconds", type=float, help="SANDBOX ONLY: crash (status 1) this soon")
    args, _unknown = parser.parse_known_args(words)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """The CLI: serve until SIGTERM/SIGINT; writes the exit code to `$SANDBOX_VLLM_EXIT_FILE` if set."""
    status = 1
    try:
        status = _run(parse_args(sys.argv[1:] if argv is None else argv))
    finally:
        exit_file = os.environ.get(EXIT_FILE_ENV)
        if exit_file:
            with open(exit_file, "w", encoding="utf-8") as handle:
                handle.write(f"{status}\n")
    return status


class _Stop(Exception):
    """Raised in the main thread by the SIGTERM handler."""


def _say(line: str) -> None:
    print(line, flush=True)


def _gpus_for(args: argparse.Namespace) -> str | None:
    """None when the world size's GPUs are there (possibly after waiting), else the fatal error line."""
    world = args.tensor_parallel_size * args.pipeline_parallel_size
    if world <= 1:
        return None
    local = int(os.environ.get("SANDBOX_CONTAINER_GPUS", "1"))
    backend = args.distributed_executor_backend
    if backend in (None, "mp", "uni") and world > local:
        return (
            "pydantic_core._pydantic_core.ValidationError: 1 validation error for ParallelConfig\n"
            f"  Value error, World size ({world}) is larger than the number of available GPUs ({local}) in "
            "this node. If this is intentional and you are using:\n"
            "- ray, set '--distributed-executor-backend ray'.\n"
            "- multiprocessing, set '--nnodes' appropriately."
        )
    if backend != "ray":
        return None
    from pathlib import Path

    from sandbox.host import fake_ray
    from sandbox.host.tools.pip import installed

    root = os.environ.get("SANDBOX_CONTAINER_ROOT")
    if root is not None and not installed(Path(root), "ray"):
        return (
            "ValueError: Failed to import Ray: No module named 'ray'."
            "Please install Ray with `pip install ray`."
        )
    address = fake_ray.cluster_address()
    _say(
        f"INFO Connecting to existing Ray cluster at address: {address}..."
        if address
        else "INFO Started a local Ray instance."
    )
    wait = float(os.environ.get(PG_WAIT_ENV, DEFAULT_PG_WAIT_SECONDS))
    started = time.monotonic()
    warned = False
    while True:
        try:
            total = fake_ray.total_gpus(address, local)
        except (OSError, ValueError):
            return "ConnectionError: Could not read 'session_name' from GCS. Did GCS start successfully?"
        if total >= world:
            _say(f"INFO Using the existing placement group of {world} GPUs (sandbox: {total} in the cluster)")
            return None
        if not warned:
            _say("INFO No current placement group found. Creating a new placement group.")
            _say(
                "WARNING The number of required GPUs exceeds the total number of available GPUs in the "
                "placement group."
            )
            warned = True
        if time.monotonic() - started >= wait:
            break
        time.sleep(0.25)
    specs = [{"GPU": 1.0} for _ in range(world)]
    return (
        f"ValueError: Cannot provide a placement group requiring {float(world)} GPUs "
        f"(placement_group_specs={specs}) within {wait:g} seconds.\n"
        "Tensor parallel size may exceed available GPUs in your cluster. Check resources with "
        "`ray status` and `ray list nodes`.\n"
        "If running on K8s with limited GPUs, consider reducing --tensor-parallel-size to match "
        "available GPU resources."
    )


def _run(args: argparse.Namespace) -> int:
    root = args.model_tag or args.model_flag or "facebook/opt-125m"
    refusal = _gpus_for(args)
    if refusal is not None:
        _say(f"ERROR EngineCore failed to start.\n{refusal}")
        return 1
    names = tuple(args.served_model_name or [root])
    api_key = args.api_key or os.environ.get("VLLM_API_KEY") or None
    info = ModelInfo(served_names=names, root=root, max_model_len=args.max_model_len)
    try:
        server = FakeVllm(args.host, args.port, info, api_key, args.startup_seconds, log=sys.stdout)
    except ValueError as exc:
        print(f"ERROR sandbox vLLM: {exc}", file=sys.stderr, flush=True)
        return 2
    except OSError as exc:
        print(
            f"ERROR [Errno {exc.errno}] error while attempting to bind on address "
            f"({args.host!r}, {args.port}): {exc.strerror}",
            file=sys.stderr,
            flush=True,
        )
        return 1

    def stop(signum: int, frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    if args.exit_after_seconds is not None:
        signal.signal(signal.SIGALRM, lambda *_: _crash())
        signal.setitimer(signal.ITIMER_REAL, max(args.exit_after_seconds, 0.01))
    try:
        server.run()
    except (_Stop, KeyboardInterrupt):
        print("INFO:     Shutting down", flush=True)
    except _Crash:
        print("ERROR    EngineCore failed: sandbox: injected crash (docker.vllm dies)", flush=True)
        return 1
    finally:
        server.server_close()
    return 0


class _Crash(Exception):
    """Raised in the main thread when `--exit-after-seconds` elapses."""


def _crash() -> None:
    raise _Crash
