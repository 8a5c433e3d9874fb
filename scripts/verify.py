#!/usr/bin/env python3
"""Client -> gateway -> model, the two calls of the manual walkthrough, with a diagnosis on failure.

`make verify STACK=x` reads the stack's client settings (`pulumi stack output`) and runs:
1. `GET <base>/models`: the gateway answers and lists the model for this identity;
2. `POST <base>/chat/completions`: one short completion through the gateway.
A failure is mapped to the walkthrough's troubleshooting table: the symptom, the likely cause and
the fix. Also usable without a stack: `python3 scripts/verify.py --base-url http://ai/v1 --model M`.

Sandbox only: `--identity` sends `X-Sandbox-Identity`, the emulated gateway's stand-in for
Tailscale's WhoIs; a real Aperture ignores it.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Diagnosis:
    """A failed check, worded as the troubleshooting table words it."""

    symptom: str
    cause: str
    fix: str

    def __str__(self) -> str:
        return f"{self.symptom}\n  cause: {self.cause}\n  fix:   {self.fix}"


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange: status (0 when no answer), body text, or the network error."""

    status: int
    body: str
    error: BaseException | None = None


def request(url: str, identity: str | None, payload: dict[str, Any] | None = None) -> Reply:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method="GET" if data is None else "POST")
    req.add_header("Authorization", "Bearer any-non-empty-placeholder")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if identity:
        req.add_header("X-Sandbox-Identity", identity)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as response:
            return Reply(response.status, response.read().decode(errors="replace"))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode(errors="replace"))
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return Reply(0, "", reason if isinstance(reason, BaseException) else OSError(str(reason)))


def diagnose(step: str, base_url: str, reply: Reply) -> Diagnosis:
    """Map one failed reply to the troubleshooting table."""
    host = base_url.split("//", 1)[-1].split("/", 1)[0]
    if isinstance(reply.error, socket.gaierror):
        return Diagnosis(
            f"{step}: {host} does not resolve",
            "MagicDNS is off, or this device is signed in to another tailnet",
            "enable MagicDNS (sovereign-ai:tailnet.magicDns: true) and sign in with the same account; "
            "fallback: use the gateway's 100.x address in the base URL",
        )
    if reply.error is not None:
        return Diagnosis(
            f"{step}: cannot connect to the gateway at {host} ({reply.error})",
            "this device is not on the tailnet, or the tailnet policy does not let you reach the gateway",
            "run `tailscale status`; check that your login is in sovereign-ai:tailnet.modelUsers",
        )
    if reply.status == 403:
        return Diagnosis(
            f"{step}: 403 / access denied through the gateway ({_message(reply.body)})",
            "no Aperture grant covers your identity",
            "add a grant for your user and the model in sovereign-ai:gateway.grants (or modelUsers)",
        )
    if reply.status in (404, 405) and "/v1/v1" in reply.body:
        return Diagnosis(
            f"{step}: {reply.status} on /v1/v1/... through the gateway",
            "the provider base URL includes /v1, and Aperture appends the request path",
            "set the provider base URL to host:port only (sovereign-ai:hosts[].baseUrl without /v1)",
        )
    if reply.status == 404:
        return Diagnosis(
            f"{step}: 404 through the gateway ({_message(reply.body)})",
            "the model id is not one the gateway routes for you: a grant without this model, a "
            "served name that differs from the provider's models, or /v1 in the provider base URL",
            "compare `GET /v1/models` through the gateway with the model id; check baseUrl has no /v1",
        )
    if reply.status in (502, 503, 504):
        return Diagnosis(
            f"{step}: {reply.status} from the gateway ({_message(reply.body)})",
            "the gateway cannot reach the model server: a tailnet rule blocks gateway -> server:port "
            "(the dashboard's red X), or vLLM is not up",
            "keep the generated grant gateway -> tag:gpu on the model port; check the host's readiness step",
        )
    return Diagnosis(
        f"{step}: unexpected {reply.status} from the gateway", _message(reply.body), "see the gateway's logs"
    )


