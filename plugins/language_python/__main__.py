"""`pulumi-language-python`: `python -m plugins.language_python [--host-version=V] [--exec-script=P] <engine>`.

The launcher that the toolchain installs next to the `pulumi` CLI passes the two `--` options: the
version to report (the CLI's, as upstream's host does) and the path of
`pulumi-language-python-exec`, which sits next to the launcher. The engine adds `--tracing <endpoint>`
when tracing is on, which upstream's host hands on to the program (main.go:116, 1223).
"""

from __future__ import annotations

import sys

import grpc

from plugins.serve import Lifetime, engine_address, serve, setup_logging


def option(argv: list[str], name: str, default: str) -> str:
    """`--name=value`, `-name=value`, `--name value` or `-name value` (Go's flag syntax)."""
    for index, arg in enumerate(argv):
        flag = arg.lstrip("-")
        if arg.startswith("-") and flag.startswith(f"{name}="):
            return flag[len(name) + 1 :]
        if arg.startswith("-") and flag == name and index + 1 < len(argv):
            return argv[index + 1]
    return default


def main(argv: list[str]) -> int:
    from pulumi.runtime.proto import language_pb2_grpc

    from plugins.language_python.runtime import PythonLanguageRuntime

    tracing = option(argv, "tracing", "")
    positional = [arg for arg in argv if arg != tracing]
    runtime = PythonLanguageRuntime(
        engine=engine_address(positional),
        version=option(argv, "host-version", "3.274.1"),
        exec_script=option(argv, "exec-script", "pulumi-language-python-exec"),
        logger=setup_logging("language-python"),
        tracing=tracing,
    )

    def register(server: grpc.Server, lifetime: Lifetime) -> None:
        language_pb2_grpc.add_LanguageRuntimeServicer_to_server(runtime, server)

    try:
        return serve("language-python", register, stdout_to_log=False)
    finally:
        runtime.programs.cancel()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
