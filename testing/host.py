"""Test support: a minimal stand-in for the control-plane endpoint the `tailscale` shim joins through.

The real endpoint belongs to the Tailscale API emulator (`sandbox/tailscale`, `TailnetState.consume`);
this stand-in implements only the sandbox-only contract documented in `tools/tailscale.py` and
README.md, so the host can be tested on its own:

`POST /sandbox/join` `{"authKey", "hostname", "tags"}` -> 200 device JSON (`addresses`, `name`,
`hostname`, `tags`, `id`, `nodeId`) or 400 `{"message": "backend error: ..."}` with the wording of
`sandbox.tailscale.errors` (malformed, unknown, used single-use key; tags not permitted).

Devices get addresses in `127.100.<subnet>.0/24` (subnet random by default, so concurrent test runs
on one machine do not share addresses).

`start_stub(answer)` is the loopback JSON double the stand-in runs on (sandbox/http.py's scaffold);
other tests use it for any HTTP peer (a model server upstream, a gateway). Importing this module does
not import asyncssh; `run_remote` does, when called.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.host.state import read_json
from sandbox.http import EmulatorHandler, EmulatorServer, Serving, json_reply, serve_in_thread

if TYPE_CHECKING:
    import asyncssh

    from sandbox.host.server import HostHandle


@dataclass(frozen=True)
class StubRequest:
    """One request a stub received."""

    method: str
    path: str
    """The request target, query included."""
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON (no body: None); ValueError when it is not JSON."""
        return json.loads(self.body or b"null")


Answer = Callable[[StubRequest], tuple[int, Any]]
"""A stub's behaviour: the request -> (status, JSON document)."""


class _StubHandler(EmulatorHandler):
    methods = ("GET", "POST")
    server: StubServer

    def dispatch(self) -> None:
        request = StubRequest(self.command, self.path, dict(self.headers), self.read_body())
        status, document = self.server.backend(request)
        self.send_reply(json_reply(document, status))


class StubServer(EmulatorServer[Answer]):
    """A loopback HTTP double: each GET or POST is answered as JSON by its `backend(request)`."""

    handler_class = _StubHandler


def start_stub(answer: Answer) -> Serving[StubServer]:
    """Serve `answer` on 127.0.0.1 (OS-chosen port) in a daemon thread; `.server.url`, `.stop()`."""
    return serve_in_thread(StubServer(("127.0.0.1", 0), answer), "json-stub")


@dataclass
class StandInKey:
    """An auth key the stand-in knows."""

    id: str
    secret: str
    tags: list[str]
    reusable: bool = False
    uses: int = 0


