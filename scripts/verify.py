#!/usr/bin/env python3
"""Client -> gateway -> model, the two calls of the manual walkthrough, with a diagnosis on failure.

`make verify STACK=x` reads the stack's client settings (`pulumi stack output`) and runs:
1. `GET <base>/models`: the gateway answers and lists the model for this identity;
2. `POST <base>/chat/completions`: one short completion through the gateway;
3. `GET /api/quotas`: the caller's remaining budget (Aperture's quota buckets), when one applies.
A failure is mapped to the walkthrough's troubleshooting table: the symptom, the likely cause and
the fix; a 429 is a spent budget, with when it refills (`Retry-After`). A 403 `access denied: no role granted` for someone the stack puts in a group its Aperture
grants name means the group is not visible to Aperture (the stack's `effective_aperture_grants`
output and `tailnet.groups` config say who that is; the caller is `--identity`, else this device's
Tailscale login). Also usable without a stack: `python3 scripts/verify.py --base-url http://ai/v1
--model M`. Standard library only: `make verify` runs it with the system python3.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TIMEOUT_SECONDS = 60
NO_ROLE = "access denied: no role granted"
"""Aperture's 403 message for a caller no grant gives a role."""

GroupMembers = Mapping[str, Sequence[str]]
"""`group:x` -> its members from the stack's `tailnet.groups`, for each group the grants name."""


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
    retry_after: str | None = None
    """The `Retry-After` header of an error answer (a 429 from a spent budget), if any."""


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
        retry_after = exc.headers.get("Retry-After") if exc.headers else None
        return Reply(exc.code, exc.read().decode(errors="replace"), retry_after=retry_after)
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return Reply(0, "", reason if isinstance(reason, BaseException) else OSError(str(reason)))


@dataclass(frozen=True)
class StackSettings:
    """What verify reads from a stack: the client settings, and who is in the grants' groups."""

    base_url: str
    model: str
    grant_groups: GroupMembers = field(default_factory=dict)


def member_groups(identity: str | None, grant_groups: GroupMembers) -> list[str]:
    """The groups of the Aperture grants that the stack puts `identity` in."""
    return sorted(group for group, members in grant_groups.items() if identity and identity in members)


def hidden_group(
    step: str, reply: Reply, identity: str | None, grant_groups: GroupMembers
) -> Diagnosis | None:
    """A 403 with no role for a member of a group the grants name: the group is not visible to Aperture."""
    groups = member_groups(identity, grant_groups)
    if reply.status != 403 or NO_ROLE not in reply.body or not groups:
        return None
    named = ", ".join(groups)
    return Diagnosis(
        f"{step}: 403 / access denied through the gateway ({NO_ROLE}) for {identity}, a member of {named}",
        f"this group is not visible to Aperture: the grants name {named}, and Aperture matches a "
        "group: source only through a tailscale.com/visible-groups node attribute, on a tailnet where "
        "Tailscale has turned group visibility on",
        "expand the group: remove sovereign-ai:gateway.visibleGroups, so the grants name its members "
        "from sovereign-ai:tailnet.groups; or turn group visibility on for the tailnet (ask Tailscale; "
        "the Aperture device needs Tailscale 1.97.8 or later); then run `make up`",
    )


def diagnose(
    step: str,
    base_url: str,
    reply: Reply,
    identity: str | None = None,
    grant_groups: GroupMembers | None = None,
) -> Diagnosis:
    """Map one failed reply to the troubleshooting table."""
    found = hidden_group(step, reply, identity, grant_groups or {})
    if found is not None:
        return found
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
    if reply.status == 429:
        return budget_spent(step, reply)
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


def budget_spent(step: str, reply: Reply) -> Diagnosis:
    """A 429: Aperture refuses while a budget (quota bucket) that applies to the caller is spent."""
    try:
        wait: float | None = float(reply.retry_after) if reply.retry_after is not None else None
    except ValueError:
        wait = None
    if wait is None:
        when = "once it refills"
    else:
        at = time.strftime("%H:%M:%S", time.localtime(time.time() + wait))
        when = f"in {wait:.0f}s (at about {at})"
    return Diagnosis(
        f"{step}: 429 budget spent ({_message(reply.body)})",
        "your Aperture budget is spent: a quota bucket charged for your requests is empty, and "
        "Aperture refuses them until it refills (sovereign-ai:gateway.quotas: capacity, rate)",
        f"wait: it refills enough to call again {when}; or an admin refills it now "
        "(POST /api/quotas/refill), or raise sovereign-ai:gateway.quotas and run `make up`",
    )


def show_budget(base_url: str, identity: str | None) -> None:
    """The caller's remaining budget (`GET /api/quotas`); a gateway without one is not a failure."""
    root = base_url.rstrip("/").removesuffix("/v1")
    reply = request(f"{root}/api/quotas", identity)
    try:
        document = json.loads(reply.body) if reply.status == 200 else None
    except ValueError:
        document = None
    buckets = document.get("quotas") if isinstance(document, dict) else document
    if not isinstance(buckets, list):
        print(f"    budget: not shown ({root}/api/quotas answered {reply.status or reply.error})")
        return
    mine = [b for b in buckets if isinstance(b, dict) and _charges(str(b.get("name", "")), identity)]
    if not mine:
        print("    budget: none applies to you (no quota bucket; sovereign-ai:gateway.quotas sets one)")
    for bucket in mine:
        print(
            f"    budget: {bucket.get('balance')} of {bucket.get('capacity')} left in {bucket.get('name')} "
            f"(refills {bucket.get('rate')})"
        )


