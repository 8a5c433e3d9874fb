"""More than one Spark: which hosts roll together, and the config checks that keep a roll safe.

Pure module (no Pulumi). Hosts that serve the same model id (`servedModelName`, else `model`) form
a group; a group of two or more with `rollingUpdate` on is updated one host at a time (the program's
side is `components/host/rollout.py`, docs/architecture.md §11). A host alone, or with
`rollingUpdate: false`, is replaced at once, as before.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from config.gateway import ApertureGrant
from config.model import HostConfig


def rolling_groups(hosts: Sequence[HostConfig]) -> list[tuple[HostConfig, ...]]:
    """The groups that roll, in config order: hosts with `rollingUpdate` on that serve one model id,
    two or more of them. Each group keeps the order of `hosts`, which is the order of the roll."""
    by_model: dict[str, list[HostConfig]] = {}
    for host in hosts:
        if host.rolling_update:
            by_model.setdefault(host.model_id, []).append(host)
    return [tuple(group) for group in by_model.values() if len(group) > 1]


def rolling_host_names(hosts: Sequence[HostConfig]) -> frozenset[str]:
    """The names of every host that takes part in a roll."""
    return frozenset(host.name for group in rolling_groups(hosts) for host in group)


def drain_problems(hosts: Sequence[HostConfig], grants: Sequence[ApertureGrant] | None) -> list[str]:
    """Grants a drain would make invalid, each as `<key>: <problem and fix>`.

    A drain takes the host's provider out of Aperture's config while its container restarts.
    Aperture refuses a config whose grant `models` pattern names no declared provider, so a grant
    whose provider part matches only a rolling host would make that host's drain fail.
    """
    rolling = rolling_host_names(hosts)
    names = [host.name for host in hosts]
    problems = []
    for index, grant in enumerate(grants or ()):
        if not grant.models or grant.models == "**":
            continue
        head = grant.models.split("/", 1)[0]
        matching = [name for name in names if fnmatch.fnmatchcase(name, head)]
        if len(matching) == 1 and matching[0] in rolling:
            drained = matching[0]
            problems.append(
                f"gateway.grants[{index}].models: {grant.models!r} names only provider {drained!r}, "
                f"which a rolling update takes out of the gateway while its container restarts, and "
                "Aperture refuses a grant that names no provider; use a pattern that covers its "
                f"group (e.g. '**' or '{drained.rstrip('0123456789-')}*/**'), or set "
                f"rollingUpdate: false on host {drained!r}"
            )
    return problems
