"""The emulated `tailscale` CLI: joins through the Tailscale API emulator, state in `state/tailscale.json`.

Subcommands: `up`, `status [--json] [--peers=false]`, `ip [-4|-6|-1]`, `version`, `down`, `logout`.
Flags parse as Go's `flag` package does (`--x=v`, `--x v`, `-x v`; booleans `--x`, `--x=false`).

- `up --auth-key=KEY|file:PATH --hostname=H --advertise-tags=tag:a,tag:b [--timeout=D]` (`--authkey`
  is the legacy spelling; `file:` keys are read and trimmed, keeping the key out of argv). Needs
  `sudo` (as on Linux without `--operator`). When the node is already `Running` with the same tags it
  returns 0 without using the key (as tailscaled does); different tags or `--force-reauth` re-join
  with the key; with no key it prints the login URL and fails like `--timeout` expiring.
  The join itself is the sandbox-only control-plane call below; its refusal message is printed as
  the CLI prints a backend error, e.g. `backend error: invalid key: API key k123 not valid`, exit 1.
- `status --json` answers an `ipnstate.Status`-shaped document (docs/architecture.md §10.4): `Version`,
  `TUN`, `BackendState` (`NeedsLogin` before a join, `Running`, `Stopped` after `down`), `HaveNodeKey`,
  `AuthURL`, `TailscaleIPs`, `Self{ID, PublicKey, HostName, DNSName (FQDN with a trailing dot), OS,
  TailscaleIPs, Tags, Online, ...}`, `Health`, `MagicDNSSuffix`, `CurrentTailnet`, `CertDomains`,
  `Peer`, `User`, `ClientVersion`, indented by two spaces like the Go CLI. `Peer` lists the
  sandbox-only `peers` of the state file (tests seed them to model a populated tailnet).
- `ip -4` prints the device's tailnet IPv4 (127.100.0.0/16 in the sandbox); none before a join:
  `no current Tailscale IPs; state: NeedsLogin`, exit 1.
- `logout` forgets the device locally (the control plane is not told); `down` stops it.

Control-plane contract (SANDBOX ONLY, served by `sandbox/tailscale`; URL from `SANDBOX_TAILSCALE_URL`):
`POST {url}/sandbox/join` with JSON `{"authKey": str, "hostname": str, "tags": [str]}` answers 200 with
the device as `GET /api/v2/device/{id}` shows it (at least `addresses` (IPv4 first), `name` (MagicDNS
FQDN), `hostname`, `tags`; `nodeId`, `nodeKey`, `id` used when present), or a non-2xx status with
`{"message": "backend error: ..."}` (the `JoinError` text), which is printed verbatim.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sandbox.host.state import HostPaths, locked_json, read_json
from sandbox.host.tools import ToolError, run_subcommand

VERSION = "1.84.0-sandbox"
"""What `tailscale version` and `status --json` report."""

LOGIN_URL = "https://login.tailscale.com/a/sandbox"
"""The interactive login URL printed when `up` has no auth key (never reachable in the sandbox)."""

BOOL_FLAGS = {
    "reset",
    "force-reauth",
    "json",
    "ssh",
    "accept-routes",
    "accept-dns",
    "advertise-exit-node",
    "shields-up",
    "qr",
    "exit-node-allow-lan-access",
    "advertise-connector",
    "peers",
    "self",
    "active",
    "1",
    "4",
    "6",
    "daemon",
    "upstream",
}
"""Go boolean flags (no value unless written `--x=value`)."""

VALUE_FLAGS = {
    "auth-key",
    "authkey",
    "hostname",
    "advertise-tags",
    "timeout",
    "advertise-routes",
    "login-server",
    "operator",
    "exit-node",
    "netfilter-mode",
    "assert",
}
"""Flags that take a value."""

DEFAULT_STATE: dict[str, Any] = {"backend_state": "NeedsLogin", "device": None, "prefs": {}, "peers": []}


class CliError(ToolError):
    """A failed command: the message goes to stderr and the CLI exits 1."""


def parse_flags(args: Sequence[str], allowed: set[str]) -> tuple[dict[str, str], list[str]]:
    """Go `flag` parsing of `args` against `allowed` names: (flags, positional arguments)."""
    flags: dict[str, str] = {}
    words, i = list(args), 0
    while i < len(words):
        word = words[i]
        if word == "--":
            return flags, words[i + 1 :]
        if not word.startswith("-") or word == "-":
            return flags, words[i:]
        name, eq, value = word.lstrip("-").partition("=")
        if name not in allowed:
            raise CliError(f"flag provided but not defined: -{name}")
        if name in BOOL_FLAGS:
            flags[name] = value if eq else "true"
        elif eq:
            flags[name] = value
        elif i + 1 < len(words):
            flags[name] = words[i + 1]
            i += 1
        else:
            raise CliError(f"flag needs an argument: -{name}")
        i += 1
    return flags, []


def _true(flags: dict[str, str], name: str) -> bool:
    return flags.get(name, "false").lower() in ("true", "1", "t")


def _require_root(command: str) -> None:
    if os.environ.get("SANDBOX_SUDO") != "1":
        raise CliError(
            f"Access denied: prefs write access denied\n\nUse 'sudo tailscale {command}'.\n"
            "To not require root, use 'sudo tailscale set --operator=$USER' once."
        )


def _read_key(value: str) -> str:
    if not value.startswith("file:"):
        return value.strip()
    path = value[len("file:") :]
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError as exc:
        raise CliError(f"reading auth key file {path!r}: {exc.strerror or exc}") from None


def join(url: str | None, secret: str, hostname: str, tags: list[str]) -> dict[str, Any]:
    """`POST {url}/sandbox/join`: the registered device, or a CliError with the control plane's message."""
    if not url:
        raise CliError("sandbox: SANDBOX_TAILSCALE_URL is not set: no control plane to join")
    body = json.dumps({"authKey": secret, "hostname": hostname, "tags": tags}).encode()
    request = urllib.request.Request(
        url.rstrip("/") + "/sandbox/join",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=30) as response:
            device = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        text = exc.read().decode(errors="replace")
        try:
            message = str(json.loads(text).get("message") or text)
        except (ValueError, AttributeError):
            message = text or f"HTTP {exc.code}"
        raise CliError(message) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(f"sandbox: cannot reach the emulated control plane at {url}: {reason}") from None
    if not isinstance(device, dict) or not device.get("addresses") or not device.get("name"):
        raise CliError(f"sandbox: the control plane answered an unexpected device: {device!r}")
    return device


