"""Render + parse + evaluate a policy with N grants and 100 hosts aliases; prints growth with N.

One figure per size: seconds for render, parse and 1,000 can_reach questions together, and the
ratio to the 10-grant case, so growth (linear or worse) is visible. Run: `make bench`.
"""

from __future__ import annotations

import time

from tailnet_policy.policy_file import Grant, PolicyFile, parse, render
from tailnet_policy.reachability import Evaluator

HOSTS = {f"host{i}": f"100.64.{i // 256}.{i % 256}" for i in range(100)}


def policy_with(grants: int) -> PolicyFile:
    rules = tuple(
        Grant(
            src=(f"user{i % 50}@example.com", f"group:g{i % 7}"),
            dst=(f"host{i % 100}", f"tag:t{i % 13}"),
            ip=(f"tcp:{1000 + i % 5000}", "udp:53"),
        )
        for i in range(grants)
    )
    groups = {f"group:g{i}": tuple(f"user{j}@example.com" for j in range(i, 50, 7)) for i in range(7)}
    return PolicyFile(groups=groups, hosts=HOSTS, grants=rules)


def measure(grants: int, questions: int = 1000) -> float:
    policy = policy_with(grants)
    started = time.perf_counter()
    text = render(policy)
    evaluator = Evaluator(parse(text))
    for q in range(questions):
        evaluator.can_reach(f"user{q % 50}@example.com", f"host{q % 100}", 1000 + q % 5000)
    return time.perf_counter() - started


def main() -> None:
    base = measure(10)
    for n in (10, 100, 1000, 10000):
        seconds = measure(n)
        print(
            f"policy model: {n:>6} grants, 100 hosts: {seconds:8.3f}s  ({seconds / base:7.1f}x the 10-grant case)"
        )


if __name__ == "__main__":
    main()
