"""`tmfserver serve`: the app under uvicorn, in one process or N, and what SIGTERM does to it.

On SIGTERM (or SIGINT) uvicorn stops accepting connections, closes idle ones, lets every request whose
headers have arrived finish (at most `shutdown_timeout_seconds`, then cancels them), runs the app's lifespan
shutdown — which stops the dispatcher after the deliveries it is sending — and returns. Two things are
adjusted here:

- uvicorn re-raises the signal it caught once it has shut down, so that the default disposition kills the
  process: exit status -15/143 after a shutdown that went well. `GracefulServer` ends normally (status 0).
- with `--workers N` the supervisor process keeps its copy of the listening socket until every worker has
  finished, so new connections would queue unanswered instead of being refused. `Supervisor` closes it first.

With `--workers N` the supervisor also replaces a worker that died; `Supervisor` makes that prompt (see there).

Connections are read by `web.http_limits.LimitedHttpToolsProtocol` (uvicorn's httptools protocol plus limits
on the request line and headers, `Host`, and read timeouts; see there).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import pickle
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn._subprocess import subprocess_started
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from .logs import capture_warnings, logging_config
from .settings import Settings
from .web.http_limits import HttpLimits, LimitedHttpToolsProtocol

log = logging.getLogger("tmfserver.server")

APP = "tmfserver.serving:served_app"


class Config(uvicorn.Config):
    """uvicorn's configuration; worker processes apply it when they start (it is pickled to them), so this is
    where they also turn warnings into log records, like tmfserver.logs does in the first process. It also
    carries the HTTP limits that `LimitedHttpToolsProtocol` reads from it."""

    http_limits = HttpLimits()

    def configure_logging(self) -> None:
        super().configure_logging()
        capture_warnings()


class GracefulServer(uvicorn.Server):
    """uvicorn's server, minus the re-raised signal after a graceful shutdown (see the module docstring)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                self._captured_signals.clear()  # the shutdown *was* the signal's handling


# A worker that has not answered its first health check this long after it was spawned is stuck in its start.
WORKER_STARTUP_SECONDS = 60.0

# Workers come from a fork server (multiprocessing's "forkserver"): a clean process, started once, that has
# imported the heavy libraries (tmfserver/preload.py) and forks a worker on request. uvicorn spawns a fresh
# interpreter per worker instead, which imports everything again (about 3 s of CPU before it serves).
FORK_SERVER = multiprocessing.get_context("forkserver")
PRELOAD = "tmfserver.preload"


class Worker(Process):
    """uvicorn's worker process, forked by the fork server (warm) rather than spawned (cold). Everything else
    — arguments, socket passing, the start — is uvicorn's (`uvicorn._subprocess.get_subprocess`)."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        try:
            stdin_fileno: int | None = sys.stdin.fileno()
        except (AttributeError, OSError):
            stdin_fileno = None
        arguments = {"config": config, "target": self.target, "sockets": sockets, "stdin_fileno": stdin_fileno}
        self.process = FORK_SERVER.Process(target=worker_main, kwargs=arguments)

    @property
    def server(self) -> uvicorn.Server:  # built in the worker process, by uvicorn's `Process.target`
        if self._server is None:
            self._server = WorkerServer(config=self.config)
        return self._server


class WorkerServer(uvicorn.Server):
    """uvicorn's server in a worker process, which writes its queued log lines (tmfserver.logs.QueuedLines)
    before uvicorn re-raises the signal that stopped it: that signal ends the process at once."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                logging.shutdown()  # "Finished server process" included; anything later is written at once


def worker_main(**arguments: object) -> None:
    """A worker process: uvicorn's start (it applies the logging configuration, then serves), then every
    queued log line written. A worker that returns (its start failed) ends through multiprocessing's
    `os._exit`, which skips `logging.shutdown`."""
    try:
        subprocess_started(**arguments)  # type: ignore[arg-type]
    finally:
        logging.shutdown()


@dataclass
class _HealthCheck:
    """The supervisor's view of one worker: its unanswered ping, and whether it has ever answered."""

    sent_at: float | None = None
    answered: bool = False


