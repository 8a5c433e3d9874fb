"""Save-time checks of a Tailscale policy file, worded as Tailscale words its 400 messages.

Part of the Tailscale API emulator: `policy.PolicyStore` runs it on every save and validate. It is
pure (no state, no I/O) and builds on the project's policy model in `tailnet_policy/` (`policy_file`
parses, `reachability` parses port specs). `validate(policy)` returns every problem found, in the
order Tailscale reports them (tag and group definitions, then acls, ssh, grants, nodeAttrs,
autoApprovers); the emulator answers with the first, as SaaS answers with one message. Wording comes
from SaaS captures recorded by headscale (docs/architecture.md §10.1); which context gets which
wording follows headscale's SaaS-aligned validator:

- tag not in `tagOwners`: acls/grants src `src=tag not found: "tag:x"`, acls dst
  `dst="tag:x": tag not found: "tag:x"`, grants via `tag "tag:x" not found`, everywhere else
  (grants dst, ssh, nodeAttrs, tagOwners owners, autoApprovers) `tag not found: "tag:x"`;
- `"autogroup:self" not valid on the src side of a rule`, `cannot use autogroup:danger-all as a dst`,
  `autogroup:self can only be used with users, groups, or supported autogroups`;
- `action="deny" is not supported` (acls), `ip and app can not both be empty`, `via can only be a tag`,
  `cannot use app grants with autogroup:internet`,
  `dst "0.0.0.0/0": to allow all IP addresses, use "*" or "autogroup:internet"`,
  `capability name must have the form {domain}/{path}`,
  `capability name must not be in the tailscale.com domain`;
- port specs: `dst="autogroup:self": port range "self": invalid first integer` (acls) and the bare
  `port range ...` message (grants `ip`), from `tailnet_policy.reachability.parse_ports`;
- `tagOwners["tag:1x"]: tag names must start with a letter, after 'tag:'`,
  `groups["group:outer"]: "group:inner": group members cannot be recursive`;
- ssh: `action must be specified`, `"deny" is not a valid action`, `users must be specified`,
  `user "*" is not valid`, `acceptEnv values cannot be empty`, `invalid dst "srv"`,
  `checkPeriod 200h0m0s is above the max (168h)`, `time: invalid duration "abc"`.

Emulator wording, unverified against SaaS: `group not found: "group:x"` (the wording
`tailnet_policy.reachability` uses for tests) and `dst="x": hostport must contain a colon` (acls dst
without a port). Not checked: hosts aliases that are not defined, unknown autogroups, postures,
`user:*@domain` domains, ipsets, ipPool ranges, sshTests (they are not evaluated either).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator
from typing import Any

from tailnet_policy.policy_file import PolicyFile
from tailnet_policy.reachability import PortSpecError, parse_ports

TAILSCALE_CAPABILITIES = frozenset(
    {
        "tailscale.com/cap/drive",
        "tailscale.com/cap/relay",
        "tailscale.com/cap/webui",
        "tailscale.com/cap/kubernetes",
        "tailscale.com/cap/tsidp",
        "tailscale.com/cap/secrets",
        "tailscale.com/cap/tailsql",
        "tailscale.com/cap/golink",
        "tailscale.com/cap/aperture",
    }
)
"""`tailscale.com/...` capability names a grant's `app` may use; any other is rejected."""

MAX_CHECK_PERIOD_SECONDS = 168 * 3600
"""The longest ssh `checkPeriod` Tailscale accepts (168h)."""