@dataclass
class StandInControl:
    """The join endpoint over loopback HTTP, with the keys, join requests and devices it saw."""

    subnet: int = field(default_factory=lambda: random.randint(100, 250))
    keys: dict[str, StandInKey] = field(default_factory=dict)
    joins: list[dict[str, Any]] = field(default_factory=list)
    """Every request body received, in order (secrets included: this is the control plane)."""
    devices: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _serving: Serving[StubServer] | None = None

    def add_key(self, tags: tuple[str, ...] = ("tag:spark",), reusable: bool = False) -> str:
        """A new pre-authorised key carrying `tags`; returns its secret."""
        key_id = "k" + secrets.token_hex(6)
        secret = f"tskey-auth-{key_id}-{secrets.token_hex(16)}"
        self.keys[secret] = StandInKey(key_id, secret, list(tags), reusable)
        return secret

    def join(self, body: Any) -> tuple[int, dict[str, Any]]:
        """Answer one join request (status, JSON body)."""
        with self.lock:
            self.joins.append(body if isinstance(body, dict) else {"invalid": body})
            if not isinstance(body, dict):
                return 400, {"message": "sandbox: the join body must be a JSON object"}
            secret = str(body.get("authKey", ""))
            if not secret.startswith("tskey-auth-"):
                return 400, {"message": "backend error: invalid key: unable to validate API key"}
            key = self.keys.get(secret)
            if key is None:
                return 400, {"message": "backend error: invalid key: API key does not exist"}
            if key.uses and not key.reusable:
                return 400, {"message": f"backend error: invalid key: API key {key.id} not valid"}
            tags = [str(t) for t in body.get("tags") or []]
            bad = [t for t in tags if t not in key.tags]
            if bad:
                return 400, {
                    "message": f"backend error: requested tags [{' '.join(bad)}] are invalid or not permitted"
                }
            key.uses += 1
            hostname = str(body.get("hostname") or "device")
            number = len(self.devices) + 1
            device = {
                "addresses": [str(ipaddress.ip_address(f"127.100.{self.subnet}.0") + number)],
                "id": str(number),
                "nodeId": f"n{number}CNTRL",
                "name": f"{hostname}.sandbox.ts.net",
                "hostname": hostname,
                "tags": tags or list(key.tags),
                "os": "linux",
                "authorized": True,
            }
            self.devices.append(device)
            return 200, device

    def answer(self, request: StubRequest) -> tuple[int, dict[str, Any]]:
        """`POST /sandbox/join` only."""
        if request.path != "/sandbox/join" or request.method != "POST":
            return 404, {"message": "not found"}
        try:
            body = request.json()
        except ValueError:
            return 400, {"message": "sandbox: invalid JSON"}
        return self.join(body)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>` once started."""
        assert self._serving is not None, "start() first"
        return self._serving.server.url

    def start(self) -> StandInControl:
        """Listen on 127.0.0.1 (OS-chosen port) in a daemon thread."""
        self._serving = start_stub(self.answer)
        return self

    def close(self) -> None:
        """Stop listening."""
        if self._serving is not None:
            self._serving.stop()
            self._serving = None


@dataclass(frozen=True)
class RemoteResult:
    """A finished remote command: exit status and both output streams."""

    exit_status: int
    stdout: str
    stderr: str


def new_client_key() -> asyncssh.SSHKey:
    """A fresh ed25519 key pair for an SSH client."""
    import asyncssh

    return asyncssh.generate_private_key("ssh-ed25519")


def succeeded(result: RemoteResult) -> RemoteResult:
    """`result`, once asserted to have exited 0 (its stderr is the failure message)."""
    assert result.exit_status == 0, result.stderr
    return result


def run_remote(
    address: str,
    port: int,
    known_hosts: str | Path,
    key: asyncssh.SSHKey,
    command: str,
    stdin: str = "",
    username: str = "ubuntu",
) -> RemoteResult:
    """One command over a fresh SSH connection that pins the host key, as a `remote.Command` runs.

    `stdin` is sent then closed; without it the command reads EOF at once (pulumi-command sends no
    stdin when none is set).
    """
    import asyncssh

    async def go() -> asyncssh.SSHCompletedProcess:
        async with asyncssh.connect(
            address,
            port,
            username=username,
            client_keys=[key],
            known_hosts=str(known_hosts),
            agent_path=None,
            config=[],
        ) as connection:
            if not stdin:
                return await connection.run(command, stdin=asyncssh.DEVNULL, check=False)
            return await connection.run(command, input=stdin, check=False)

    done = asyncio.run(go())
    return RemoteResult(int(done.exit_status or 0), str(done.stdout or ""), str(done.stderr or ""))


def free_port(address: str) -> int:
    """A TCP port nothing listens on at `address` right now (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def containers(host: HostHandle) -> dict[str, Any]:
    """The emulated docker's container records of one host, by name."""
    return dict(read_json(host.paths.docker, {"containers": {}})["containers"])


class Upstream:
    """A tiny OpenAI-compatible upstream: serves /v1/chat/completions, 404s every other path."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.serving = start_stub(self.answer)
        self.server = self.serving.server

    def answer(self, request: StubRequest) -> tuple[int, Any]:
        body = json.loads(request.body or b"{}")
        self.requests.append({"path": request.path, "headers": request.headers, "body": body})
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return 404, {"detail": "Not Found"}
        return 200, {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10},
        }

    @property
    def url(self) -> str:
        return self.server.url

    def close(self) -> None:
        self.serving.stop()