def _message(body: str) -> str:
    try:
        value = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    if isinstance(value, dict):
        for key in ("detail", "message", "error"):
            if isinstance(value.get(key), str):
                return str(value[key])
            if isinstance(value.get(key), dict) and "message" in value[key]:
                return str(value[key]["message"])
    return body.strip()[:200]


def show_usage(base_url: str, identity: str | None) -> None:
    """Sandbox only: the emulated gateway's last usage record (`GET /api/usage`)."""
    root = base_url.rstrip("/").removesuffix("/v1")
    reply = request(f"{root}/api/usage", identity)
    records = json.loads(reply.body).get("records", []) if reply.status == 200 else []
    if not records:
        print(
            f"    no usage record available at {root}/api/usage (a real Aperture shows it in its dashboard)"
        )
        return
    last = records[-1]
    print(
        f"    usage record: {last['identity']} used {last['model']}: "
        f"{last['prompt_tokens']} prompt + {last['completion_tokens']} completion tokens"
    )


def verify(base_url: str, model: str, identity: str | None, show_usage_record: bool = False) -> int:
    base = base_url.rstrip("/")
    started = time.monotonic()
    print(f"==> GET {base}/models")
    reply = request(f"{base}/models", identity)
    if reply.status != 200:
        print(f"FAIL {diagnose('list models', base, reply)}", file=sys.stderr)
        return 1
    ids = [entry.get("id") for entry in json.loads(reply.body).get("data", [])]
    if model not in ids and not any(str(i).endswith(f"/{model}") for i in ids):
        print(
            f"FAIL list models: {model} is not among the models visible to you ({', '.join(map(str, ids))})\n"
            "  cause: no grant gives you this model, or the provider's models differ from vLLM's served name\n"
            "  fix:   check sovereign-ai:gateway.grants models patterns and hosts[].servedModelName",
            file=sys.stderr,
        )
        return 1
    print(f"    ok: {len(ids)} model(s) visible, including {model}")
    print(f"==> POST {base}/chat/completions ({model})")
    payload = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 16,
    }
    reply = request(f"{base}/chat/completions", identity, payload)
    if reply.status != 200:
        print(f"FAIL {diagnose('chat completion', base, reply)}", file=sys.stderr)
        return 1
    answer = json.loads(reply.body)
    usage = answer.get("usage", {})
    text = answer["choices"][0]["message"]["content"]
    print(
        f"    ok: {text!r} ({usage.get('prompt_tokens')} prompt + {usage.get('completion_tokens')} completion tokens)"
    )
    if show_usage_record:
        show_usage(base, identity)
    print(f"==> verified in {time.monotonic() - started:.1f}s. Client settings:")
    print(f"    base URL: {base}\n    API key:  any non-empty placeholder\n    model:    {model}")
    return 0


def stack_settings(stack: str) -> tuple[str, str]:
    result = subprocess.run(
        ["pulumi", "stack", "output", "--json", "--stack", stack], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"verify: cannot read outputs of stack {stack}: {result.stderr.strip()}")
    outputs = json.loads(result.stdout)
    return outputs["client_base_url"], outputs["client_model_ids"][0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", help="read base URL and model from this stack's outputs")
    parser.add_argument("--base-url", help="gateway base URL including /v1, e.g. http://ai/v1")
    parser.add_argument("--model", help="model id to call")
    parser.add_argument("--identity", help="sandbox only: caller identity for the emulated gateway")
    parser.add_argument("--usage", action="store_true", help="sandbox only: print the gateway's usage record")
    args = parser.parse_args(argv)
    if args.stack:
        base_url, model = stack_settings(args.stack)
    elif args.base_url and args.model:
        base_url, model = args.base_url, args.model
    else:
        parser.error("give --stack, or --base-url and --model")
    return verify(args.base_url or base_url, args.model or model, args.identity, args.usage)


if __name__ == "__main__":
    sys.exit(main())