def up(args: Sequence[str], paths: HostPaths) -> int:
    """`tailscale up`: see the module docstring."""
    flags, rest = parse_flags(args, BOOL_FLAGS | VALUE_FLAGS)
    if rest:
        raise CliError(f"too many non-flag arguments: {rest!r}")
    _require_root("up")
    tags = [tag for tag in flags.get("advertise-tags", "").split(",") if tag]
    for tag in tags:
        if not tag.startswith("tag:"):
            raise CliError(f"tag: {tag!r}: tags must start with 'tag:'")
    hostname = flags.get("hostname") or os.environ.get("SANDBOX_HOST_NAME", "spark")
    key = flags.get("auth-key") or flags.get("authkey") or ""
    with locked_json(paths.tailscale, DEFAULT_STATE) as state:
        prefs = state.get("prefs") or {}
        same_tags = sorted(prefs.get("advertise_tags", [])) == sorted(tags)
        if state["device"] and same_tags and not _true(flags, "force-reauth"):
            state["backend_state"] = "Running"
            state["prefs"] = {**prefs, "hostname": hostname}
            return 0
        secret = _read_key(key) if key else ""
        if not secret:
            print(f"\nTo authenticate, visit:\n\n\t{LOGIN_URL}\n", file=sys.stderr)
            raise CliError(
                "timeout waiting for Tailscale service to enter a Running state; last state: NeedsLogin"
            )
        device = join(os.environ.get("SANDBOX_TAILSCALE_URL"), secret, hostname, tags)
        state.update(
            backend_state="Running",
            device=device,
            prefs={"hostname": hostname, "advertise_tags": tags},
            joined_at=datetime.now(UTC).isoformat(),
        )
    if _true(flags, "json"):
        print(json.dumps({"BackendState": "Running"}, indent=2))
    return 0


def _dns_name(device: dict[str, Any]) -> str:
    return str(device.get("name", "")).rstrip(".") + "."


def _peer_status(device: dict[str, Any], online: bool) -> dict[str, Any]:
    addresses = [a for a in device.get("addresses", []) if ":" not in a]
    status: dict[str, Any] = {
        "ID": device.get("nodeId") or device.get("id") or "",
        "PublicKey": device.get("nodeKey") or "nodekey:" + "0" * 64,
        "HostName": device.get("hostname", ""),
        "DNSName": _dns_name(device),
        "OS": device.get("os", "linux"),
        "UserID": 0,
        "TailscaleIPs": addresses,
        "AllowedIPs": [f"{a}/32" for a in addresses],
        "Addrs": None,
        "CurAddr": "",
        "Relay": "",
        "RxBytes": 0,
        "TxBytes": 0,
        "Created": "0001-01-01T00:00:00Z",
        "LastWrite": "0001-01-01T00:00:00Z",
        "LastSeen": "0001-01-01T00:00:00Z",
        "LastHandshake": "0001-01-01T00:00:00Z",
        "Online": online,
        "ExitNode": False,
        "ExitNodeOption": False,
        "Active": False,
        "InNetworkMap": True,
        "InMagicSock": False,
        "InEngine": False,
    }
    if device.get("tags"):
        status["Tags"] = list(device["tags"])
    return status


