"""Rolling model updates across two Sparks, through the real engine, with a client calling all along.

One sandbox with two emulated hosts whose fake vLLM takes a few seconds to load, both serving the
model id `qwen`. Tests run in file order: deploy, a model change rolled one host at a time while a
model user keeps calling (no request may fail), then a roll whose second host never becomes ready
(the first keeps serving the new model, the second stays out of the gateway, the run names it) and
the plain `up` after it that finishes the roll.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hujson
from testing.sandbox_stack import SandboxStack
from testing.traffic import Traffic
from tests.integration.faults import up

pytestmark = pytest.mark.engine

SERVED = "qwen"
FIRST_MODEL, NEXT_MODEL, LAST_MODEL = (
    "Qwen/Qwen3.6-35B-A3B-FP8",
    "Qwen/Qwen3-30B-A3B-FP8",
    "Qwen/Qwen3-32B-FP8",
)
LOAD_SECONDS = 3.0
"""How long each fake vLLM loads its model: long enough that a restart is seen by the client."""

STEP_HEADERS = {
    "drain-wait": "# Wait until vLLM has no request running",
    "remove": "# Stop and remove the vLLM container",
    "run": "export VLLM_COMMAND",
    "ready": "export BASE_URL",
}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxStack]:
    """Two emulated Sparks serving `qwen`, deployed once by `scripts/stack.sh up sandbox`."""
    stack = SandboxStack.start(tmp_path_factory.mktemp("fleet"), hosts=2, vllm_startup_seconds=LOAD_SECONDS)
    try:
        stack.use_hosts(servedModelName=SERVED, model=FIRST_MODEL)
        result = stack.stack_sh("up")
        assert result.returncode == 0, result.stdout + result.stderr
        yield stack
    finally:
        stack.stop()


def set_model(stack: SandboxStack, model: str) -> None:
    for index in range(2):
        stack.set_host(index, model=model)


def events(lines: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The roll as the audit log shows it: gateway writes and each host's steps, in order."""
    found = []
    for line in lines:
        if line["service"] == "aperture" and line["method"] == "PUT" and line["status"] == 200:
            found.append(("gateway", "write"))
        elif line["service"] == "host":
            step = next((name for name, head in STEP_HEADERS.items() if head in line["command"]), "other")
            found.append((line["host"], step))
    return found


def providers(stack: SandboxStack) -> list[str]:
    """The stack's providers in the gateway's document (a new Aperture has others of its own)."""
    return [pid for pid in hujson.loads(stack.aperture_config()[0])["providers"] if pid.startswith("spark")]


def loaded_model(stack: SandboxStack, host: int) -> str:
    [container] = stack.containers(host).values()
    return str(container["args"][0])


def test_a_first_deploy_starts_both_sparks_without_waiting_for_each_other(fleet: SandboxStack) -> None:
    assert sorted(providers(fleet)) == ["spark", "spark-2"]
    first = events(fleet.audit())  # each line is written when its command ends
    assert first.index(("spark-2", "run")) < first.index(("spark", "ready")), (
        "spark-2 waited for spark's load"
    )
    assert [loaded_model(fleet, host) for host in (0, 1)] == [FIRST_MODEL, FIRST_MODEL]


def test_a_model_change_rolls_one_host_at_a_time_and_no_request_fails(fleet: SandboxStack) -> None:
    set_model(fleet, NEXT_MODEL)
    fleet.mark()
    traffic = Traffic(fleet, SERVED).start()
    try:
        result = fleet.stack_sh("up")
    finally:
        traffic.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(traffic.answers) > 50, "the client hardly ran"
    assert traffic.failed == [], traffic.failed[:5]
    roll = [event for event in events(fleet.since_mark()) if event[1] != "other"]
    one = [i for i, (who, _) in enumerate(roll) if who == "spark"]
    two = [i for i, (who, _) in enumerate(roll) if who == "spark-2"]
    writes = [i for i, (who, _) in enumerate(roll) if who == "gateway"]
    # spark: drained (a gateway write), its requests waited for, replaced, ready, restored (a write);
    # then spark-2 the same way; nothing of spark-2 happens before spark is back.
    assert [roll[i][1] for i in one] == ["drain-wait", "remove", "run", "ready", "ready"], roll
    assert [roll[i][1] for i in two] == ["drain-wait", "remove", "run", "ready", "ready"], roll
    assert writes[0] < one[0] and one[-1] < writes[1] < writes[2] < two[0] and two[-1] < writes[3], roll
    assert sorted(providers(fleet)) == ["spark", "spark-2"]
    assert [loaded_model(fleet, host) for host in (0, 1)] == [NEXT_MODEL, NEXT_MODEL]


def test_a_failed_readiness_stops_the_roll_then_the_next_up_finishes_it(fleet: SandboxStack) -> None:
    set_model(fleet, LAST_MODEL)
    fleet.arm("docker.vllm", count=1, mode="dies", afterSeconds=1, match="vllm-spark-2")
    traffic = Traffic(fleet, SERVED).start()
    try:
        failed = up(fleet)
        assert failed.returncode != 0, failed.output
        assert "spark-2-ready" in failed.output or "spark-2-roll-ready" in failed.output, failed.output
        assert "container vllm-spark-2 is restarting" in failed.output, failed.output
        assert "EngineCore failed" in failed.output, "the container's log tail is not in the message"
        assert providers(fleet) == ["spark"], "spark-2 is back in the gateway's routing"
        assert loaded_model(fleet, 0) == LAST_MODEL
        assert fleet.containers(1)["vllm-spark-2"]["status"] == "exited", "the failed container is running"
        fleet.clear_faults()
        resumed = up(fleet)
    finally:
        traffic.stop()
    assert resumed.returncode == 0, resumed.output
    assert traffic.failed == [], traffic.failed[:5]
    assert sorted(providers(fleet)) == ["spark", "spark-2"]
    assert [loaded_model(fleet, host) for host in (0, 1)] == [LAST_MODEL, LAST_MODEL]
    check = fleet.pulumi("preview", "--expect-no-changes")
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_stack_file_declares_both_sparks(fleet: SandboxStack) -> None:
    """Sanity of the fixture: both emulated hosts, each pinned by its own key file."""
    names = [host.name for host in fleet.config().hosts]
    assert names == ["spark", "spark-2"]
    assert all(Path(fleet.state / "hosts" / name).is_dir() for name in names)
