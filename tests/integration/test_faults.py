"""Bad days through the real engine: each sandbox fault is retried within its bound or fails clearly.

For each fault (a sandbox switch, sandbox/faults.py): `pulumi up` either succeeds after a bounded
number of retries, or fails naming the step, the host and the cause; then, with the fault gone, a
second, plain `pulumi up` converges and a preview shows no changes; the Aperture config is never
half-written, and no auth key or container is left behind. Bounds are asserted as counts from the
sandbox's audit log and shim records; the only time bound is the readiness timeout's.

Who retries: the program's own Aperture client and the host scripts do. The Tailscale API is
spoken to by pulumi-tailscale, whose client (tailscale-client-go v2.9.0, `client.go:326-374`) sends
each request once: a 429 or 5xx fails the run at once with the API's status and message, in
upstream's words (`Failed to create key: Error creating tailnet key: rate limit exceeded (429)`),
and the cure is the next `make up`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from components.gateway.aperture_client import MAX_ATTEMPTS as APERTURE_TRIES
from components.gateway.aperture_config import MAX_ATTEMPTS as APERTURE_ROUNDS
from testing.sandbox_stack import SandboxStack
from tests.integration.faults import RacingWriter, Run, assert_no_orphans, converges, requests, up

pytestmark = pytest.mark.engine

KEYS = "/api/v2/tailnet/-/keys"
ACL = "/api/v2/tailnet/-/acl"
CONFIG = "/aperture/config"
PULL_ATTEMPTS = 3
"""components/host/scripts/vllm_container.sh's default."""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[SandboxStack]:
    running = SandboxStack.start(tmp_path)
    running.init()
    try:
        yield running
    finally:
        running.stop()


def pulls(stack: SandboxStack) -> int:
    return sum(1 for call in stack.shim_calls() if call["shim"] == "docker" and call["argv"][:1] == ["pull"])


# -- transient faults the program retries: one deploy ---------------------------------------------


@pytest.fixture(scope="module")
def retried(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxStack, Run]]:
    """One `pulumi up` with a burst of every fault the program retries switched on at once."""
    running = SandboxStack.start(tmp_path_factory.mktemp("retried"))
    running.init()
    try:
        running.arm("aperture.error", status=503, count=APERTURE_TRIES - 1, match=f"GET {CONFIG}")
        running.arm("docker.pull", count=PULL_ATTEMPTS - 1, message="net/http: TLS handshake timeout")
        yield running, up(running)
    finally:
        running.stop()


def test_a_retried_deploy_succeeds(retried: tuple[SandboxStack, Run]) -> None:
    stack, run = retried
    assert run.returncode == 0, run.output
    assert_no_orphans(stack)


def test_aperture_5xx_is_retried_within_the_bound(retried: tuple[SandboxStack, Run]) -> None:
    stack, _ = retried
    statuses = requests(stack, "aperture", "GET", CONFIG)
    assert statuses[:APERTURE_TRIES] == [503] * (APERTURE_TRIES - 1) + [200], statuses


def test_an_image_pull_hiccup_is_retried_within_the_bound(retried: tuple[SandboxStack, Run]) -> None:
    stack, run = retried
    assert pulls(stack) == PULL_ATTEMPTS, stack.shim_calls()
    assert "vllm: pull of vllm/vllm-openai" in run.output and "TLS handshake timeout" in run.output


# -- Tailscale API: upstream's client sends each request once -----------------------------------------


@pytest.mark.parametrize(
    ("status", "message"), [(429, "rate limit exceeded (429)"), (503, "sandbox: injected server error (503)")]
)
def test_tailscale_error_on_key_creation_fails_at_once_with_the_apis_message_then_converges(
    stack: SandboxStack, status: int, message: str
) -> None:
    """No retry, even with `Retry-After`; the next `up` mints the one key the stack holds."""
    stack.arm("tailscale.error", status=status, retryAfter=1, match=f"POST {KEYS}")
    run = up(stack)
    assert run.returncode != 0
    assert "tailnet-spark-key" in run.output, run.output
    assert f"Failed to create key: Error creating tailnet key: {message}" in run.output, run.output
    assert requests(stack, "tailscale", "POST", KEYS) == [status]
    assert not any(line["service"] == "host" for line in stack.audit()), "host steps ran without a key"
    converges(stack)
    assert requests(stack, "tailscale", "POST", KEYS) == [status, 200], "a second key was minted"
    assert_no_orphans(stack)


def test_tailscale_429_on_the_policy_write_fails_at_once_then_converges(stack: SandboxStack) -> None:
    """resource_acl.go:117-124: the policy is written once; a 429 is `Failed to set ACL: ... (429)`."""
    stack.mark()
    stack.arm("tailscale.error", status=429, retryAfter=1, match=f"POST {ACL}")
    run = up(stack)
    assert run.returncode != 0
    assert "tailnet-policy" in run.output, run.output
    assert "Failed to set ACL: rate limit exceeded (429)" in run.output, run.output
    assert requests(stack, "tailscale", "POST", ACL) == [429]
    converges(stack)
    assert requests(stack, "tailscale", "POST", ACL) == [429, 200]
    assert_no_orphans(stack)


