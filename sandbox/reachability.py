"""The emulated tailnet as the gateway sees it: who can it reach, and who is in which group.

Pure glue between the emulators: the Aperture emulator asks before forwarding a request, and the
answer comes from the Tailscale emulator's current policy file through the shared evaluator, so a
policy that blocks gateway -> GPU server fails the way it does on a real tailnet (the dashboard's
red X, a 502 through the gateway).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping, Sequence

from sandbox.tailscale.models import TAILNET_RANGE, TailnetState
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
        sources = tuple(d.address for d in state.devices.values() if gateway_identity in (*d.tags, d.owner))
        evaluator = Evaluator(state.policy(), Directory(addresses={gateway_identity: sources}))
        return any(evaluator.can_reach(gateway_identity, target, port) for target in targets)

    return reachable


class TailnetGroups(Mapping[str, Sequence[str]]):
    """A live view of the emulated tailnet's policy `groups`, for Aperture's `group:` grant sources.

    Aperture learns group membership from Tailscale; the sandbox reads the current policy file.
    """

    def __init__(self, state: TailnetState) -> None:
        self._state = state

    def _groups(self) -> Mapping[str, Sequence[str]]:
        return self._state.policy().groups

    def __getitem__(self, name: str) -> Sequence[str]:
        return self._groups()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._groups())

    def __len__(self) -> int:
        return len(self._groups())
