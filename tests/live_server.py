"""A real `tmfserver serve` process for tests that need one (conformance kits, crash safety, concurrency)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 90


class ServerError(RuntimeError):
    """The server could not be started."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command() -> list[str]:
    script = Path(sys.executable).parent / "tmfserver"
    if script.is_file():
        return [str(script), "serve"]
    return [sys.executable, "-m", "tmfserver.cli", "serve"]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@contextmanager
def live_server(database_url: str, log_path: Path, **options: Any) -> Iterator[str]:
    """`tmfserver serve` (it migrates first) on a free port; yields http://127.0.0.1:PORT once it reports
    ready; always stops it. `options` as for `server_process`."""
    with server_process(database_url, log_path, **options) as (origin, _process):
        yield origin


@contextmanager
def server_process(
    database_url: str,
    log_path: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    port: int | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """`live_server`, also yielding the process, for tests that signal it themselves."""
    port = port or free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "TMF_PUBLIC_BASE_URL": "",
        **(env or {}),
    }
    origin = f"http://127.0.0.1:{port}"
    probe = f"{origin}/health/ready"  # database reachable and migrated, background work running
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*server_command(), "--workers", str(workers)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so that stopping it reaches any child it spawned, and only those
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                if process.poll() is not None:
                    raise ServerError(
                        f"server exited with status {process.returncode} before it was ready; "
                        f"log {log_path}:\n{_tail(log_path)}"
                    )
                try:
                    with urllib.request.urlopen(probe, timeout=2) as response:
                        if response.status == 200:
                            break
                except (urllib.error.URLError, OSError):
                    pass
                if time.monotonic() > deadline:
                    raise ServerError(
                        f"server not ready at {probe} after {STARTUP_SECONDS}s; log {log_path}:\n"
                        f"{_tail(log_path)}"
                    )
                time.sleep(0.25)
            yield origin, process
        finally:
            _stop(process)


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)  # the server's own process group (start_new_session)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