def test_tailscale_503_on_the_policy_read_fails_before_any_change_then_converges(stack: SandboxStack) -> None:
    """The program reads the policy first (tailscale.get_acl); upstream's invoke fails at once."""
    stack.mark()
    stack.arm("tailscale.error", status=503, match=f"GET {ACL}")
    run = up(stack)
    assert run.returncode != 0
    assert "Failed to fetch ACL: sandbox: injected server error (503)" in run.output, run.output
    assert requests(stack, "tailscale", "GET", ACL) == [503]
    written = [line for line in stack.since_mark() if line["service"] == "tailscale" and line["mutating"]]
    assert written == [], "the tailnet was changed"
    converges(stack)
    assert_no_orphans(stack)


# -- Aperture --------------------------------------------------------------------------------------


def test_aperture_5xx_beyond_the_bound_fails_and_leaves_the_config_alone(stack: SandboxStack) -> None:
    before = stack.aperture_config()[0]
    stack.mark()
    stack.arm("aperture.error", status=503, match=CONFIG)
    run = up(stack)
    assert run.returncode != 0
    assert "gateway-config" in run.output, run.output
    assert f"Aperture answered 503 to GET {stack.endpoints['aperture']['url']}{CONFIG}" in run.output, (
        run.output
    )
    assert f"({APERTURE_TRIES} attempts, the last 503)" in run.output, run.output
    assert requests(stack, "aperture", "GET", CONFIG) == [503] * APERTURE_TRIES
    assert stack.aperture_config()[0] == before
    converges(stack)
    assert '"spark"' in stack.aperture_config()[0]


def test_aperture_412_from_another_writer_is_re_merged_keeping_their_edit(stack: SandboxStack) -> None:
    stack.arm("aperture.race", count=1)
    with RacingWriter(stack) as writer:
        run = up(stack)
    assert run.returncode == 0, run.output
    # The writer's save (200), the deploy's stale PUT (412), the deploy's re-merged PUT (200).
    assert requests(stack, "aperture", "PUT", CONFIG) == [200, 412, 200]
    assert len(writer.written) == 1
    final = stack.aperture_config()[0]
    for line in ("// saved by another admin, round 1", '"claude-haiku-4-5", "claude-race-1"'):
        assert line in final, final
    assert '"spark"' in final


def test_aperture_412_every_round_gives_up_without_writing_then_converges(stack: SandboxStack) -> None:
    stack.arm("aperture.race", count=APERTURE_ROUNDS)
    with RacingWriter(stack) as writer:
        run = up(stack)
    assert run.returncode != 0
    assert f"changed between read and write {APERTURE_ROUNDS} times" in run.output, run.output
    # Each round: the writer's save (200), then the deploy's stale PUT (412); nothing more.
    assert requests(stack, "aperture", "PUT", CONFIG) == [200, 412] * APERTURE_ROUNDS
    assert len(writer.written) == APERTURE_ROUNDS
    assert stack.aperture_config()[0] == writer.written[-1], "the deploy wrote part of the config"
    converges(stack)
    final = stack.aperture_config()[0]
    assert f'"claude-race-{APERTURE_ROUNDS}"' in final and '"spark"' in final


# -- the GPU host ----------------------------------------------------------------------------------


def test_ssh_dropped_mid_step_fails_naming_the_step_and_cause_then_converges(stack: SandboxStack) -> None:
    stack.arm("host.drop", count=1, match="export VLLM_COMMAND", afterOutput="vllm: pulling")
    run = up(stack)
    assert run.returncode != 0
    assert "spark-vllm" in run.output, run.output
    # pulumi-command's words (x/crypto ssh/session.go: no exit status and no signal), then the
    # whole command (commandOutputs.go:101); upstream names neither host nor port.
    assert "wait: remote command exited without exit status or exit signal: running" in run.output, run.output
    converges(stack)
    assert_no_orphans(stack)


def test_an_image_that_cannot_be_pulled_fails_naming_it_then_converges(stack: SandboxStack) -> None:
    stack.arm("docker.pull", message="manifest for vllm/vllm-openai:v0.28.0 not found: manifest unknown")
    run = up(stack)
    assert run.returncode != 0
    assert "spark-vllm" in run.output and "manifest unknown" in run.output, run.output
    assert f"could not pull vllm/vllm-openai:v0.28.0 after {PULL_ATTEMPTS} attempts" in run.output, run.output
    assert pulls(stack) == PULL_ATTEMPTS
    assert stack.containers() == {}
    converges(stack)
    assert_no_orphans(stack)


def test_a_container_that_dies_after_starting_fails_the_readiness_step_then_converges(
    stack: SandboxStack,
) -> None:
    stack.arm("docker.vllm", count=1, mode="dies", afterSeconds=2)
    run = up(stack)
    assert run.returncode != 0
    assert "spark-ready" in run.output and "container vllm-spark is restarting" in run.output, run.output
    assert "EngineCore failed" in run.output, run.output
    assert stack.containers()["vllm-spark"]["status"] == "exited", "the crashed container was left running"
    converges(stack)
    assert_no_orphans(stack)


def test_a_container_that_never_becomes_healthy_times_out_then_converges(stack: SandboxStack) -> None:
    """Bound: `readinessTimeoutMinutes` (1 here) plus one poll; asserted as a generous ceiling."""
    stack.set_host(readinessTimeoutMinutes=1)
    stack.arm("docker.vllm", count=1, mode="never-healthy")
    run = up(stack)
    assert run.returncode != 0
    assert "spark-ready" in run.output and "(timeout 60s)" in run.output, run.output
    assert run.seconds < 60 + 60, f"took {run.seconds:.0f}s"
    assert stack.containers()["vllm-spark"]["status"] == "exited", "the stuck container was left running"
    converges(stack)
    assert_no_orphans(stack)
