#!/usr/bin/env python3
"""A PostgreSQL server for a team's Pulumi state on this machine: `make state-up|down|status|url`.

Why this exists: two people (or a person and CI) deploying one stack need one state with a lock.
Pulumi's DIY backend keeps state in PostgreSQL (`PULUMI_BACKEND_URL=postgres://...`, a table
`pulumi_state` it creates itself) and takes a lock row per update. This script runs such a server
from Debian's `postgresql` package: a cluster in `.state-db/` (git-ignored; `STATE_DB_DIR` to put it
elsewhere), listening on 127.0.0.1 only, on a free port chosen at the first `up` (or
`STATE_DB_PORT`), with a database and a role `pulumi` whose generated password stays in
`<dir>/pgpass` (0600, libpq's password-file format). The server only ever sees a SCRAM verifier of
it, so the password is in no server log either.

The URL to export names that file (`...&passfile=<dir>/pgpass`, which Pulumi's driver lib/pq reads)
instead of holding the password: the CLI writes every backend URL it uses, verbatim, into
`$PULUMI_HOME/workspaces/*-workspace.json`, so a password in the URL would rest there in plaintext.
A managed server works the same way: README.md "Team".

PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user and its
commands run through `runuser -u postgres --`; any other user runs it as themselves.

Usage: python3 scripts/state_db.py install | up | down | status | url   [--dir DIR] [--port N]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
ROLE = DATABASE = "pulumi"
SERVER_USER_WHEN_ROOT = "postgres"
DEBIAN_LIB = Path("/usr/lib/postgresql")
"""Where Debian's `postgresql-<version>` puts its tools (`<version>/bin/`), off PATH."""
START_TIMEOUT_SECONDS = 60


class StateDbError(Exception):
    """A step failed; the message says what to do."""