class Supervisor(Multiprocess):
    """uvicorn's worker supervisor, with three changes.

    On SIGTERM/SIGINT it closes its own copy of the listening socket before stopping the workers, so the port
    refuses connections as soon as the workers have closed theirs.

    Health checks do not block (`keep_subprocess_alive`). uvicorn 0.54 pings each worker in turn every 0.5 s
    and waits up to `timeout_worker_healthcheck` for each answer, killing a worker that has not answered as
    hung. A freshly spawned worker answers only once it has imported uvicorn, pydantic and SQLAlchemy: about
    1 s, over 5 s on a busy machine. So replacements were killed as "hung" before they could start, again and
    again, and meanwhile the supervisor watched no other worker. Here each pass reaps dead workers at once,
    sends pings without waiting and reads the answers that have arrived; a worker is killed as hung only when
    its answer is overdue: TMF_WORKER_HEALTHCHECK_SECONDS once it has answered before, WORKER_STARTUP_SECONDS
    while it starts.

    Workers are forked from a warm fork server (`Worker`), not spawned cold. Measured with 2 workers under a
    write load, from SIGKILL to the replacement serving: 8 to 15 s with uvicorn's supervisor, about 1.5 s
    with this one (docs/operating.md, "Worker processes"). SIGHUP (restart all) and SIGTTIN (one more worker)
    keep uvicorn's own code and spawn their workers cold."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self._health: dict[int | None, _HealthCheck] = {}
        FORK_SERVER.set_forkserver_preload([PRELOAD])

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            process = Worker(self.config, self.sockets)
            process.start()
            self.processes.append(process)

    def _close_listeners(self) -> None:
        for sock in self.sockets:
            sock.close()

    def handle_term(self) -> None:
        self._close_listeners()
        super().handle_term()

    def handle_int(self) -> None:
        self._close_listeners()
        super().handle_int()

    def _responsive(self, process: Process) -> bool:
        """Whether a running worker is answering health checks in time; never waits for the answer."""
        health = self._health.setdefault(process.pid, _HealthCheck())
        now = time.monotonic()
        try:
            if health.sent_at is not None:
                if not process.parent_conn.poll():
                    limit = (
                        self.config.timeout_worker_healthcheck if health.answered else WORKER_STARTUP_SECONDS
                    )
                    return now - health.sent_at <= limit
                process.parent_conn.recv()  # the worker's `server.started`; an answer is what counts
                health.answered = True
            process.parent_conn.send(b"ping")
            health.sent_at = now
            return True
        except (OSError, EOFError, pickle.UnpicklingError):
            return False

    def keep_subprocess_alive(self) -> None:
        """uvicorn's own, with `_responsive` instead of its blocking `process.is_alive(timeout)`."""
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.process.is_alive() and self._responsive(process):
                continue
            self._health.pop(process.pid, None)
            process.kill()  # when hung; a dead one is only reaped
            process.join()
            if process.exitcode == STARTUP_FAILURE:  # the app or the socket is broken: a restart would be too
                log.error("worker failed to start; stopping", extra={"worker_pid": process.pid})
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.warning(
                "worker died; replacing it", extra={"worker_pid": process.pid, "exit_code": process.exitcode}
            )
            replacement = Worker(self.config, self.sockets)
            replacement.start()
            self.processes[idx] = replacement
        alive = {process.pid for process in self.processes}
        for pid in [pid for pid in self._health if pid not in alive]:  # workers replaced by SIGHUP/SIGTTOU
            del self._health[pid]


# Why: docs/decisions/0049-gc-freeze-after-start.md
def served_app() -> Any:
    """The app as `serve` runs it (uvicorn's factory, called in each worker process): built, then every
    object alive at that point — the loaded documents, validators, routes, about 100 MB — moved out of the
    cyclic garbage collector's reach (`gc.freeze`). Without it, each full collection walked them all:
    ~100 ms with the loop stopped, several times a minute under load."""
    from .app import create_app  # in the worker: the fork server imports only preload's libraries

    app = create_app()
    gc.collect()
    gc.freeze()
    return app


def uvicorn_config(settings: Settings, workers: int) -> Config:
    config = Config(
        APP,
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings),
        access_log=False,  # tmfserver.access logs each request once, with its operation and duration
        server_header=False,
        proxy_headers=False,  # X-Forwarded-* are interpreted by the app, from trusted peers only
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,  # type: ignore[arg-type]  # float is fine
        timeout_worker_healthcheck=settings.worker_healthcheck_seconds,  # type: ignore[arg-type]  # float too
        timeout_keep_alive=settings.keep_alive_timeout_seconds,  # type: ignore[arg-type]  # float is fine
        http=LimitedHttpToolsProtocol,  # 414, 431, Host, header and body timeouts as TMF Errors
        # Why: docs/decisions/0052-asyncio-event-loop.md (uvloop's p99 was 4-7.5x its p50, asyncio's 1.7-2x)
        loop="asyncio",
    )
    config.http_limits = HttpLimits.from_settings(settings)
    return config


# Why: docs/decisions/0017-uvicorn-adjusted-for-graceful-shutdown.md
def serve(settings: Settings, workers: int = 1) -> None:
    """Serve until SIGTERM/SIGINT, then shut down gracefully and return; exits with uvicorn's start-up
    failure status (3) when the app or the socket cannot be set up."""
    config = uvicorn_config(settings, workers)
    facts = {"host": settings.host, "port": settings.port, "workers": workers, "pid": os.getpid()}
    log.info("server starting", extra=facts)
    if workers > 1:
        Supervisor(config, sockets=[config.bind_socket()]).run()
    else:
        server = GracefulServer(config)
        server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)
    log.info("server stopped", extra=facts)
