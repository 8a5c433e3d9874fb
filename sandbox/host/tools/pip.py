"""The emulated `pip` inside a container: `pip install` records packages; `ray` gets its CLI.

The NGC vLLM image ships without Ray; `pip install [-q] [-U] [--root-user-action=ignore] SPEC...`
records each package as a `<name>-<version>.dist-info` directory under the container's
`/usr/local/lib/python3.12/dist-packages` and, for `ray`, links the `ray` CLI into its
`/usr/local/bin` (on the container's PATH), so before the install `ray` is `command not found`.
Output follows pip's: `Collecting SPEC` lines, `Installing collected packages: A, B`,
`Successfully installed A-1.0 B-2.0` (none with `-q`), `Requirement already satisfied: SPEC in DIR
(VERSION)` for a recorded package, and pip's warning about running as root unless
`--root-user-action=ignore` (pip/_internal/cli/req_command.py, `warn_if_run_as_root`). Nothing is
downloaded. Other subcommands are not emulated (exit 1).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from sandbox.host import container as inside
from sandbox.host.fake_ray import RAY_VERSION

SITE_PACKAGES = "/usr/local/lib/python3.12/dist-packages"
"""Where the image's Python keeps packages (as seen inside the container)."""

VERSIONS = {"ray": RAY_VERSION}
"""Versions recorded for known packages; any other gets `0.0.0`."""

ROOT_WARNING = (
    "WARNING: Running pip as the 'root' user can result in broken permissions and conflicting "
    "behaviour with the system package manager, possibly rendering your system unusable. It is "
    "recommended to use a virtual environment instead: https://pip.pypa.io/warnings/venv. Use the "
    "--root-user-action option if you know what you are doing and want to suppress this warning."
)
"""pip's warning when run as root (containers run as root) without `--root-user-action=ignore`."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def installed(root: Path, name: str) -> bool:
    """Whether `pip install` recorded package `name` in the container with filesystem `root`."""
    site = inside.in_container(SITE_PACKAGES, root)
    return any(site.glob(f"{name.lower().replace('-', '_')}-*.dist-info"))


def main(argv: Sequence[str]) -> int:
    """`pip install ...` in the current container (`SANDBOX_CONTAINER_ROOT`)."""
    words = list(argv)
    root_value = os.environ.get(inside.ROOT_ENV)
    if not root_value:
        print("pip: sandbox: only emulated inside a container", file=sys.stderr)
        return 1
    if words[:1] != ["install"]:
        print(f"pip: sandbox: only `pip install` is emulated, not {words[:1]}", file=sys.stderr)
        return 1
    root = Path(root_value)
    quiet = any(w in ("-q", "--quiet") or re.fullmatch(r"-q+", w) for w in words[1:])
    ignore_root = "--root-user-action=ignore" in words
    specs = [w for w in words[1:] if not w.startswith("-")]
    if not specs:
        print(
            'ERROR: You must give at least one requirement to install (see "pip help install")',
            file=sys.stderr,
        )
        return 1
    site = inside.in_container(SITE_PACKAGES, root)
    site.mkdir(parents=True, exist_ok=True)
    new: list[str] = []
    for spec in specs:
        match = _NAME.match(spec)
        if match is None:
            print(f"ERROR: Invalid requirement: '{spec}'", file=sys.stderr)
            return 1
        name = match.group(0).lower()
        version = VERSIONS.get(name, "0.0.0")
        if installed(root, name):
            if not quiet:
                print(f"Requirement already satisfied: {spec} in {SITE_PACKAGES} ({version})")
            continue
        if not quiet:
            print(f"Collecting {spec}")
        (site / f"{name.replace('-', '_')}-{version}.dist-info").mkdir(exist_ok=True)
        if name == "ray":
            link = inside.in_container("/usr/local/bin/ray", root)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            link.symlink_to(inside.INSTALLABLE / "ray")
        new.append(f"{name}-{version}")
    if new and not quiet:
        print(f"Installing collected packages: {', '.join(n.rsplit('-', 1)[0] for n in new)}")
        print(f"Successfully installed {' '.join(new)}")
    if not ignore_root:
        print(ROOT_WARNING, file=sys.stderr)
    return 0
