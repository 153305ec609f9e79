"""Log line formats: which one is chosen, what a JSON line and a readable line contain."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import sys
import threading
from collections.abc import Iterator

import pytest

from tmfserver.logs import (
    JsonLines,
    QueuedLines,
    RequestIdFilter,
    TextLines,
    bind_request_id,
    chosen_format,
    logging_config,
)
from tmfserver.settings import Settings


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def record(message: str = "event delivery failed", level: int = logging.WARNING, **extra) -> logging.LogRecord:
    made = logging.getLogger("tmfserver.dispatcher").makeRecord(
        "tmfserver.dispatcher", level, "dispatcher.py", 1, message, (), None, extra=extra
    )
    made.request_id = "req-1"
    return made


@pytest.mark.parametrize(
    ("setting", "stream", "expected"),
    [
        ("auto", Terminal(), "text"),
        ("auto", io.StringIO(), "json"),  # a pipe, a file, a log collector
        ("json", Terminal(), "json"),
        ("text", io.StringIO(), "text"),
    ],
)
def test_format_follows_the_terminal_unless_forced(setting: str, stream, expected: str) -> None:
    assert chosen_format(setting, stream) == expected


def test_a_stream_without_isatty_gets_json() -> None:
    assert chosen_format("auto", object()) == "json"  # type: ignore[arg-type]


def test_json_line_has_the_standard_members_and_every_extra_field() -> None:
    line = JsonLines().format(record(delivery_id=7, callback="http://x/cb", attempt=2, error="HTTP 503"))
    assert "\n" not in line
    data = json.loads(line)
    assert list(data)[:5] == ["time", "level", "logger", "message", "request_id"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["time"])
    assert data["level"] == "WARNING" and data["logger"] == "tmfserver.dispatcher"
    assert data["message"] == "event delivery failed" and data["request_id"] == "req-1"
    assert {k: data[k] for k in ("delivery_id", "callback", "attempt", "error")} == {
        "delivery_id": 7,
        "callback": "http://x/cb",
        "attempt": 2,
        "error": "HTTP 503",
    }
    # Nothing of LogRecord's own bookkeeping leaks in.
    assert not {"args", "msg", "pathname", "lineno", "levelno", "created", "color_message"} & set(data)


def test_json_line_interpolates_arguments_and_keeps_tracebacks_on_one_line() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        failed = logging.getLogger("x").makeRecord("x", logging.ERROR, "f", 1, "pass %s failed", ("3",), None)
        failed.exc_info = sys.exc_info()
    failed.request_id = "-"
    line = JsonLines().format(failed)
    assert "\n" not in line
    data = json.loads(line)
    assert data["message"] == "pass 3 failed"
    assert "RuntimeError: boom" in data["exc_info"]


def test_uvicorns_coloured_copy_of_its_message_is_left_out() -> None:
    data = json.loads(JsonLines().format(record("Started", color_message="\x1b[36mStarted\x1b[0m")))
    assert "color_message" not in data


def test_text_line_is_readable_with_the_extra_fields_as_key_value() -> None:
    line = TextLines().format(record(delivery_id=7, error="HTTP 503", callback="http://x/cb"))
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING tmfserver\.dispatcher \[req-1\] event delivery failed "
        r'delivery_id=7 error="HTTP 503" callback=http://x/cb',
        line,
    ), line


def test_text_line_puts_the_fields_before_the_traceback() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        failed = record("pass failed", logging.ERROR, attempt=1)
        failed.exc_info = sys.exc_info()
    first, *rest = TextLines().format(failed).splitlines()
    assert first.endswith("pass failed attempt=1")
    assert rest[-1] == "ValueError: bad"


@pytest.mark.parametrize(("setting", "formatter"), [("json", JsonLines), ("text", TextLines)])
def test_configuration_uses_the_chosen_formatter_and_level(setting: str, formatter: type) -> None:
    config = logging_config(Settings(log_format=setting, log_level="WARNING"), io.StringIO())
    assert config["formatters"]["lines"]["()"].endswith(formatter.__name__)
    assert config["root"]["level"] == "WARNING"
    assert config["disable_existing_loggers"] is False  # module-level loggers keep working
    access = config["loggers"]["uvicorn.access"]
    assert access["propagate"] is False and access["handlers"] == []  # one line per request: tmfserver.access


# --- lines written by a thread of their own (QueuedLines) ------------------------------------------------


class Written(io.StringIO):
    """A stream that also notes which thread wrote each line."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def write(self, text: str) -> int:
        self.threads.append(threading.current_thread().name)
        return super().write(text)