def bin_dir() -> Path | None:
    """The directory of `initdb`, `pg_ctl` and `psql`: from PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    installed = [p for p in DEBIAN_LIB.glob("*/bin/initdb") if p.parts[-3].isdigit()]
    versions = sorted(installed, key=lambda p: int(p.parts[-3]))
    return versions[-1].parent if versions else None


def install() -> int:
    """`make setup`: Debian's `postgresql` when no server is installed (as root, or through a
    password-less sudo); nothing when one is."""
    if (found := bin_dir()) is not None:
        print(f"==> PostgreSQL server: ok ({found})")
        return 0
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if shutil.which("apt-get") is None or (
        sudo and subprocess.run([*sudo, "true"], capture_output=True).returncode
    ):
        print("state_db: no PostgreSQL server (initdb) found: install it, e.g. "
              "`sudo apt-get install -y postgresql`, then run `make setup` again", file=sys.stderr)  # fmt: skip
        return 1
    log = ROOT / ".build" / "setup.log"
    log.parent.mkdir(exist_ok=True)
    install_it = [*sudo, "apt-get", "install", "-y", "postgresql"]
    for command in (install_it, [*sudo, "apt-get", "update"], install_it):  # lists may be empty at first
        print(f"==> PostgreSQL server: {' '.join(command)} (output in {log}) ...", flush=True)
        with log.open("a") as out:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env=os.environ | {"DEBIAN_FRONTEND": "noninteractive"})  # fmt: skip
        if done.returncode == 0 and command is install_it:
            print(f"    ok ({bin_dir()})")
            return 0
    print(f"state_db: `apt-get install -y postgresql` failed; see {log}", file=sys.stderr)
    return 1


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 7677), made here so the server never
    receives the password itself."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    stored = b64(hashlib.sha256(client_key).digest()).decode()
    return f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}${stored}:{b64(server_key).decode()}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Cluster:
    """One cluster directory: `data/` (initdb), `server.log`, the socket, and `pgpass` (0600)."""

    dir: Path
    bin: Path

    @property
    def data(self) -> Path:
        return self.dir / "data"

    @property
    def log(self) -> Path:
        return self.dir / "server.log"

    @property
    def password_file(self) -> Path:
        return self.dir / "pgpass"

    def password(self) -> str:
        """The role's password: the last field of the `host:port:database:user:password` line."""
        return self.password_file.read_text().strip().rsplit(":", 1)[1]

    @property
    def owner(self) -> str:
        """The user the server runs as: `postgres` when we are root, else ourselves."""
        return SERVER_USER_WHEN_ROOT if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name

    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def as_owner(self, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """A command as the cluster's owner (`runuser` when we are root), from the cluster directory."""
        if os.geteuid() == 0:
            argv = ["runuser", "-u", self.owner, "--", *argv]
        return subprocess.run(argv, cwd=self.dir, input=stdin, capture_output=True, text=True, timeout=120)

    def run(self, tool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """A server tool (`initdb`, `pg_ctl`, `psql`) as the cluster's owner."""
        return self.as_owner([str(self.bin / tool), *args], stdin)

    def port(self) -> int:
        """The port in the cluster's config (the last `port =` line wins, as for the server)."""
        ports = re.findall(r"(?m)^port = (\d+)", (self.data / "postgresql.conf").read_text())
        return int(ports[-1])

    def running(self) -> bool:
        return self.initialised() and self.run("pg_ctl", "status", "-D", str(self.data)).returncode == 0

    def url(self, password: str | None = None) -> str:
        """`PULUMI_BACKEND_URL` for this server (loopback: no TLS), naming the `passfile` the driver
        reads the password from; or, given the password, with it in the URL (the tests' form)."""
        where = f"127.0.0.1:{self.port()}/{DATABASE}?sslmode=disable"
        if password:
            return f"postgres://{ROLE}:{password}@{where}"
        return f"postgres://{ROLE}@{where}&passfile={quote(str(self.password_file), safe='/')}"

    def init(self, port: int) -> None:
        """A new cluster owned by the server user, then the role and database with a new password."""
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        shutil.chown(self.dir, self.owner)
        self.dir.chmod(0o700)
        if self.as_owner(["test", "-w", str(self.dir)]).returncode != 0:
            raise StateDbError(f"the user {self.owner} cannot write {self.dir} (a parent directory is closed to it): "
                               "put the cluster elsewhere, e.g. STATE_DB_DIR=/var/tmp/sovereign-ai-state")  # fmt: skip
        made = self.run("initdb", "-D", str(self.data), "-U", self.owner, "-E", "UTF8", "--locale=C",
                        "--auth-local=peer", "--auth-host=scram-sha-256")  # fmt: skip
        if made.returncode != 0:
            raise StateDbError(f"initdb failed: {made.stderr.strip()[-800:]}")
        settings = "\n# sovereign-ai (scripts/state_db.py)\nlisten_addresses = '127.0.0.1'\n"
        settings += f"unix_socket_directories = '{self.dir}'\nport = {port}\n"
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        password = secrets.token_urlsafe(24)
        self.password_file.touch(mode=0o600)
        self.password_file.chmod(0o600)
        self.password_file.write_text(f"127.0.0.1:*:{DATABASE}:{ROLE}:{password}\n")
        self.start()
        sql = (f"CREATE ROLE {ROLE} LOGIN PASSWORD '{scram_verifier(password)}';\n"
               f"CREATE DATABASE {DATABASE} OWNER {ROLE};\n")  # fmt: skip
        created = self.run("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.dir), "-p",
                           str(port), "-U", self.owner, "-d", "postgres", stdin=sql)  # fmt: skip
        if created.returncode != 0:
            raise StateDbError(
                f"creating role and database {DATABASE} failed: {created.stderr.strip()}; "
                f"`make state-down`, remove {self.dir} and run `make state-up` again"
            )

    def start(self) -> None:
        started = self.run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w",
                           "-t", str(START_TIMEOUT_SECONDS))  # fmt: skip
        if started.returncode != 0:
            tail = (
                "\n    ".join(self.log.read_text(errors="replace").splitlines()[-5:])
                if self.log.exists()
                else ""
            )
            raise StateDbError(f"the server did not start on port {self.port()} (is it taken? set STATE_DB_PORT); "
                               f"{self.log}:\n    {tail}")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        stopped = self.run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w")
        if stopped.returncode != 0:
            raise StateDbError(f"pg_ctl stop failed: {stopped.stderr.strip()}")


def cluster(directory: Path | None = None) -> Cluster:
    found = bin_dir()
    if found is None:
        raise StateDbError("no PostgreSQL server installed (initdb not found): run `make setup`")
    return Cluster((directory or Path(os.environ.get("STATE_DB_DIR") or ROOT / ".state-db")).resolve(), found)


def up(db: Cluster, port: int | None) -> None:
    """Create the cluster on first use, start it, and print the URL to export."""
    if not db.initialised():
        chosen = port or free_port()
        print(
            f"==> state database: new cluster in {db.dir} (owner {db.owner}, 127.0.0.1:{chosen}) ...",
            flush=True,
        )
        db.init(chosen)
        print(f"    ok: role and database `{DATABASE}`, password in {db.password_file} (0600)")
    elif db.running():
        print(f"==> state database: already running in {db.dir}")
    else:
        if port and port != db.port():
            with (db.data / "postgresql.conf").open("a") as conf:
                conf.write(f"port = {port}\n")
        print(f"==> state database: starting {db.dir} on 127.0.0.1:{db.port()} ...", flush=True)
        db.start()
        print("    ok")
    print(f"    export PULUMI_BACKEND_URL='{db.url()}'")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["install", "up", "down", "status", "url"])
    parser.add_argument("--dir", type=Path, help="cluster directory (default $STATE_DB_DIR or .state-db/)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("STATE_DB_PORT") or 0) or None)
    args = parser.parse_args(argv)
    if args.command == "install":
        return install()
    try:
        db = cluster(args.dir)
        if args.command == "up":
            up(db, args.port)
        elif not db.initialised():
            raise StateDbError(f"no state database in {db.dir}: run `make state-up` first")
        elif args.command == "url":
            print(db.url())
        elif args.command == "down":
            if db.running():
                db.stop()
            print(f"==> state database: stopped ({db.dir}; `make state-up` starts it again, data kept)")
        else:
            state = "running" if db.running() else "stopped (`make state-up` starts it)"
            print(f"state database: {state}\n  dir: {db.dir}\n  url: {db.url()}")
            print(f"  password: {db.password_file} (0600)\n  log: {db.log}")
    except (StateDbError, OSError, subprocess.SubprocessError) as exc:
        print(f"state_db: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
