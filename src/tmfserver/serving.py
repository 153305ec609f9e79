"""`tmfserver serve`: the app under uvicorn, in one process or N, and what SIGTERM does to it.

On SIGTERM (or SIGINT) uvicorn stops accepting connections, closes idle ones, lets every request whose
headers have arrived finish (at most `shutdown_timeout_seconds`, then cancels them), runs the app's lifespan
shutdown — which stops the dispatcher after the deliveries it is sending — and returns. Two things are
adjusted here:

- uvicorn re-raises the signal it caught once it has shut down, so that the default disposition kills the
  process: exit status -15/143 after a shutdown that went well. `GracefulServer` ends normally (status 0).
- with `--workers N` the supervisor process keeps its copy of the listening socket until every worker has
  finished, so new connections would queue unanswered instead of being refused. `Supervisor` closes it first.

Connections are read by `web.http_limits.LimitedHttpToolsProtocol` (uvicorn's httptools protocol plus limits
on the request line and headers, `Host`, and read timeouts; see there).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from .logs import capture_warnings, logging_config
from .settings import Settings
from .web.http_limits import HttpLimits, LimitedHttpToolsProtocol

log = logging.getLogger("tmfserver.server")

APP = "tmfserver.app:create_app"


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


class Supervisor(Multiprocess):
    """uvicorn's worker supervisor; on SIGTERM/SIGINT it closes its own copy of the listening socket before
    stopping the workers, so the port refuses connections as soon as the workers have closed theirs."""

    def _close_listeners(self) -> None:
        for sock in self.sockets:
            sock.close()

    def handle_term(self) -> None:
        self._close_listeners()
        super().handle_term()

    def handle_int(self) -> None:
        self._close_listeners()
        super().handle_int()


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
        timeout_keep_alive=settings.keep_alive_timeout_seconds,  # type: ignore[arg-type]  # float is fine
        http=LimitedHttpToolsProtocol,  # 414, 431, Host, header and body timeouts as TMF Errors
    )
    config.http_limits = HttpLimits.from_settings(settings)
    return config


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
