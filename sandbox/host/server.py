"""The emulated GB10 host: an asyncssh server whose commands run under bash with the shims first on PATH.

Key files (generated per run under `<state_dir>/hosts/<name>/`, see `state.HostPaths`):
`ssh_host_ed25519_key` (the host key) and `known_hosts` (`[127.0.0.1]:<port> ssh-ed25519 ...`, for
the client to pin). Client keys are the OpenSSH public key lines given to `start_host`; any user name
is accepted with one of them (it becomes the audit `identity` and gets a home under the host root),
passwords and keyboard-interactive are not offered.

Each session's command runs as `bash -c <command>` (plain `bash` reading stdin when no command is
sent) in an asyncio subprocess with stdin, stdout and stderr wired to the channel and the exit
status returned; the client's EOF closes the command's stdin, so secrets sent on stdin (the way
pulumi-command's `stdin` does) reach it exactly once. The environment is built from scratch:

| Variable | Value |
|---|---|
| `PATH` | `sandbox/host/shims` first, then the usual system directories |
| `HOME`, `USER`, `LOGNAME` | `<root>/home/<user>`, the SSH user name; the working directory is that home |
| `TMPDIR` | `<root>/tmp`, so `mktemp` files stay in the host root |
| `SANDBOX_HOST_DIR`, `SANDBOX_ROOT`, `SANDBOX_HOST_NAME` | the host's directory, its filesystem root, its name |
| `SANDBOX_REAL_PATH` | PATH without the shims (how shims find the real `install`, `mkdir`, `rm`) |
| `SANDBOX_PYTHON`, `PYTHONPATH` | this interpreter and the repository root, for the Python side of the shims |
| `SANDBOX_TAILSCALE_URL` | the Tailscale API emulator the `tailscale` shim joins through |
| `SANDBOX_FAULTS` | the sandbox's fault switches (sandbox/faults.py), when `start_host(faults_file=...)` |
| `SANDBOX_LINK_ADDRESS` | the link interface's address, `127.101.X.Y/24` (the `ip` shim prints it) |

Link interface: each host has one, `enp1s0f1np1` (the QSFP port between two Sparks), with the
loopback address `start_host(link_address=...)` gives it (default `127.101.<random>.1`; the
orchestrator gives host i of a sandbox `127.101.<its address block>.<i+1>`, unique per host and per
running sandbox). It is recorded as `link` (`{"interface", "address"}`) in `state/settings.json` and
on `HostHandle.link`; the fake Ray binds it (all of 127.0.0.0/8 is loopback).

Paths: the shims never touch the real /etc or /var/lib. `install`, `mkdir` and `rm` are shims that move
arguments at or below `/etc/sovereign-ai` and `/var/lib/sovereign-ai` under `<root>` (and refuse such
writes without `sudo`), and `docker` reads `--env-file`/`-v` paths the same way. `sudo` changes no
privilege. `curl` is the real one (it reaches the fake vLLM on its loopback address). The Tailscale
installer (`curl ... | sudo sh`) is never reached: the `tailscale` shim is "already installed".

Environment requests (`env`, what pulumi-command's `environment` sends) are answered as sshd with
`AcceptEnv` does: names matching one of `accept_env`'s patterns (default `ACCEPT_ENV`) are accepted and
set for the command, any other name is refused (the client sees `ssh: setenv failed`).

Test switches on `HostHandle`: `refuse_connections(n)` closes the next `n` connections before the SSH
handshake (a host that is still booting), `drop_connections()` cuts every open connection (a reboot
or a network drop mid-command), and `connections` counts the connections the server has seen.
`start_host(passwords={user: password})` also allows password and keyboard-interactive logins.
The same drop from another process: the `host.drop` switch of `faults_file` (sandbox/faults.py)
cuts the connection of a matching command once its output shows a given text (mid-step).
Out of process (`python -m sandbox up`), the same count is `state/connections.jsonl`: one line per
connection seen, `{"peer": "127.0.0.1:<port>", "refused": bool}` (what `make bench` counts).

Audit: with an `audit_path`, every command appends one JSON line `{"service": "host", "host": <the host's
name>, "command": <first 200 characters, `export NAME=value` lines reduced to `export NAME`>, "mutating":
true, "identity": <SSH user>, "status": <exit code>}`, through the sandbox's one audit writer
(sandbox/audit.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import os
import random
import re
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh

from sandbox import faults
from sandbox.audit import AuditLog, command_entry
from sandbox.host.state import LINK_INTERFACE, HostPaths, stop_all_containers

SHIMS = Path(__file__).resolve().parent / "shims"
"""The directory of executable shims put first on the session's PATH."""

