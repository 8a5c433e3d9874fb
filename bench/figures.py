"""The figures of `make bench`, built from the raw measurements, each with its reading for a user."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping

from bench.ansible_figure import AnsibleRun
from bench.gateway_figure import Convergence
from bench.results import Figure, ratio, seconds
from bench.stack_figures import StackRun
from bench.state_figure import StateRun
from components.gateway.aperture_config import MAX_ATTEMPTS


def no_op(run: StackRun) -> Figure:
    fig = Figure(1, "No-op deploy: `make up STACK=sandbox` with nothing changed")
    ops = run.no_ops
    for what, values in (
        ("remote commands (max over runs)", [s.remote_commands for s in ops]),
        ("SSH connections (max over runs)", [s.connections for s in ops]),
        ("mutating API calls (max over runs)", [s.mutating_api_calls for s in ops]),
    ):
        fig.add(what, str(max(values)), "0", max(values) == 0)
    fig.add("read-only API calls (per run)", str(max(s.api_calls for s in ops)))
    fig.add(f"wall time (median of {len(ops)})", seconds(statistics.median(s.seconds for s in ops)))
    fig.reading = (
        "Running `make up` again costs the host nothing: no SSH connection is opened and nothing in "
        "the tailnet or the gateway is written; what remains is the engine's own start-up (figure 7) "
        "and the policy pack."
    )
    fig.notes.append(
        "`scripts/stack.sh up sandbox` (what `make up` runs): `pulumi up --yes` with the policy pack, "
        "counted from the sandbox's audit log and the host's `state/connections.jsonl`."
    )
    return fig


def ansible(runs: list[AnsibleRun], stack: StackRun) -> Figure:
    fig = Figure(2, "The same bootstrap as an Ansible playbook (ansible-core), run twice")
    first, second = runs
    pulumi_wall = statistics.median(s.seconds for s in stack.no_ops)
    fig.add("first run: SSH commands / connections / tasks changed",
            f"{first.seen.remote_commands} / {first.seen.connections} / {first.changed}")  # fmt: skip
    fig.add("second (no-op) run: SSH commands", str(second.seen.remote_commands))
    fig.add("second run: SSH connections", str(second.seen.connections))
    fig.add("second run: tasks changed / ok / skipped", f"{second.changed} / {second.ok} / {second.skipped}")
    fig.add("second run: wall time", seconds(second.seen.seconds))
    fig.add("no-op `make up` (figure 1): SSH commands / connections",
            f"{max(s.remote_commands for s in stack.no_ops)} / {max(s.connections for s in stack.no_ops)}")  # fmt: skip
    fig.add("Ansible no-op wall time / `make up` no-op wall time", ratio(second.seen.seconds / pulumi_wall))
    fig.add("first deploy: Ansible wall time / `make up` wall time",
            ratio(first.seen.seconds / stack.first_deploy.seconds))  # fmt: skip
    fig.reading = (
        f"Ansible finds out that nothing changed by asking the host: {second.seen.remote_commands} commands "
        "over SSH on every run, each a status read. The program keeps that knowledge in its state, so "
        "a no-op touches the host zero times; the flip side is that it sees a hand-made change on the "
        "host only with `REFRESH=1` (one observe command per host), where Ansible sees it every time. "
        f"In wall time Ansible's no-op takes {second.seen.seconds / pulumi_wall:.2f}x the program's: "
        "on loopback, 15 SSH commands cost less than the engine's fixed start-up (figure 7) and the "
        "policy pack; over a real network each of them is a round trip, the program's zero is not. "
        "Ansible's first run covers the host only (no tailnet policy, no gateway)."
    )
    fig.notes += [
        "`bench/ansible/playbook.yml`, a sandbox of its own, OpenSSH with ControlMaster (Ansible's "
        "default), pipelining, `transfer_method = piped` (the sandbox offers no SFTP/SCP); the "
        "ufw and docker steps are guarded `command` tasks (community.general's ufw and "
        "community.docker's docker_container are not in ansible-core; the latter needs the Docker API socket).",
        "Ansible's wall time counts its own start-up too (about a second of Python imports), as the "
        "program's counts the engine's.",
    ]
    return fig


def preview_overhead(stack: StackRun) -> Figure:
    fig = Figure(3, "Preview overhead: the program against a bare program with the same raw resources")
    value = stack.preview_plain / stack.preview_bare
    fig.add("`pulumi preview` of the program (median)", seconds(stack.preview_plain))
    fig.add("`pulumi preview` of the bare program (median)", seconds(stack.preview_bare))
    fig.add("ratio program / bare", ratio(value), "<= 1.2", value <= 1.2)
    fig.reading = "What the components, the config model and its validation add to every preview" + (
        ", within the goal."
        if value <= 1.2
        else "; over the goal: the program imports pydantic, the SDKs and renders the policy on every run."
    )
    fig.notes.append(
        "The bare program (`bench/bare/`) registers every custom resource of the deployed stack with "
        "`pulumi.CustomResource` and literal inputs; its state is the real stack's with the component "
        "layer removed (`bench/bare_stack.py`), so both previews are no-ops over the same resources. "
        "No policy pack on either."
    )
    return fig


def policy_cost(stack: StackRun, pack: list[tuple[int, float, int]]) -> Figure:
    fig = Figure(4, "Policy pack cost")
    fig.add("`pulumi preview` with the pack (median)", seconds(stack.preview_pack))
    fig.add("`pulumi preview` without (median)", seconds(stack.preview_plain))
    fig.add("ratio with / without", ratio(stack.preview_pack / stack.preview_plain))
    base = pack[0][1]
    for grants, each, findings in pack:
        fig.add(f"pack evaluation, {grants:,} grants", f"{each * 1000:.1f} ms ({each / base:.0f}x the 10-grant case; "
                f"{findings} findings)")  # fmt: skip
    (n1, t1, _), (n2, t2, _) = pack[-2], pack[-1]
    exponent = math.log(t2 / t1) / math.log(n2 / n1)
    fig.add(
        f"growth exponent {n1:,} -> {n2:,} grants (1.0 = linear)",
        f"{exponent:.2f}",
        "<= 1.2",
        exponent <= 1.2,
    )
    fig.reading = (
        "The guardrails cost a fraction of a preview on a normal policy file; on very large ones the "
        f"evaluation grows about as grants^{exponent:.2f}"
        + (
            " (near linear)."
            if exponent <= 1.2
            else ": worse than linear. Profile one evaluation (`cProfile` on `bench.pack_figure.evaluate`): "
            "reading the policy file (HuJSON) was most of it before the pack parsed each text once."
        )
    )
    fig.notes.append(
        "Evaluation: every policy of the pack in-process on the generated policy file plus N user -> "
        "gateway grants, production config (every rule applies); time per whole-pack evaluation."
    )
    return fig


def gateway(kinds: Mapping[str, int], results: list[Convergence]) -> Figure:
    fig = Figure(5, "Gateway config convergence (Aperture)")
    for kind in ("GET", "validate", "PUT"):
        fig.add(f"{kind} requests per changed config", str(kinds.get(kind, 0)), "1", kinds.get(kind, 0) == 1)
    if kinds.get("other"):
        fig.add("other requests per changed config", str(kinds["other"]), "0", False)
    for r in results:
        fig.add(f"{r.writers} concurrent writer(s): attempts mean / max",
                f"{statistics.mean(r.attempts):.2f} / {max(r.attempts)}")  # fmt: skip
        fig.add(f"{r.writers} concurrent writer(s): writers that gave up",
                f"{r.failures} of {len(r.attempts)}", "0", r.failures == 0)  # fmt: skip
    failed = [r for r in results if r.failures]
    fig.reading = (
        "A config change is one read, one validation and one write. Concurrent writers (two stacks or "
        "a dashboard edit at the same moment) converge by re-reading on 412"
        + (
            f"; with {failed[0].writers} writers some gave up after {MAX_ATTEMPTS} attempts: the retry "
            "has no back-off and a fixed bound, so a writer that loses every race errors out (it says "
            "so and a re-run succeeds); a jittered back-off, or a bound above the number of writers, "
            "would remove it."
            if failed
            else "."
        )
    )
    fig.notes.append(
        "In-process: `ApertureConfigProvider` (what the dynamic resource runs) against the Aperture "
        "emulator; each writer owns its own provider entry; every writer count runs 5 rounds."
    )
    return fig


def model_swap(stack: StackRun) -> Figure:
    fig = Figure(6, "Model swap against a first deploy")
    first, swap = stack.first_deploy, stack.swap
    fig.add("first deploy: wall time", seconds(first.seconds))
    fig.add("first deploy: remote steps / SSH connections", f"{first.remote_commands} / {first.connections}")
    fig.add("first deploy: steps", ", ".join(stack.first_steps))
    fig.add("model swap: wall time", seconds(swap.seconds))
    fig.add("model swap: remote steps / SSH connections", f"{swap.remote_commands} / {swap.connections}")
    fig.add("model swap: steps", ", ".join(stack.swap_steps))
    fig.add("model swap: mutating API calls", str(swap.mutating_api_calls))
    fig.add("wall time swap / first deploy", ratio(swap.seconds / first.seconds))
    fig.reading = (
        f"Changing the model re-runs {swap.remote_commands} of the {first.remote_commands} host steps "
        "(the old container goes, the new one starts, readiness) and one gateway write; preflight, "
        "Tailscale and the firewall are left alone. On a real Spark the swap's time is the model load "
        "(10-15 minutes), which the sandbox's fake vLLM skips, so here both take about the engine's time."
    )
    return fig


def engine_parts(stack: StackRun, startups: Mapping[str, float]) -> Figure:
    fig = Figure(7, "The project's own engine parts: start-up and share of a no-op `up`")
    wall = statistics.median(s.seconds for s in stack.no_ops)
    counted = {
        "language host (project)": stack.plugin_starts.get("language host", 0),
        "tailscale plugin (project)": stack.plugin_starts.get("tailscale", 0),
        "command plugin (project)": stack.plugin_starts.get("command", 0),
    }
    total = 0.0
    for name, value in startups.items():
        starts = counted.get(name)
        if starts is None:
            fig.add(f"{name}: start-up", f"{value * 1000:.0f} ms")
            continue
        total += starts * value
        fig.add(f"{name}: start-up / starts per no-op `up`", f"{value * 1000:.0f} ms / {starts}")
    share = total / wall
    fig.add(
        "project parts: starts x start-up, share of the no-op `up`",
        f"{total:.2f} s = {share:.0%} of {wall:.2f} s",
    )
    fig.reading = (
        f"The project's parts start {sum(counted.values())} times per no-op `up` and their start-up adds "
        f"up to {share:.0%} of its wall time (an upper bound: some starts overlap). "
        + (
            "Start-up dominates: "
            if share >= 0.5
            else "Start-up does not dominate; the rest is the engine, the program run and the policy pack. "
        )
        + "What would cut it: `make up` runs a preview and then the update, so each provider starts "
        "twice (`--skip-preview` halves it, at the cost of the plan shown before the change); most of a "
        "start is Python importing grpc and the SDK, which lazy imports of the per-call modules or one "
        "long-lived plugin process per toolchain would remove."
    )
    fig.notes.append(
        "Start-up: the part's executable started as the engine starts it, until it prints its port "
        "(median of 5). Starts per `up`: the `serving on` lines the parts log "
        "(`SOVEREIGN_AI_PLUGIN_LOG_DIR`). The upstream dynamic provider and the policy pack start on "
        "every command too; they are shown for scale, not counted in the share."
    )
    return fig


def state_backend(run: StateRun) -> Figure:
    fig = Figure(8, "Shared state: `pulumi preview` with the state on PostgreSQL against the local backend")
    for command, what in (
        ("preview", "`pulumi preview`"),
        ("export", "`pulumi stack export` (backend reads only)"),
    ):
        local, postgres = statistics.median(run.local[command]), statistics.median(run.postgres[command])
        runs = len(run.local[command])
        fig.add(
            f"{what}: local backend / PostgreSQL (median of {runs})",
            f"{seconds(local)} / {seconds(postgres)}",
        )
        spread = f"{min(run.ratios(command)):.2f}x .. {max(run.ratios(command)):.2f}x"
        fig.add(
            f"{what}: ratio PostgreSQL / local (median of the runs; range)",
            f"{ratio(run.ratio(command))} ({spread})",
        )
    fig.add("rows in the state table after deploy and copy", str(run.rows))
    extra = statistics.median(run.postgres["export"]) - statistics.median(run.local["export"])
    noisy = min(run.ratios("preview")) < 1 < max(run.ratios("preview"))
    fig.reading = (
        f"With the state in PostgreSQL (`make state-up`) a preview takes {run.ratio('preview'):.2f}x as long "
        "as on the local backend"
        + (
            ", and single runs fall on both sides of 1.0x: the difference is below this machine's noise. "
            if noisy
            else ". "
        )
        + f"The backend's own share shows in `stack export`, which only reads the state (no lock, no "
        f"program): {extra * 1000:+.0f} ms against a local file. A preview adds the lock row's write and "
        "delete: a few round trips next to the engine's start-up and the program run. A server across a "
        "network adds its latency to each of them, and an `up` adds one snapshot write per step."
    )
    fig.notes.append(
        "The same no-op `pulumi preview --expect-no-changes` and `pulumi stack export` of the deployed "
        "sandbox stack, alternating backends; the stack was copied with `scripts/state_migrate.py` "
        "(export, init, import). PostgreSQL 15 from Debian on loopback, the URL `make state-up` prints "
        "(the password in a passfile)."
    )
    return fig