def _charges(name: str, identity: str | None) -> bool:
    """Whether a listed bucket is the caller's: a shared one, or the caller's own per-user one (an
    admin's list holds everyone's)."""
    return identity is None or "@" not in name or name.endswith(f":{identity}") or identity in name


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
    cost = f", {last['cost']}" if last.get("cost") not in (None, "$0.00") else ""
    print(
        f"    usage record: {last['identity']} used {last['model']}: "
        f"{last['prompt_tokens']} prompt + {last['completion_tokens']} completion tokens{cost}"
    )


def tailnet_login() -> str | None:
    """This device's Tailscale login (`tailscale status --json`), or None when it cannot be read."""
    try:
        result = subprocess.run(
            ["tailscale", "status", "--json"], capture_output=True, text=True, timeout=10, check=True
        )
        status = json.loads(result.stdout)
        user = status["User"][str(status["Self"]["UserID"])]
    except (OSError, ValueError, KeyError, TypeError, subprocess.SubprocessError):
        return None
    login = user.get("LoginName") if isinstance(user, dict) else None
    return login if isinstance(login, str) else None


def fail(step: str, base: str, reply: Reply, identity: str | None, grant_groups: GroupMembers) -> int:
    """Print the diagnosis of a failed call; the caller is `identity`, else this device's login."""
    if reply.status == 403 and identity is None and grant_groups:
        identity = tailnet_login()
    print(f"FAIL {diagnose(step, base, reply, identity, grant_groups)}", file=sys.stderr)
    return 1


def verify(
    base_url: str,
    model: str,
    identity: str | None,
    show_usage_record: bool = False,
    grant_groups: GroupMembers | None = None,
) -> int:
    base = base_url.rstrip("/")
    groups = grant_groups or {}
    started = time.monotonic()
    print(f"==> GET {base}/models")
    reply = request(f"{base}/models", identity)
    if reply.status != 200:
        return fail("list models", base, reply, identity, groups)
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
        return fail("chat completion", base, reply, identity, groups)
    answer = json.loads(reply.body)
    usage = answer.get("usage", {})
    text = answer["choices"][0]["message"]["content"]
    print(
        f"    ok: {text!r} ({usage.get('prompt_tokens')} prompt + {usage.get('completion_tokens')} completion tokens)"
    )
    show_budget(base, identity)
    if show_usage_record:
        show_usage(base, identity)
    print(f"==> verified in {time.monotonic() - started:.1f}s. Client settings:")
    print(f"    base URL: {base}\n    API key:  any non-empty placeholder\n    model:    {model}")
    return 0


def pulumi_json(*args: str) -> Any:
    """`pulumi <args> --json`, decoded; raises SystemExit with pulumi's message when it fails."""
    result = subprocess.run(["pulumi", *args, "--json"], capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"verify: `pulumi {' '.join(args)}` failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def stack_settings(stack: str) -> StackSettings:
    """The client settings from the stack's outputs, and the members of the grants' groups (when its
    config can be read: they only sharpen a 403's diagnosis)."""
    outputs = pulumi_json("stack", "output", "--stack", stack)
    try:
        config = pulumi_json("config", "--stack", stack)
    except SystemExit:
        config = {}
    tailnet = (config.get("sovereign-ai:tailnet") or {}).get("objectValue")
    return StackSettings(
        outputs["client_base_url"],
        outputs["client_model_ids"][0],
        grant_group_members(outputs.get("effective_aperture_grants"), tailnet),
    )


def grant_group_members(grants: Any, tailnet: Any) -> dict[str, list[str]]:
    """Each `group:` the live Aperture grants name, with its members from the config's `tailnet.groups`."""
    groups = tailnet.get("groups") if isinstance(tailnet, dict) else None
    groups = groups if isinstance(groups, dict) else {}
    named = {
        source
        for grant in (grants if isinstance(grants, list) else [])
        if isinstance(grant, dict) and isinstance(grant.get("src"), list)
        for source in grant["src"]
        if isinstance(source, str) and source.startswith("group:")
    }
    return {group: list(groups.get(group) or []) for group in sorted(named)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", help="read base URL and model from this stack's outputs")
    parser.add_argument("--base-url", help="gateway base URL including /v1, e.g. http://ai/v1")
    parser.add_argument("--model", help="model id to call")
    parser.add_argument("--identity", help="sandbox only: caller identity for the emulated gateway")
    parser.add_argument("--usage", action="store_true", help="sandbox only: print the gateway's usage record")
    args = parser.parse_args(argv)
    if args.stack:
        settings = stack_settings(args.stack)
    elif args.base_url and args.model:
        settings = StackSettings(args.base_url, args.model)
    else:
        parser.error("give --stack, or --base-url and --model")
    return verify(
        args.base_url or settings.base_url,
        args.model or settings.model,
        args.identity,
        args.usage,
        settings.grant_groups,
    )


if __name__ == "__main__":
    sys.exit(main())