REPO_ROOT = Path(__file__).resolve().parents[2]
"""The repository root (on the shims' PYTHONPATH so `sandbox.host.tools` and `sandbox.vllm` import)."""

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The session PATH after the shims (Ubuntu's default)."""

ADDRESS = "127.0.0.1"
"""The only address the SSH server listens on."""

LINK_PREFIX = 24
"""Prefix length of the link interface's address."""

ACCEPT_ENV = ("LANG", "LC_*", "PULUMI_COMMAND_*", "SOVEREIGN_*")
"""Default `AcceptEnv` patterns: Ubuntu's (`LANG LC_*`), pulumi-command's two variables, the project's prefix."""

_EXPORT = re.compile(
    r"""^(\s*export\s+)([A-Za-z_][A-Za-z0-9_]*)=(?:'[^']*'(?:"'"'[^']*')*|"[^"]*"|[^\s]*)""", re.M
)


def redact_command(command: str | None, limit: int = 200) -> str:
    """The audit form of a command: `export NAME=value` lines reduced to `export NAME`, then cut."""
    if command is None:
        return "(shell)"
    return _EXPORT.sub(r"\1\2", command)[:limit]


class HostSSHServer(asyncssh.SSHServer):
    """Public-key authentication against the keys the host was started with (and optional passwords)."""

    def __init__(self, authorized: frozenset[bytes], host: _Host) -> None:
        self._authorized = authorized
        self._host = host
        self._connection: asyncssh.SSHServerConnection | None = None
        self.children: set[int] = set()
        """Process groups of this connection's running commands, killed if the client goes away."""

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        """Count the connection; refuse it if asked to; filter its `env` requests by `accept_env`."""
        self._host.connections_seen += 1
        self._host.record_connection(conn, refused=self._host.refuse_remaining > 0)
        if self._host.refuse_remaining > 0:
            self._host.refuse_remaining -= 1
            asyncio.get_running_loop().call_soon(conn.abort)
            return
        self._connection = conn
        self._host.live.add(conn)
        _filter_env_requests(conn, self._host.accept_env)
        _refuse_sha1_rsa_host_key(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        """End the commands of a connection that closed under them."""
        if self._connection is not None:
            self._host.live.discard(self._connection)
        for pid in list(self.children):
            _kill_group(pid)

    def begin_auth(self, username: str) -> bool:
        """Authentication is always required."""
        return True

    def public_key_auth_supported(self) -> bool:
        """Only public keys are accepted."""
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        """Whether `key` is one of the authorised client keys (any user name)."""
        return key.public_data in self._authorized

    def password_auth_supported(self) -> bool:
        """Passwords only when the host was started with some."""
        return bool(self._host.passwords)

    def validate_password(self, username: str, password: str) -> bool:
        """Whether `password` is `username`'s."""
        return bool(self._host.passwords) and self._host.passwords.get(username) == password


def _filter_env_requests(conn: asyncssh.SSHServerConnection, patterns: tuple[str, ...]) -> None:
    """Make this connection's session channels refuse `env` names matching none of `patterns`.

    asyncssh accepts every `env` request; sshd accepts only `AcceptEnv` names and answers failure
    otherwise. The channel's request handler is replaced on each new session channel.
    """
    create = conn.create_server_channel

    def create_filtered(*args: Any, **kwargs: Any) -> asyncssh.SSHServerChannel[Any]:
        channel = create(*args, **kwargs)
        environment: dict[bytes, bytes] = channel._env

        def process_env_request(packet: Any) -> bool:
            name = packet.get_string()
            value = packet.get_string()
            packet.check_end()
            if not any(fnmatch.fnmatchcase(name.decode(errors="replace"), p) for p in patterns):
                return False
            environment[name] = value
            return True

        channel._process_env_request = process_env_request  # type: ignore[method-assign]
        return channel

    conn.create_server_channel = create_filtered  # type: ignore[method-assign]


@dataclass
class _Host:
    """What the session handler needs: paths, environment pieces, the audit log, live commands."""

    name: str
    paths: HostPaths
    tailscale_url: str | None
    audit: AuditLog
    bash: str
    accept_env: tuple[str, ...] = ACCEPT_ENV
    passwords: dict[str, str] = field(default_factory=dict)
    running: set[asyncio.subprocess.Process] = field(default_factory=set)
    live: set[asyncssh.SSHServerConnection] = field(default_factory=set)
    connections_seen: int = 0
    refuse_remaining: int = 0
    faults_file: Path | None = None
    link_address: str = ""
    """The link interface's address (no prefix length)."""

    def record_connection(self, conn: asyncssh.SSHServerConnection, refused: bool) -> None:
        """Append `{"peer": "host:port", "refused": bool}` to `state/connections.jsonl` (benchmarks count it)."""
        peer = conn.get_extra_info("peername") or ("", 0)
        line = json.dumps({"peer": f"{peer[0]}:{peer[1]}", "refused": refused}) + "\n"
        with self.paths.connections.open("a") as log:
            log.write(line)

    def environment(self, user: str) -> dict[str, str]:
        home = self.paths.root / "home" / user
        home.mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": f"{SHIMS}:{SYSTEM_PATH}",
            "HOME": str(home),
            "USER": user,
            "LOGNAME": user,
            "SHELL": "/bin/bash",
            "LANG": "C.UTF-8",
            "TMPDIR": str(self.paths.root / "tmp"),
            "SANDBOX_HOST_DIR": str(self.paths.directory),
            "SANDBOX_ROOT": str(self.paths.root),
            "SANDBOX_HOST_NAME": self.name,
            "SANDBOX_REAL_PATH": SYSTEM_PATH,
            "SANDBOX_PYTHON": sys.executable,
            "PYTHONPATH": str(REPO_ROOT),
        }
        if self.tailscale_url:
            env["SANDBOX_TAILSCALE_URL"] = self.tailscale_url
        if self.faults_file is not None:
            env[faults.FAULTS_ENV] = str(self.faults_file)
        if self.link_address:
            env["SANDBOX_LINK_ADDRESS"] = f"{self.link_address}/{LINK_PREFIX}"
        return env

    async def handle(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        """Run one session's command with the channel as its stdio; exit with its status."""
        user = str(process.get_extra_info("username") or "unknown")
        command = process.command
        argv = [self.bash, "-c", command] if command is not None else [self.bash]
        status = 255
        child = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.paths.root / "home" / user,
            env=self.environment(user) | dict(process.env),
            start_new_session=True,
        )
        self.running.add(child)
        owner = process.channel.get_connection().get_owner()
        children = owner.children if isinstance(owner, HostSSHServer) else set()
        children.add(child.pid)
        feeder = asyncio.ensure_future(_feed(process, child))
        watch = _drop_watch(self.faults_file, command, process.channel.get_connection())
        try:
            assert child.stdout is not None and child.stderr is not None
            await asyncio.gather(
                _drain(child.stdout, process.stdout, watch), _drain(child.stderr, process.stderr, watch)
            )
            code = await child.wait()
            status = code if code >= 0 else 128 - code
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeder
            if child.returncode is None:
                _kill_group(child.pid)
                await child.wait()
            self.running.discard(child)
            children.discard(child.pid)
            self.audit.write(command_entry(redact_command(command), user, status, self.name))
        with contextlib.suppress(OSError, asyncssh.Error):
            process.exit(status)


async def _feed(process: asyncssh.SSHServerProcess[bytes], child: asyncio.subprocess.Process) -> None:
    """Copy the channel's stdin to the command until EOF, then close the command's stdin."""
    assert child.stdin is not None
    try:
        while True:
            data = await process.stdin.read(65536)
            if not data:
                break
            child.stdin.write(data)
            await child.stdin.drain()
    except (BrokenPipeError, ConnectionResetError, asyncssh.Error):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            child.stdin.close()


def _drop_watch(
    faults_file: Path | None, command: str | None, conn: asyncssh.connection.SSHConnection
) -> Callable[[bytes], None]:
    """A check of each output chunk that cuts the connection when a `host.drop` switch says so."""
    fault = faults.take(faults_file, "host.drop", command or "")
    if fault is None:
        return lambda _: None
    marker = str(fault.get("afterOutput") or "").encode()
    seen = bytearray()

    def check(data: bytes) -> None:
        seen.extend(data)
        if marker in seen:
            conn.abort()

    if not marker:
        asyncio.get_running_loop().call_soon(conn.abort)
    return check


async def _drain(
    source: asyncio.StreamReader, sink: asyncssh.SSHWriter[bytes], watch: Callable[[bytes], None]
) -> None:
    """Copy one of the command's output streams to the channel until the command closes it."""
    while True:
        data = await source.read(65536)
        if not data:
            return
        with contextlib.suppress(OSError, asyncssh.Error):
            sink.write(data)
            await sink.drain()
        watch(data)


def _end_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread, timeout: float) -> None:
    """Stop the host's event loop, wait for its thread, close it."""
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=timeout)
    loop.close()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


