"""A real PostgreSQL server for one test module or benchmark: loopback, a free port, a temp dir.

The server is the one `make state-up` runs (`scripts/state_db.py`: Debian's `postgresql`, as the
`postgres` user when root), in a directory of its own under /tmp (pytest's temp root is closed to
the `postgres` user), removed by `remove()`. A missing server is a failure that says to run
`make setup`, never a skip.
"""

from __future__ import annotations

import base64
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testing.engine import load_script

STATE_DB = load_script("state_db")
TABLE = "pulumi_state"
"""The table Pulumi's PostgreSQL backend creates (`pkg/backend/diy/postgres/schema.sql`)."""


@dataclass
class PostgresServer:
    """A running cluster with role and database `pulumi`; `url` and `passfile_url` are what
    `PULUMI_BACKEND_URL` takes."""

    cluster: Any
    """`scripts/state_db.py`'s `Cluster`."""

    @classmethod
    def start(cls) -> PostgresServer:
        if STATE_DB.bin_dir() is None:
            raise AssertionError("no PostgreSQL server installed (initdb not found): run `make setup`")
        cluster = STATE_DB.cluster(Path(tempfile.mkdtemp(prefix="sovereign-ai-pg-")))
        try:
            cluster.init(STATE_DB.free_port())
        except STATE_DB.StateDbError as exc:
            shutil.rmtree(cluster.dir, ignore_errors=True)
            raise AssertionError(f"the test's PostgreSQL server did not start: {exc}") from exc
        return cls(cluster)

    @property
    def password(self) -> str:
        return str(self.cluster.password())

    @property
    def url(self) -> str:
        """With the password in it: the form whose masking the tests check."""
        return str(self.cluster.url(self.password))

    @property
    def passfile_url(self) -> str:
        """What `make state-up` prints: the password stays in the cluster's `pgpass` file."""
        return str(self.cluster.url())

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop`; `immediate` is a crash as far as clients can tell."""
        self.cluster.stop(mode)

    def restart(self) -> None:
        self.cluster.start()

    def remove(self) -> None:
        """Stop the server (if it runs) and delete its directory."""
        if self.cluster.running():
            self.cluster.stop("immediate")
        shutil.rmtree(self.cluster.dir, ignore_errors=True)

    def sql(self, query: str) -> str:
        """`psql` as the cluster's owner over its socket: unaligned rows, `|`-separated."""
        result = self.cluster.run("psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.cluster.dir),
                                  "-p", str(self.cluster.port()), "-U", self.cluster.owner, "-d",
                                  STATE_DB.DATABASE, "-c", query)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return str(result.stdout)

    def state_rows(self) -> dict[str, str]:
        """Every row of the state table, key -> content: the backend stores each state file as
        `{"data": <base64>}` (`pkg/backend/diy/postgres/bucket.go`), so a scan must decode it."""
        rows = {}
        for line in self.sql(f"SELECT key || '|' || (data->>'data') FROM {TABLE}").splitlines():
            key, _, blob = line.partition("|")
            rows[key] = base64.b64decode(blob).decode(errors="replace")
        return rows