@pytest.fixture
def queued() -> Iterator[tuple[logging.Logger, QueuedLines, Written]]:
    stream = Written()
    handler = QueuedLines(stream)
    handler.setFormatter(JsonLines())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tmfserver.test-queued")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler, stream
    logger.removeHandler(handler)
    handler.close()


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_queued_lines_are_written_by_the_writer_thread_with_what_the_logging_thread_knew(queued) -> None:
    logger, handler, stream = queued
    token = bind_request_id("req-queued-1")
    items = ["first"]
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("items %s failed", items, extra={"attempt": 3})
    finally:
        token.var.reset(token)
    items.append("changed after the call")  # the line says what was true when it was logged
    handler.flush()
    [line] = lines(stream)
    assert line["request_id"] == "req-queued-1"  # bound on this thread, not the writer's
    assert line["message"] == "items ['first'] failed"
    assert line["attempt"] == 3 and line["level"] == "ERROR" and line["logger"] == "tmfserver.test-queued"
    assert "RuntimeError: boom" in line["exc_info"]
    assert set(stream.threads) == {"tmfserver-log-writer"}


def test_queued_text_lines_keep_the_fields_before_the_traceback() -> None:
    stream = io.StringIO()
    handler = QueuedLines(stream)
    handler.setFormatter(TextLines())
    try:
        try:
            raise ValueError("bad")
        except ValueError:
            failed = record("pass failed", logging.ERROR, attempt=1)
            failed.exc_info = sys.exc_info()
        handler.handle(failed)
        handler.flush()
    finally:
        handler.close()
    first, *rest = stream.getvalue().splitlines()
    assert first.endswith("[req-1] pass failed attempt=1")
    assert rest[-1] == "ValueError: bad"
    assert failed.exc_info is not None and failed.exc_text is None  # other handlers see the record unchanged


def test_close_writes_every_queued_line_in_order_then_writes_at_once(queued) -> None:
    logger, handler, stream = queued
    for n in range(2000):
        logger.info("line %d", n)
    handler.close()  # as logging.shutdown() does at exit
    assert [line["message"] for line in lines(stream)] == [f"line {n}" for n in range(2000)]
    logger.info("after close")  # e.g. from another atexit hook: not lost
    assert lines(stream)[-1]["message"] == "after close"


def test_configuration_starts_a_writer_and_a_new_configuration_stops_the_old_one() -> None:
    config = logging_config(Settings(log_format="json"), io.StringIO())
    assert config["handlers"]["stderr"]["()"].endswith("QueuedLines")
    assert config["handlers"]["stderr"]["filters"] == ["request_id"]
    writers = [t for t in threading.enumerate() if t.name == "tmfserver-log-writer"]
    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        logging.config.dictConfig(config)
        [handler] = [h for h in root.handlers if isinstance(h, QueuedLines)]
        assert handler.writer is not None and handler.writer._thread.is_alive()
        logging.config.dictConfig(config)  # uvicorn applies it again: the first writer ends
        assert handler.writer is None
        [again] = [h for h in root.handlers if isinstance(h, QueuedLines)]
        assert again is not handler
        again.close()
    finally:
        root.handlers[:] = saved
    assert [t for t in threading.enumerate() if t.name == "tmfserver-log-writer"] == writers


class LogsWhileFormatting(JsonLines):
    """A formatter that logs as it formats (as a captured warning would), once, after `ready` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = threading.Event()

    def format(self, record: logging.LogRecord) -> str:
        if record.getMessage() == "outer":
            self.ready.wait(10)
            logging.getLogger("tmfserver.test-queued.inner").warning("logged by the writer")
        return super().format(record)


def test_a_record_logged_by_the_writer_is_written_and_shutdown_does_not_wait_for_it(queued) -> None:
    logger, handler, stream = queued
    formatter = LogsWhileFormatting()
    handler.setFormatter(formatter)
    logger.info("outer")

    def shutdown() -> None:  # what logging.shutdown() does with each handler
        handler.acquire()
        try:
            formatter.ready.set()  # the writer logs while this thread holds the handler's lock
            handler.flush()
            handler.close()
        finally:
            handler.release()

    closing = threading.Thread(target=shutdown)
    closing.start()
    closing.join(timeout=10)
    assert not closing.is_alive(), "close() waits for a writer that waits for the handler's lock"
    assert [line["message"] for line in lines(stream)] == ["logged by the writer", "outer"]
