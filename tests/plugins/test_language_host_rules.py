"""The language host's pure rules, against upstream's own test tables where upstream has them
(github.com/pulumi/pulumi `sdk/python/cmd/pulumi-language-python/main_test.go`)."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import pytest
from pulumi.runtime.proto import analyzer_pb2

from plugins.language_python import about, packages, python_env
from plugins.language_python.gostyle import exit_error, json_marshal, status_error
from plugins.language_python.policy_proxy import read_port, stack_environment


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1", "0.1.0"),
        ("1.0", "1.0.0"),
        ("1.0.0", "1.0.0"),
        ("", None),
        ("4.3.2.1", "4.3.2.1"),
        (" 1 . 2 . 3 ", None),
        ("2.1a123456789", "2.1.0-alpha.123456789"),
        ("2.14.0a1605583329", "2.14.0-alpha.1605583329"),
        ("1.2.3b123456", "1.2.3-beta.123456"),
        ("3.2.1rc654321", "3.2.1-rc.654321"),
        ("1.2.3dev7890", None),
        ("1.2.3.dev456", "1.2.3+dev456"),
        ("1.", None),
        ("3.2.post32", "3.2.0+post32"),
        ("0.3.0b8", "0.3.0-beta.8"),
        ("10!3.2.1", None),
        ("3.2.post1.dev0", "3.2.0+post1dev0"),
    ],
)
def test_plugin_versions_from_package_versions_follow_upstreams_table(
    version: str, expected: str | None
) -> None:
    """`TestDeterminePluginVersion`; None where upstream errs (the package is then skipped)."""
    assert packages.determine_plugin_version(version) == expected


def test_a_plugin_json_without_resource_true_means_no_plugin() -> None:
    """Go's `PulumiPluginJSON.Resource` is false unless the JSON says true (the old host needed `false`)."""
    assert packages.package_dependency("pulumi-x", "1.0.0", {"name": "x"}) is None
    assert packages.package_dependency("pulumi-x", "1.0.0", {"resource": False}) is None
    found = packages.package_dependency(
        "pulumi-x", "1.0.0", {"resource": True, "name": "x", "version": "2.0.0"}
    )
    assert found == packages.Package(name="x", version="v2.0.0")


def test_a_package_without_json_is_named_and_versioned_from_the_distribution() -> None:
    assert packages.package_dependency("pulumi-random", "4.2a7", None) == packages.Package(
        "random", "v4.2.0-alpha.7"
    )
    assert packages.package_dependency("pulumi-random", "4!1.0", None) is None


def test_package_names_are_normalized_as_pep_503() -> None:
    assert packages.normalize("Pulumi_Tailscale") == "pulumi-tailscale"
    assert packages.normalize("a.b__c") == "a-b-c"


def test_runtime_options_fail_with_upstreams_texts() -> None:
    """`parseOptions` (main.go:233-291) and its tests (main_test.go:55-98)."""
    with pytest.raises(python_env.PythonEnvError, match=r"^unsupported toolchain option: npm$"):
        python_env.parse_options("root", "programDir", {"toolchain": "npm"}, False)
    with pytest.raises(python_env.PythonEnvError, match=r"^virtualenv option must be a string$"):
        python_env.parse_options("root", "programDir", {"virtualenv": 3.0}, False)
    with pytest.raises(python_env.PythonEnvError, match=r"^unsupported typechecker option: ty$"):
        python_env.parse_options("root", "programDir", {"typechecker": "ty"}, False)
    assert python_env.parse_options("root", "programDir", {"toolchain": "pip"}, True).virtualenv == "venv"
    assert python_env.parse_options("root", "programDir", {}, True).virtualenv == "venv"
    assert (
        python_env.parse_options("root", "programDir", {"virtualenv": "myvenv"}, True).virtualenv == "myvenv"
    )
    assert python_env.parse_options("root", "programDir", {"toolchain": "poetry"}, True).virtualenv == ""
    assert python_env.parse_options("root", "programDir", {}, False).virtualenv == ""


def test_a_lock_file_of_another_toolchain_is_refused_not_ignored(tmp_path: Path) -> None:
    """Upstream's `Auto` (no `toolchain` option) switches to uv or poetry on their lock file."""
    program = tmp_path / "project" / "src"
    program.mkdir(parents=True)
    (tmp_path / "project" / "uv.lock").write_text("")
    options = python_env.parse_options(str(program), str(program), {}, False)
    with pytest.raises(python_env.PythonEnvError, match=r"toolchain: uv \(found uv.lock"):
        python_env.resolve(options)


def test_activation_drops_pythonhome_and_an_old_virtual_env() -> None:
    """`ActivateVirtualEnv` (toolchain.go:180)."""
    env = python_env.activate({"Path": "/usr/bin", "PYTHONHOME": "/x", "VIRTUAL_ENV": "/old", "A": "1"}, "/v")
    assert env == {"Path": f"/v/bin{os.pathsep}/usr/bin", "A": "1", "VIRTUAL_ENV": "/v"}
    assert python_env.activate({}, "/v") == {"PATH": "/v/bin", "VIRTUAL_ENV": "/v"}


def test_about_versions_are_semver_as_upstream_prints_them() -> None:
    assert about.parse_python_version("Python 3.11.7\n") == "3.11.7"
    assert about.parse_python_version("Python 3.13.0rc1") == "3.13.0-rc.1"
    assert about.parse_python_version("garbage") == "0.0.0"
    assert about.parse_pip_version("pip 24.0 from /x/pip (python 3.11)") == "24.0.0"
    assert about.parse_pip_version("pip 23.2.1 from /x") == "23.2.1"
    assert about.parse_pip_version("No module named pip") == "0.0.0"


def test_go_texts() -> None:
    assert exit_error(1) == "exit status 1"
    assert exit_error(-9) == "signal: killed"
    assert exit_error(-2) == "signal: interrupt"
    assert json_marshal({"b": "<&>", "a": "é"}) == '{"a":"é","b":"\\u003c\\u0026\\u003e"}'
    error = grpc.RpcError()
    assert status_error(error).startswith("rpc error: code = Unknown desc = ")


@pytest.mark.parametrize(
    ("line", "port", "error"),
    [
        (b"", 0, "EOF"),
        (b"abc\n", 0, "expected integer"),
        (b"12\n", 12, ""),
        (b"\n", 0, "unexpected newline"),
        (b" 34\n", 34, ""),
        (b"Traceback (most recent call last):\n", 0, "expected integer"),
    ],
)
def test_the_pack_port_is_read_as_gos_fscanf_reads_it(line: bytes, port: int, error: str) -> None:
    """Checked against `fmt.Fscanf(r, "%d\\n", &port)` (policy_proxy.go:121) with Go 1.26."""
    assert read_port(line) == (port, error)


def test_the_packs_stack_variables_leave_out_empty_ones_and_secret_keys() -> None:
    """main.go:1659-1676: `maybeAppendEnv` skips empty values; there is no PULUMI_CONFIG_SECRET_KEYS."""
    config = analyzer_pb2.AnalyzerStackConfigureRequest(
        project="p", stack="dev", dry_run=True, config={"p:a": "1"}, config_secret_keys=["p:a"]
    )
    assert stack_environment(config) == [
        ("PULUMI_PROJECT", "p"),
        ("PULUMI_STACK", "dev"),
        ("PULUMI_DRY_RUN", "true"),
        ("PULUMI_CONFIG", '{"p:a":"1"}'),
    ]
    assert stack_environment(analyzer_pb2.AnalyzerStackConfigureRequest()) == [("PULUMI_DRY_RUN", "false")]
    assert stack_environment(None) == []
