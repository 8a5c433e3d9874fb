"""The sandbox-only join endpoint the emulated host's `tailscale up` calls (`POST /sandbox/join`)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.tailscale.app import TailscaleServer, serve

POLICY = '{"tagOwners": {"tag:gpu": ["autogroup:admin"]}, "grants": []}'


@pytest.fixture
def server() -> Iterator[TailscaleServer]:
    server, _ = serve()
    yield server
    server.shutdown()
    server.server_close()


def call(
    server: TailscaleServer, method: str, path: str, body: Any = None, api: bool = True
) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(server.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if api:
        request.add_header(
            "Authorization", "Basic " + base64.b64encode(f"{server.state.api_key}:".encode()).decode()
        )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def new_key(server: TailscaleServer) -> str:
    assert call(server, "POST", "/api/v2/tailnet/-/acl", POLICY)[0] == 200
    status, key = call(
        server,
        "POST",
        "/api/v2/tailnet/-/keys",
        {
            "capabilities": {
                "devices": {"create": {"reusable": False, "preauthorized": True, "tags": ["tag:gpu"]}}
            }
        },
    )
    assert status == 200, key
    return str(key["key"])


def test_join_registers_a_tagged_device_with_a_sandbox_tailnet_address(server: TailscaleServer) -> None:
    status, device = call(
        server,
        "POST",
        "/sandbox/join",
        {"authKey": new_key(server), "hostname": "spark", "tags": ["tag:gpu"]},
        api=False,
    )
    assert status == 200, device
    assert device["hostname"] == "spark" and device["tags"] == ["tag:gpu"]
    assert device["addresses"][0].startswith("127.100.")
    assert device["name"] == "spark.sandbox.ts.net"


def test_join_with_a_used_single_use_key_is_refused_with_the_cli_wording(server: TailscaleServer) -> None:
    key = new_key(server)
    body = {"authKey": key, "hostname": "spark", "tags": ["tag:gpu"]}
    assert call(server, "POST", "/sandbox/join", body, api=False)[0] == 200
    status, error = call(server, "POST", "/sandbox/join", body, api=False)
    assert status == 400
    assert error["message"].startswith("backend error: invalid key: API key ") and error["message"].endswith(
        " not valid"
    )


def test_join_is_audited_as_mutating(server: TailscaleServer) -> None:
    call(
        server,
        "POST",
        "/sandbox/join",
        {"authKey": new_key(server), "hostname": "spark", "tags": []},
        api=False,
    )
    record = server.state.requests[-1]
    assert (record.path, record.mutating, record.status) == ("/sandbox/join", True, 200)
