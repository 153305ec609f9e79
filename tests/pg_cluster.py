"""A throw-away PostgreSQL cluster that a test owns: `initdb` in a temporary directory, `pg_ctl` to start and
stop it on a free port. Fault tests stop and start it at will; the machine's shared server (5432) is never
touched.

PostgreSQL refuses to run as root: as root, every command runs as the `postgres` OS user (`runuser`), and the
temporary directory belongs to that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.live_server import free_port

OS_USER = "postgres"


def postgres_bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb, else the directory of `initdb` on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing_reason() -> str | None:
    """Why a cluster cannot be made here, or None."""
    if postgres_bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or PATH"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(OS_USER)
        except KeyError:
            return f"running as root and there is no '{OS_USER}' OS user to run PostgreSQL as"
    return None


class PostgresCluster:
    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.bindir = postgres_bindir()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", OS_USER, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args[:2])} failed ({result.returncode}): {result.stderr.strip()}\n"
                f"{self.log.read_text(errors='replace')[-2000:] if self.log.exists() else ''}"
            )

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")

    def start(self) -> None:
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.root}",  # its own socket directory, not /var/run/postgresql
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",  # a clean `-m fast` stop still checkpoints; only an OS crash would lose data
                "-c shared_buffers=16MB",
                "-c max_connections=60",
            ]
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: disconnect every client and shut down cleanly (what an orderly restart does)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def url_of(self, database: str) -> str:
        return self.url.rsplit("/", 1)[0] + "/" + database


@contextmanager
def throwaway_cluster() -> Iterator[PostgresCluster]:
    """An initialised, running cluster on a free port; stopped and deleted afterwards."""
    root = Path(tempfile.mkdtemp(prefix="tmf-pg-"))  # not pytest's tmp_path: its parents are root-only
    if os.geteuid() == 0:
        account = pwd.getpwnam(OS_USER)
        os.chown(root, account.pw_uid, account.pw_gid)
    cluster = PostgresCluster(root, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with suppress(RuntimeError, subprocess.TimeoutExpired):  # already stopped (or never started)
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
