"""Log lines for every command: one JSON object per line for machines, a readable line on a terminal.

Every record carries `request_id` (the record factory and filter below; web/transport.py binds it per
request) and whatever the code passed as `extra={...}`: the JSON line has them as members, the readable line
appends them as `key=value`. The same configuration is handed to uvicorn, which applies it again in each
worker process.

Lines are formatted and written by a thread of their own (`QueuedLines`): the code that logs — a request
being served — only queues the record, with everything it needs already taken from the logging thread.
"""

from __future__ import annotations

import copy
import json
import logging
import logging.config
import os
import queue
import re
import sys
import threading
import warnings
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from typing import Any, Literal, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from .settings import Settings

Format = Literal["json", "text"]

# Record attributes that are not "extra" fields: the standard ones, the request id (printed on its own) and
# uvicorn's ANSI-coloured copy of its message.
NOT_EXTRA = frozenset({*RESERVED_ATTRS, "request_id", "color_message"})


# The id of the request being served (web/transport.RequestId binds it): in every log record and error body.
_request_id: ContextVar[str | None] = ContextVar("tmfserver_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str) -> Token:
    """Bind for the current request; the caller resets with `token.var.reset(token)`."""
    return _request_id.set(request_id)


_factory_installed = False


def install_log_record_factory() -> None:
    """Every log record gets `request_id` ("-" outside a request), whoever logs it and however the
    handlers are configured, so a format can always say `%(request_id)s`."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = _request_id.get() or "-"
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


# Connexion logs this at ERROR when a handler could take a query parameter its operation does not declare.
# Handlers take only what the documents declare, so a TMF630 attribute filter never gets there; an undeclared
# parameter that happens to share a handler argument's name (v4 `POST /shoppingCart?fields=…`,
# `GET /resourceOrder/{id}?id=…`) still would, one ERROR per request, chosen by the client.
# Why: docs/decisions/0043-undeclared-query-parameters-are-not-errors.md
UNDECLARED_PARAMETER_LOGGER = "connexion.decorators.parameter"
UNDECLARED_PARAMETER = "Function argument '%s' (non-sanitized: %s) not defined in specification"


class DropUndeclaredParameter(logging.Filter):
    """Drops exactly Connexion's "not defined in specification" record (TMF630 filters are expected)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != UNDECLARED_PARAMETER


def quiet_undeclared_parameters() -> None:
    connexion_logger = logging.getLogger(UNDECLARED_PARAMETER_LOGGER)
    if not any(isinstance(f, DropUndeclaredParameter) for f in connexion_logger.filters):
        connexion_logger.addFilter(DropUndeclaredParameter())


class RequestIdFilter(logging.Filter):
    """For handlers configured before the record factory is installed (uvicorn's worker processes apply
    this module's configuration before they import the app)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get() or "-"
        return True


def chosen_format(setting: str, stream: TextIO) -> Format:
    """`auto` means readable lines for a person at a terminal, JSON lines for anything collecting them."""
    if setting in ("json", "text"):
        return setting  # type: ignore[return-value]
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


def utc_time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in NOT_EXTRA and not k.startswith("_")}


class JsonLines(JsonFormatter):
    """`{"time", "level", "logger", "message", "request_id", <extra fields…>}` (+ `exc_info` for errors)."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message", "request_id"],
            rename_fields={"levelname": "level", "name": "logger"},
            reserved_attrs=sorted(NOT_EXTRA - {"request_id"}),
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict) -> None:
        log_data["time"] = utc_time(record)  # first, so that a person reading the raw lines finds it
        super().add_fields(log_data, record, message_dict)


# A value printed bare in a readable line; anything with spaces, quotes or `=` is JSON-quoted.
BARE_VALUE = re.compile(r"^[^\s\"=]+$")


