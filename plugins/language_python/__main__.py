"""`pulumi-language-python`: `python -m plugins.language_python [--host-version=V] [--exec-script=P] <engine>`.

The launcher that the toolchain installs next to the `pulumi` CLI passes the two `--` options: the
version to report (the CLI's, as upstream's host does) and the path of
`pulumi-language-python-exec`, which sits next to the launcher.
"""

from __future__ import annotations

import sys

import grpc

from plugins.serve import Lifetime, engine_address, serve, setup_logging


def option(argv: list[str], name: str, default: str) -> str:
    prefix = f"--{name}="
    return next((arg[len(prefix) :] for arg in argv if arg.startswith(prefix)), default)


def main(argv: list[str]) -> int:
    from pulumi.runtime.proto import language_pb2_grpc

    from plugins.language_python.runtime import PythonLanguageRuntime

    runtime = PythonLanguageRuntime(
        engine=engine_address(argv),
        version=option(argv, "host-version", "3.274.1"),
        exec_script=option(argv, "exec-script", "pulumi-language-python-exec"),
        logger=setup_logging("language-python"),
    )

    def register(server: grpc.Server, lifetime: Lifetime) -> None:
        language_pb2_grpc.add_LanguageRuntimeServicer_to_server(runtime, server)

    try:
        return serve("language-python", register, stdout_to_log=False)
    finally:
        runtime.programs.interrupt()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