SHA1_RSA = b"ssh-rsa"
"""The SHA-1 RSA signature, off by default since OpenSSH 8.8 (https://www.openssh.com/txt/release-8.8)."""


def _refuse_sha1_rsa_host_key(conn: asyncssh.SSHServerConnection) -> None:
    """Offer the RSA host key as `rsa-sha2-256`/`rsa-sha2-512` only, as OpenSSH >= 8.8's sshd does.

    asyncssh offers `ssh-rsa` too; a client that accepts only SHA-1 `ssh-rsa` (such as pulumi-command
    with a pinned RSA `hostKey`, which offers just the key's type name) then fails the key exchange
    here as it does against a real GB10's sshd. Both are read after this runs (asyncssh 2.24.1,
    `_send_kexinit` and `choose_server_host_key`; the version is pinned in requirements).
    """
    # The offered list goes into the KEXINIT; the key chosen for the client's list comes from the
    # dict (`choose_server_host_key`). Both are replaced, never edited: the dict is shared by every
    # connection of the listener.
    conn._server_host_key_algs = [alg for alg in conn._server_host_key_algs or () if alg != SHA1_RSA]
    conn._server_host_keys = {  # type: ignore[assignment]
        alg: keypair for alg, keypair in conn._server_host_keys.items() if alg != SHA1_RSA
    }