class TextLines(logging.Formatter):
    """`2025-01-02 03:04:05,678 INFO tmfserver.dispatcher [request id] message key=value …`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # the first line, before any traceback
        pairs = (f"{k}={_text(v)}" for k, v in extra_fields(record).items())
        return " ".join((super().formatMessage(record), *pairs))


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if BARE_VALUE.match(text) else json.dumps(text)


FORMATTERS: dict[Format, type[logging.Formatter]] = {"json": JsonLines, "text": TextLines}


# A burst of records waits here for the writer; beyond this many, logging waits for it (as writing would).
QUEUE_SIZE = 10_000
_TRACEBACKS = logging.Formatter()  # tracebacks as every formatter here prints them (the standard layout)


class _Writer(QueueListener):
    """The thread that formats and writes queued records; an `Event` in the queue is a flush mark."""

    def handle(self, record: logging.LogRecord | threading.Event) -> None:  # type: ignore[override]
        if isinstance(record, threading.Event):
            record.set()  # everything queued before the mark is written
        else:
            super().handle(record)

    def start(self) -> None:
        super().start()
        self._thread.name = "tmfserver-log-writer"  # type: ignore[attr-defined]


# Why: docs/decisions/0045-log-lines-written-by-a-thread.md
class QueuedLines(QueueHandler):
    """The root handler: queues each record; a thread of this process formats it and writes it to `stream`.

    What depends on the logging thread is settled before the record is queued: `request_id` (the record
    factory, or `RequestIdFilter` on this handler), the message merged with its arguments (which may change
    after the call), and the traceback as text (`exc_text`; the formatters print it where they would print
    `exc_info`). Unlike `QueueHandler.prepare`, the message is not formatted into a line here: that is the
    writer's work. The writer starts with the handler (at configuration) and is stopped at `close()`, which
    writes every queued line first: `logging.shutdown()` at exit, or the next configuration (uvicorn applies
    it again). A forked process that inherits this handler (its writer thread stayed in the parent), or a
    record logged after `close()`, is written at once instead."""

    def __init__(self, stream: TextIO | None = None) -> None:
        # Created before this handler, so that logging.shutdown (newest first) closes this one first.
        self.target = logging.StreamHandler(stream or sys.stderr)
        super().__init__(queue.Queue(QUEUE_SIZE))
        self.pid = os.getpid()
        self.writer: _Writer | None = _Writer(self.queue, self.target)
        self.writer.start()

    def setFormatter(self, fmt: logging.Formatter | None) -> None:
        self.target.setFormatter(fmt)  # the writer formats; this handler only queues

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        prepared = copy.copy(record)  # other handlers (pytest's, a test's) keep the record as it was
        if not isinstance(record.msg, dict):  # JsonLines makes a dict message's items members of the line
            prepared.msg = prepared.message = record.getMessage()
            prepared.args = None
        if record.exc_info:
            prepared.exc_text = record.exc_text or _TRACEBACKS.formatException(record.exc_info)
            prepared.exc_info = None  # the traceback's frames stay with this thread
        return prepared

    def enqueue(self, record: logging.LogRecord) -> None:
        self.queue.put(record)  # blocks only while QUEUE_SIZE records wait: the writer sets the pace

    def _on_writer(self) -> bool:
        writer = self.writer
        return writer is not None and threading.current_thread() is writer._thread  # type: ignore[attr-defined]

    def _writing_here(self) -> bool:
        """Records go through this process's writer thread, and this is not that thread."""
        return self.writer is not None and self.pid == os.getpid() and not self._on_writer()

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        if self._on_writer():  # logged while writing (a warning of a formatter): at once, without this
            return self.filter(record) and self.target.handle(record)  # handler's lock, which close() holds
        return super().handle(record)

    def emit(self, record: logging.LogRecord) -> None:
        if self._writing_here():
            super().emit(record)
        else:
            self.target.handle(record)

    def flush(self) -> None:
        """Returns once every record queued so far is written."""
        if self._writing_here():
            written = threading.Event()
            self.queue.put(written)
            written.wait()
        self.target.flush()

    def close(self) -> None:
        with self.lock:  # records logged meanwhile wait, then are written at once (emit)
            writer, here = self.writer, self._writing_here()
            self.writer = None
            if writer is not None and here:
                writer.stop()  # writes what is queued, then ends the thread
        self.target.flush()
        self.target.close()
        super().close()


def logging_config(settings: Settings, stream: TextIO | None = None) -> dict:
    """The `logging.config.dictConfig` configuration for `settings`: one handler on the root logger, which
    queues records for a writer thread of this process (`QueuedLines`) that writes them to stderr.

    `auto` is resolved here, once, so that uvicorn's worker processes (which apply this dict themselves)
    write the same format as the process that started them."""
    line_format = chosen_format(settings.log_format, stream or sys.stderr)
    level = settings.log_level
    return {
        "version": 1,
        "disable_existing_loggers": False,  # module-level loggers exist before this runs
        "filters": {"request_id": {"()": f"{__name__}.RequestIdFilter"}},
        "formatters": {"lines": {"()": f"{__name__}.{FORMATTERS[line_format].__name__}"}},
        "handlers": {
            "stderr": {  # written by a thread of its own (QueuedLines)
                "()": f"{__name__}.QueuedLines",
                "stream": "ext://sys.stderr",
                "formatter": "lines",
                "filters": ["request_id"],  # on the thread that logs, before the record is queued
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own lines (start, stop, errors) go through the root handler like everything else.
            "uvicorn": {"level": level, "handlers": [], "propagate": True},
            "uvicorn.error": {"level": level, "handlers": [], "propagate": True},
            # One line per request is tmfserver.access's (method, path template, status, duration, …).
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # Alembic's INFO lines repeat tmfserver.migrations' records; httpx logs every callback POST,
            # which the dispatcher already reports as a delivery.
            "alembic": {"level": "WARNING"},
            "httpx": {"level": "WARNING"},
            "httpcore": {"level": "WARNING"},
        },
    }


def configure_logging(settings: Settings) -> dict:
    """Set up this process's logging from the settings; returns the configuration for uvicorn's `log_config`."""
    install_log_record_factory()
    config = logging_config(settings)
    logging.config.dictConfig(config)
    capture_warnings()
    return config


# Raised when Connexion imports starlette.testclient, which serving never uses: noise in every process's log.
IGNORED_WARNINGS = ("Using `httpx` with `starlette.testclient` is deprecated",)


def ignore_known_warnings() -> None:
    for message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=re.escape(message))


def capture_warnings() -> None:
    """Warnings become log records in the same format, not bare stderr text; known noise is dropped."""
    ignore_known_warnings()
    logging.captureWarnings(True)
