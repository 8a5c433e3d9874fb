"""The emulated tailnet as the gateway sees it: who can it reach, and which groups can it see.

Pure glue between the emulators: the Aperture emulator asks before forwarding a request, and before
matching a `group:` grant source, and the answer comes from the Tailscale emulator's current policy
file through the shared evaluator, so a policy that blocks gateway -> GPU server fails the way it
does on a real tailnet (the dashboard's red X, a 502 through the gateway), and a group the gateway
may not see matches nobody (403, as on a tailnet without visible groups).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping, Sequence

from sandbox.tailscale.models import TAILNET_RANGE, TailnetState
from tailnet_policy.policy_file import VISIBLE_GROUPS
from tailnet_policy.reachability import Directory, Evaluator


def gateway_reachability(state: TailnetState, gateway_identity: str) -> Callable[[str, int], bool]:
    """`reachable(host, port)` for the Aperture emulator, as seen from `gateway_identity`.

    Addresses outside the emulated tailnet (e.g. 127.0.0.1 services) are always reachable: the
    policy file only governs tailnet addresses. A tailnet address with no device is unreachable.
    """

    def reachable(host: str, port: int) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            device = next((d for d in state.devices.values() if host in (d.name, d.hostname)), None)
        else:
            if address not in TAILNET_RANGE:
                return True
            device = next((d for d in state.devices.values() if d.address == host), None)
        if device is None:
            return False
        # The device is named by its tags (or owner) and by its address; the gateway by its
        # identity and by the addresses of the devices carrying it, so address rules apply too.
        targets = [*(device.tags or [device.owner]), device.address]
        evaluator = Evaluator(state.policy(), gateway_directory(state, gateway_identity))
        return any(evaluator.can_reach(gateway_identity, target, port) for target in targets)

    return reachable


def gateway_directory(state: TailnetState, gateway_identity: str) -> Directory:
    """The gateway's addresses: those of the devices carrying its identity (tag or owner)."""
    sources = tuple(d.address for d in state.devices.values() if gateway_identity in (*d.tags, d.owner))
    return Directory(addresses={gateway_identity: sources})


class VisibleGroups(Mapping[str, Sequence[str]]):
    """The policy `groups` the gateway can see, as Aperture resolves `group:` grant sources.

    Real Aperture learns a caller's groups only from the control plane, which sends them to the
    Aperture device only when the tailnet has Tailscale's visible-groups feature (sandbox/features.py)
    and the current policy file holds a `tailscale.com/visible-groups` node attribute whose `target`
    covers the device (its tag or address, as the sandbox's gateway has them) and whose `groups` list
    the group or `*` (docs/architecture.md §10.2). Without both, no group is visible, and a member of
    a `group:` source gets 403 like anyone without a grant. SCIM groups are not emulated.
    """

    def __init__(self, state: TailnetState, gateway_identity: str, feature_on: Callable[[], bool]) -> None:
        self._state = state
        self._gateway = gateway_identity
        self._feature_on = feature_on

    def _groups(self) -> Mapping[str, Sequence[str]]:
        if not self._feature_on():
            return {}
        policy = self._state.policy()
        evaluator = Evaluator(policy, gateway_directory(self._state, self._gateway))
        listed: set[str] = set()
        for entry in policy.node_attrs:
            if any(evaluator.matches_src(target, self._gateway) for target in entry.target):
                listed.update(_listed_groups(entry.app.get(VISIBLE_GROUPS)))
        return {name: members for name, members in policy.groups.items() if "*" in listed or name in listed}

    def __getitem__(self, name: str) -> Sequence[str]:
        return self._groups()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups())

    def __len__(self) -> int:
        return len(self._groups())


def _listed_groups(capability: object) -> Iterator[str]:
    """The `groups` entries of a visible-groups capability value, `[{"groups": [...]}, ...]`."""
    for value in capability if isinstance(capability, list) else []:
        groups = value.get("groups") if isinstance(value, dict) else None
        if isinstance(groups, list):
            yield from (group for group in groups if isinstance(group, str))