@dataclass
class HostHandle:
    """A running emulated host: where to connect, what to pin, and `stop()`."""

    name: str
    """The host's name (its tailnet hostname default and `uname -n`)."""
    address: str
    """`127.0.0.1`."""
    port: int
    """The SSH port the OS chose."""
    host_key: str
    """The host public key line to pin, `ssh-ed25519 AAAA...`."""
    rsa_host_key: str
    """The host's RSA public key line, `ssh-rsa AAAA...` (a real sshd has one too)."""
    known_hosts: Path
    """A known_hosts file with `[127.0.0.1]:<port> <host_key>`."""
    paths: HostPaths
    """The host's directory, filesystem root and records."""
    _loop: asyncio.AbstractEventLoop
    _thread: threading.Thread
    _server: asyncssh.SSHAcceptor
    _host: _Host
    _stopped: bool = False

    @property
    def root(self) -> Path:
        """The host's filesystem root (where /etc/sovereign-ai and /var/lib/sovereign-ai land)."""
        return self.paths.root

    @property
    def connections(self) -> int:
        """How many SSH connections the server has seen (refused ones included)."""
        return self._host.connections_seen

    def refuse_connections(self, count: int) -> None:
        """Close the next `count` connections before the SSH handshake (a host still booting)."""

        def refuse() -> None:
            self._host.refuse_remaining = count

        self._loop.call_soon_threadsafe(refuse)

    def drop_connections(self) -> int:
        """Cut every open SSH connection now (their commands are killed); returns how many."""

        async def drop() -> int:
            live = list(self._host.live)
            for conn in live:
                conn.abort()
            return len(live)

        return asyncio.run_coroutine_threadsafe(drop(), self._loop).result(timeout=10)

    @property
    def link(self) -> dict[str, str]:
        """The link interface: `{"interface": "enp1s0f1np1", "address": "127.101.X.Y"}`."""
        return {"interface": LINK_INTERFACE, "address": self._host.link_address}

    def set_vllm_startup_seconds(self, seconds: float) -> None:
        """How long containers started from now on keep their port closed (simulated model load)."""
        settings = {"vllm_startup_seconds": seconds, "link": self.link}
        self.paths.settings.write_text(json.dumps(settings))

    def stop(self) -> None:
        """Close the server, end running commands, stop every container process; idempotent."""
        if self._stopped:
            return
        self._stopped = True

        async def close() -> None:
            self._server.close()
            for child in list(self._host.running):
                _kill_group(child.pid)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)

        try:
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        finally:
            _end_loop(self._loop, self._thread, timeout=10)
            stop_all_containers(self.paths)


