"""`python -m sandbox up --hosts K --vllm-startup-seconds S`: several emulated Sparks in one sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from sandbox.orchestrator import Options, host_names
from testing.sandbox_stack import sandbox


def test_host_names_follow_the_first() -> None:
    assert host_names(3) == ["spark", "spark-2", "spark-3"]


def test_options_are_the_serve_flags() -> None:
    assert Options().flags() == ["--port-base", "0"]
    flags = Options(47800, True, 2, 5.0).flags()
    assert flags == [
        "--port-base",
        "47800",
        "--visible-groups",
        "--hosts",
        "2",
        "--vllm-startup-seconds",
        "5.0",
    ]


def test_two_hosts_each_with_its_own_port_key_and_load_time(tmp_path: Path) -> None:
    state = tmp_path / "sandbox"
    started = sandbox(state, "up", "--hosts", "2", "--vllm-startup-seconds", "4")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert "2 GB10 host(s)" in started.stdout and "(spark-2)" in started.stdout
        hosts = json.loads((state / "endpoints.json").read_text())["hosts"]
        assert [h["name"] for h in hosts] == ["spark", "spark-2"]
        assert len({h["sshPort"] for h in hosts}) == 2 and len({h["hostKey"] for h in hosts}) == 2
        links = [h["link"] for h in hosts]
        assert [link["interface"] for link in links] == ["enp1s0f1np1", "enp1s0f1np1"]
        first, second = (link["address"].rsplit(".", 1) for link in links)
        assert (
            first[0] == second[0] and first[0].startswith("127.101.") and (first[1], second[1]) == ("1", "2")
        )
        for name, link in zip(("spark", "spark-2"), links, strict=True):
            settings = json.loads((state / "hosts" / name / "state" / "settings.json").read_text())
            assert settings == {"vllm_startup_seconds": 4.0, "link": link}
    finally:
        stopped = sandbox(state, "down")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