_TAG_NAME = re.compile(r"^[A-Za-z0-9-]*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def check_tag_name(tag: str) -> str | None:
    """Tailscale's tag-name rule (`tailcfg.CheckTag`): None when valid, else the reason."""
    if not tag.startswith("tag:"):
        return "tags must start with 'tag:'"
    name = tag[4:]
    if not name:
        return "tag names must not be empty"
    if not name[0].isascii() or not name[0].isalpha():
        return "tag names must start with a letter, after 'tag:'"
    if not _TAG_NAME.match(name):
        return "tag names can only contain numbers, letters, or dashes"
    return None


def validate(policy: PolicyFile) -> list[str]:
    """Every problem Tailscale would refuse this policy for, as its 400 messages (empty: valid)."""
    return list(_problems(policy))


def _problems(policy: PolicyFile) -> Iterator[str]:
    yield from _definitions(policy)
    yield from _acls(policy)
    yield from _ssh(policy)
    yield from _grants(policy)
    yield from _node_attrs(policy)
    yield from _auto_approvers(policy)


def _tag_missing(policy: PolicyFile, name: str) -> bool:
    return name.startswith("tag:") and name not in policy.tag_owners


def _group_missing(policy: PolicyFile, name: str) -> bool:
    return name.startswith("group:") and name not in policy.groups


SELF_AS_SRC = '"autogroup:self" not valid on the src side of a rule'
DANGER_ALL_AS_DST = "cannot use autogroup:danger-all as a dst"


def _plain_reference(policy: PolicyFile, name: str, tag_context: str = "") -> str | None:
    """A missing tag (`<tag_context>tag not found: "tag:x"`) or group in `name`; None when defined."""
    if _tag_missing(policy, name):
        return f'{tag_context}tag not found: "{name}"'
    if _group_missing(policy, name):
        return f'group not found: "{name}"'
    return None


def _reference(policy: PolicyFile, name: str, refused: tuple[str, str], tag_context: str = "") -> str | None:
    """What is wrong with naming `name` on this side of a rule, or None.

    `refused` is `(autogroup, message)`: the one autogroup this side may not name and Tailscale's
    message for it; any other name is checked by `_plain_reference`.
    """
    if name == refused[0]:
        return refused[1]
    return _plain_reference(policy, name, tag_context)


def _definitions(policy: PolicyFile) -> Iterator[str]:
    for tag, owners in policy.tag_owners.items():
        reason = check_tag_name(tag)
        if reason:
            yield f'tagOwners["{tag}"]: {reason}'
        for owner in owners:
            problem = _plain_reference(policy, owner)
            if problem:
                yield problem
    for group, members in policy.groups.items():
        for member in members:
            if member.startswith("group:"):
                yield f'groups["{group}"]: "{member}": group members cannot be recursive'


def _src_problems(policy: PolicyFile, sources: Iterable[str], tag_context: str = "src=") -> Iterator[str]:
    for src in sources:
        problem = _reference(policy, src, ("autogroup:self", SELF_AS_SRC), tag_context)
        if problem:
            yield problem


def _self_needs_users(sources: Iterable[str], allow_wildcard: bool) -> bool:
    for src in sources:
        if src == "*" and allow_wildcard:
            continue
        if src.startswith("group:") or src in ("autogroup:member", "autogroup:members"):
            continue
        if "@" in src and not src.startswith(("tag:", "autogroup:")):
            continue
        return True
    return False


def _acls(policy: PolicyFile) -> Iterator[str]:
    for acl in policy.acls:
        if acl.action != "accept":
            yield f'action="{acl.action}" is not supported'
        yield from _src_problems(policy, acl.src)
        hosts = []
        for dst in acl.dst:
            host, sep, ports = dst.rpartition(":")
            if not sep or not host:
                yield f'dst="{dst}": hostport must contain a colon'
                continue
            hosts.append(host)
            problem = _reference(policy, host, ("autogroup:danger-all", DANGER_ALL_AS_DST), f'dst="{host}": ')
            if problem:
                yield problem
            try:
                parse_ports(ports, (acl.proto.lower(),) if acl.proto else ("tcp", "udp", "icmp"))
            except PortSpecError as exc:
                yield f'dst="{dst}": {exc}'
        if "autogroup:self" in hosts and _self_needs_users(acl.src, allow_wildcard=True):
            yield "autogroup:self can only be used with users, groups, or supported autogroups"


def _ssh(policy: PolicyFile) -> Iterator[str]:
    for rule in policy.ssh:
        if not rule.action:
            yield "action must be specified"
        elif rule.action not in ("accept", "check"):
            yield f'"{rule.action}" is not a valid action'
        if not rule.users:
            yield "users must be specified"
        for user in rule.users:
            if user in ("", "*"):
                yield f'user "{user}" is not valid'
        for env in _string_list(rule.extra.get("acceptEnv", [])):
            if env == "":
                yield "acceptEnv values cannot be empty"
        yield from _src_problems(policy, rule.src, tag_context="")
        for dst in rule.dst:
            problem = _plain_reference(policy, dst)
            if problem:
                yield problem
            elif not _ssh_destination_ok(dst):
                yield f'invalid dst "{dst}"'
        period = rule.extra.get("checkPeriod")
        if isinstance(period, str) and period != "always":
            try:
                seconds = parse_go_duration(period)
            except ValueError as exc:
                yield str(exc)
            else:
                if seconds > MAX_CHECK_PERIOD_SECONDS:
                    yield f"checkPeriod {format_go_duration(seconds)} is above the max (168h)"


def _ssh_destination_ok(dst: str) -> bool:
    if dst.startswith(("tag:", "autogroup:", "group:")) or "@" in dst:
        return True
    try:
        ipaddress.ip_network(dst, strict=False)
    except ValueError:
        return False
    return True


def _grants(policy: PolicyFile) -> Iterator[str]:
    for grant in policy.grants:
        if not grant.ip and not grant.app:
            yield "ip and app can not both be empty"
        for name in grant.app:
            if "/" not in name or "://" in name:
                yield "capability name must have the form {domain}/{path}"
            elif name.startswith("tailscale.com/") and name not in TAILSCALE_CAPABILITIES:
                yield "capability name must not be in the tailscale.com domain"
        if grant.app and "autogroup:internet" in grant.dst:
            yield "cannot use app grants with autogroup:internet"
        for dst in grant.dst:
            if _is_default_route(dst):
                yield f'dst "{dst}": to allow all IP addresses, use "*" or "autogroup:internet"'
                break
        yield from _src_problems(policy, grant.src)
        for dst in grant.dst:
            problem = _reference(policy, dst, ("autogroup:danger-all", DANGER_ALL_AS_DST))
            if problem:
                yield problem
        for via in _string_list(grant.extra.get("via", [])):
            if not via.startswith("tag:"):
                yield "via can only be a tag"
            elif via not in policy.tag_owners:
                yield f'tag "{via}" not found'
        if "autogroup:self" in grant.dst and _self_needs_users(grant.src, allow_wildcard=False):
            yield "autogroup:self can only be used with users, groups, or supported autogroups"
        for spec in grant.ip:
            try:
                parse_ports(spec)
            except PortSpecError as exc:
                yield str(exc)


def _is_default_route(dst: str) -> bool:
    try:
        return ipaddress.ip_network(dst, strict=False).prefixlen == 0
    except ValueError:
        return False


def _node_attrs(policy: PolicyFile) -> Iterator[str]:
    for entry in policy.node_attrs:
        for target in entry.target:
            problem = _plain_reference(policy, target)
            if problem:
                yield problem


def _auto_approvers(policy: PolicyFile) -> Iterator[str]:
    approvers = policy.extra.get("autoApprovers")
    if not isinstance(approvers, dict):
        return
    routes = approvers.get("routes", {})
    names: list[str] = []
    if isinstance(routes, dict):
        for owners in routes.values():
            names.extend(_string_list(owners))
    names.extend(_string_list(approvers.get("exitNode", [])))
    for name in names:
        problem = _plain_reference(policy, name)
        if problem:
            yield problem


def _string_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def parse_go_duration(text: str) -> float:
    """Go's `time.ParseDuration` (`90m`, `1h30m`, `200h`) in seconds; ValueError as Go words it."""
    error = ValueError(f'time: invalid duration "{text}"')
    body = text
    sign = 1.0
    if body and body[0] in "+-":
        sign = -1.0 if body[0] == "-" else 1.0
        body = body[1:]
    if body == "0":
        return 0.0
    if not body:
        raise error
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != position:
            raise error
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(body):
        raise error
    return sign * total


def format_go_duration(seconds: float) -> str:
    """Go's `Duration.String` for whole seconds and more: `200h0m0s`, `1h30m0s`, `45s`."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
