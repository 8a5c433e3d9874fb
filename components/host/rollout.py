"""`Rollout`: the order in which the hosts of a rolling group take their turn (docs/architecture.md §11).

The program builds one `InferenceHost` per host, in config order, and hands each the same
`Rollout`. A host of a rolling group (`config.fleet.rolling_groups`) asks for its turn: the previous
host's restore step, which its own drain then `depends_on`; it reports its restore step when
built. So a group's hosts form one chain of dependencies,

    a-drain -> a-drain-wait -> a-vllm -> a-ready -> a-restore -> b-drain -> ... -> b-restore

and the engine, which starts a resource's step only once its dependencies' steps are done, replaces
one container at a time. The gateway config `depends_on` every restore (`restores`), so it writes
the providers once the roll is over. Hosts outside any group get no turn and no extra step.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from config.fleet import rolling_groups
from config.model import HostConfig


class Rollout:
    """Which hosts roll, and the chain of their restore steps, built as the hosts are."""

    def __init__(self, hosts: Sequence[HostConfig]) -> None:
        self._group_of = {host.name: host.model_id for group in rolling_groups(hosts) for host in group}
        self._last: dict[str, pulumi.Resource] = {}
        self.restores: list[pulumi.Resource] = []
        """Every restore step reported so far (what the gateway config waits for)."""

    def rolls(self, host: HostConfig) -> bool:
        """Whether `host` is updated in turn with others serving its model."""
        return host.name in self._group_of

    def turn(self, host: HostConfig) -> list[pulumi.Resource]:
        """What `host`'s drain waits for: the restore of the host before it in its group, if any."""
        last = self._last.get(self._group_of[host.name])
        return [] if last is None else [last]

    def done(self, host: HostConfig, restore: pulumi.Resource) -> None:
        """`host`'s restore step: the next host of its group waits for it."""
        self._last[self._group_of[host.name]] = restore
        self.restores.append(restore)