def start_host(
    state_dir: str | os.PathLike[str],
    authorized_keys: Iterable[str],
    tailscale_url: str | None,
    name: str = "spark",
    audit_path: str | os.PathLike[str] | None = None,
    vllm_startup_seconds: float = 0.0,
    port: int = 0,
    accept_env: tuple[str, ...] = ACCEPT_ENV,
    passwords: dict[str, str] | None = None,
    faults_file: Path | None = None,
    link_address: str | None = None,
) -> HostHandle:
    """Start an emulated GB10 host on 127.0.0.1 (OS-chosen port) in a background thread.

    :param state_dir: the sandbox state directory; the host lives in `<state_dir>/hosts/<name>`.
    :param authorized_keys: OpenSSH public key lines (`ssh-ed25519 AAAA... comment`) allowed to log in.
    :param tailscale_url: base URL of the Tailscale API emulator (`SANDBOX_TAILSCALE_URL` for the shim).
    :param name: the host's name (tailnet hostname default, `uname -n`).
    :param audit_path: a JSONL file to append one line per remote command to.
    :param vllm_startup_seconds: how long a started vLLM container refuses connections.
    :param port: the SSH port; 0 lets the OS choose.
    :param accept_env: `AcceptEnv` patterns (fnmatch) of the environment variables a client may set.
    :param passwords: user name -> password logins allowed besides the keys (none by default).
    :param faults_file: the sandbox's fault switches (sandbox/faults.py), for this server and the shims.
    :param link_address: the link interface's loopback address (default `127.101.<random>.1`).
    """
    keys = [asyncssh.import_public_key(line.strip()) for line in authorized_keys if line.strip()]
    if not keys:
        raise TypeError("Missing authorized_keys argument: give at least one OpenSSH public key line")
    bash = shutil.which("bash", path=SYSTEM_PATH)
    if bash is None:
        raise RuntimeError("bash not found on " + SYSTEM_PATH)
    paths = HostPaths(Path(state_dir).resolve() / "hosts" / name)
    paths.create()
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    host_key.write_private_key(str(paths.host_key))
    paths.host_key.chmod(0o600)
    public = host_key.export_public_key("openssh").decode().split()
    public_line = f"{public[0]} {public[1]}"
    (paths.directory / "ssh_host_ed25519_key.pub").write_text(public_line + "\n")
    rsa_key = asyncssh.generate_private_key("ssh-rsa", key_size=2048)
    rsa_public = rsa_key.export_public_key("openssh").decode().split()
    rsa_line = f"{rsa_public[0]} {rsa_public[1]}"
    (paths.directory / "ssh_host_rsa_key.pub").write_text(rsa_line + "\n")
    link = link_address or f"127.101.{random.randint(1, 254)}.1"
    settings = {
        "vllm_startup_seconds": vllm_startup_seconds,
        "link": {"interface": LINK_INTERFACE, "address": link},
    }
    paths.settings.write_text(json.dumps(settings))
    host = _Host(
        name=name,
        paths=paths,
        tailscale_url=tailscale_url,
        audit=AuditLog(audit_path),
        bash=bash,
        accept_env=tuple(accept_env),
        passwords=dict(passwords or {}),
        faults_file=faults_file,
        link_address=link,
    )
    authorized = frozenset(key.public_data for key in keys)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name=f"sandbox-host-{name}", daemon=True)
    thread.start()

    async def listen() -> asyncssh.SSHAcceptor:
        return await asyncssh.create_server(
            lambda: HostSSHServer(authorized, host),
            ADDRESS,
            port,
            server_host_keys=[host_key, rsa_key],
            process_factory=host.handle,
            encoding=None,
            allow_scp=False,
            sftp_factory=None,
            x11_forwarding=False,
            agent_forwarding=False,
        )

    try:
        server = asyncio.run_coroutine_threadsafe(listen(), loop).result(timeout=30)
    except BaseException:
        _end_loop(loop, thread, timeout=5)
        raise
    port = server.get_port()
    paths.known_hosts.write_text(f"[{ADDRESS}]:{port} {public_line}\n")
    return HostHandle(
        name, ADDRESS, port, public_line, rsa_line, paths.known_hosts, paths, loop, thread, server, host
    )