def status_document(state: dict[str, Any], peers: bool = True) -> dict[str, Any]:
    """The `tailscale status --json` document for a state (see the module docstring)."""
    device = state.get("device")
    backend = state.get("backend_state", "NeedsLogin")
    if device:
        me = _peer_status(device, backend == "Running")
        suffix = _dns_name(device).split(".", 1)[1].rstrip(".")
        tailnet: dict[str, Any] | None = {"Name": suffix, "MagicDNSSuffix": suffix, "MagicDNSEnabled": True}
        ips: list[str] | None = me["TailscaleIPs"]
    else:
        me = {
            "ID": "",
            "PublicKey": "nodekey:" + "0" * 64,
            "HostName": os.environ.get("SANDBOX_HOST_NAME", ""),
            "DNSName": "",
            "OS": "linux",
            "UserID": 0,
            "TailscaleIPs": None,
            "Online": False,
        }
        suffix, tailnet, ips = "", None, None
    peer_map = {
        p.get("nodeKey") or f"nodekey:{i:064x}": _peer_status(p, True)
        for i, p in enumerate(state.get("peers", []))
    }
    return {
        "Version": VERSION,
        "TUN": True,
        "BackendState": backend,
        "HaveNodeKey": bool(device),
        "AuthURL": "" if device else LOGIN_URL,
        "TailscaleIPs": ips,
        "Self": me,
        "Health": [] if backend == "Running" else [f"state={backend}"],
        "MagicDNSSuffix": suffix,
        "CurrentTailnet": tailnet,
        "CertDomains": None,
        "Peer": (peer_map or None) if peers else None,
        "User": None,
        "ClientVersion": None,
    }


def status(args: Sequence[str], paths: HostPaths) -> int:
    """`tailscale status [--json] [--peers=false]`."""
    flags, _rest = parse_flags(args, {"json", "peers", "self", "active"})
    state = read_json(paths.tailscale, DEFAULT_STATE)
    document = status_document(state, peers=flags.get("peers", "true").lower() in ("true", "1", "t"))
    if _true(flags, "json"):
        print(json.dumps(document, indent=2))
        return 0
    backend = document["BackendState"]
    if backend == "NeedsLogin":
        raise CliError(f"Logged out.\nLog in at: {LOGIN_URL}")
    if backend == "Stopped":
        raise CliError("Tailscale is stopped.")
    rows = [document["Self"], *(document["Peer"] or {}).values()]
    for row in rows:
        owner = "tagged-devices" if row.get("Tags") else "sandbox@"
        print(f"{(row['TailscaleIPs'] or ['-'])[0]:<16}{row['HostName']:<24}{owner:<16}linux   -")
    return 0


def ip(args: Sequence[str], paths: HostPaths) -> int:
    """`tailscale ip [-4|-6|-1]`: the tailnet addresses (IPv4 only in the sandbox)."""
    flags, rest = parse_flags(args, {"4", "6", "1", "assert"})
    if rest:
        raise CliError("sandbox: `tailscale ip <peer>` is not emulated")
    state = read_json(paths.tailscale, DEFAULT_STATE)
    device = state.get("device")
    addresses = [a for a in (device or {}).get("addresses", []) if ":" not in a]
    if not addresses:
        raise CliError(f"no current Tailscale IPs; state: {state.get('backend_state', 'NeedsLogin')}")
    if _true(flags, "6"):
        raise CliError("no Tailscale IPv6 address (the sandbox emulates IPv4 only)")
    if "assert" in flags and flags["assert"] not in addresses:
        raise CliError(f"assertion failed: wanted {flags['assert']}, got {addresses[0]}")
    print(addresses[0])
    return 0


def version(args: Sequence[str], paths: HostPaths) -> int:
    """`tailscale version`."""
    print(f"{VERSION}\n  tailscale commit: sandbox\n  other commit: sandbox\n  go version: go1.24.4")
    return 0


def down(args: Sequence[str], paths: HostPaths) -> int:
    """`tailscale down`: `Stopped`, the device kept."""
    parse_flags(args, {"accept-risk", "reason"})
    _require_root("down")
    with locked_json(paths.tailscale, DEFAULT_STATE) as state:
        if state.get("device"):
            state["backend_state"] = "Stopped"
    return 0


def logout(args: Sequence[str], paths: HostPaths) -> int:
    """`tailscale logout`: `NeedsLogin`, the device forgotten locally (the control plane keeps it)."""
    parse_flags(args, set())
    _require_root("logout")
    with locked_json(paths.tailscale, DEFAULT_STATE) as state:
        state.update(backend_state="NeedsLogin", device=None, prefs={})
    return 0


COMMANDS = {"up": up, "status": status, "ip": ip, "version": version, "down": down, "logout": logout}


def main(argv: Sequence[str]) -> int:
    """Dispatch `tailscale SUBCOMMAND ...`; errors go to stderr with exit 1."""
    if not argv:
        print("USAGE\n  tailscale [flags] <subcommand> [command flags]", file=sys.stderr)
        return 1
    return run_subcommand(
        COMMANDS, argv, "sandbox: `tailscale {name}` is not emulated (emulated: {emulated})"
    )
