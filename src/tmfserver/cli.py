"""`tmfserver` command: build specs, pin and compare new versions of them (spec-upgrade, spec-diff), migrate,
serve, deliver events, replay dead letters, check the settings.

Each subcommand has `--help`; the Makefile calls these rather than repeating them.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

from alembic import command
from alembic.config import Config

from . import specbuild, specdiff
from .logs import configure_logging
from .settings import Settings, SettingsError, env_name, load_settings, masked_value

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from .services.dependencies import Dependencies


def alembic_config(database_url: str) -> Config:
    config = Config(str(specbuild.PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logger"] = False  # keep tmfserver.logs' configuration (migrations/env.py)
    return config


def migrate(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def database_or_exit(settings: Settings) -> None:
    """`serve` and `migrate` start against a database that answers: wait for it up to TMF_DB_WAIT_SECONDS
    (one WARNING when it does not answer at once), then exit 1 with one line naming it, password masked."""
    from .store.db import wait_until_reachable
    from .store.errors import DatabaseUnavailable

    def waiting(error: DatabaseUnavailable) -> None:
        facts = {"database": masked_value(settings, "database_url"), "error": error.detail}
        message = f"database unreachable; waiting up to {settings.db_wait_seconds:g} s"
        logging.getLogger("tmfserver.database").warning(message, extra=facts)

    try:
        wait_until_reachable(
            settings.database_url,
            settings.db_wait_seconds,
            connect_timeout_seconds=settings.db_connect_timeout_seconds,
            on_first_failure=waiting,
        )
    except DatabaseUnavailable as error:
        unreachable(settings, f"after {settings.db_wait_seconds:g} s: {error.detail}")


def unreachable(settings: Settings, detail: str) -> NoReturn:
    print(
        f"tmfserver: database unreachable at {masked_value(settings, 'database_url')} {detail}", file=sys.stderr
    )
    raise SystemExit(1)


@contextmanager
def outage_in_one_line(settings: Settings, while_doing: str) -> Iterator[None]:
    """A database that goes away while a command works: one line and exit 1, no traceback (run the command
    again once the database is back; `migrate` applies what is still missing)."""
    from sqlalchemy.exc import SQLAlchemyError

    from .services.exceptions import Unavailable
    from .store.errors import DatabaseUnavailable, unavailability

    try:
        yield
    except (SQLAlchemyError, DatabaseUnavailable, Unavailable) as error:
        detail = error.detail if isinstance(error, Unavailable) else unavailability(error)
        if detail is None:
            raise
        unreachable(settings, f"while {while_doing}: {detail}")


def dependencies_for(settings: Settings) -> Dependencies:
    """The services' dependencies as the app wires them, for commands that work without serving HTTP."""
    from .bootstrap import wire

    return wire(settings).deps


def dispatch(settings: Settings, once: bool, metrics_port: int | None = None) -> None:
    """Deliver events and run scheduled cancellations in a process of its own (until SIGTERM/SIGINT).

    With `metrics_port`, Prometheus metrics of this process (deliveries by outcome, pool, outbox) are served
    at http://HOST:metrics_port/metrics: a separate dispatcher has no other HTTP endpoint."""
    from .clock import utc_now_iso
    from .services.background import BackgroundWork, make_dispatcher
    from .services.orders import run_due_cancellations

    deps = dependencies_for(settings)
    try:
        if once:
            dispatcher = make_dispatcher(deps)
            try:
                cancelled = run_due_cancellations(deps, utc_now_iso())
                attempted = dispatcher.run_once()
            finally:
                dispatcher.stop()
            print(json.dumps({"deliveriesAttempted": attempted, "cancellationsRun": cancelled}))
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        if metrics_port is not None:
            serve_dispatch_metrics(deps.engine, settings.host, metrics_port)
        work = BackgroundWork(deps)
        work.start()
        log = logging.getLogger("tmfserver.dispatch")
        log.info("dispatcher started", extra={"database": str(deps.engine.url)})  # password masked
        try:
            stop.wait()
        finally:
            work.stop()  # after the deliveries in progress; the rest stay queued
        log.info("dispatcher stopped")
    finally:
        deps.engine.dispose()


def serve_dispatch_metrics(engine: Engine, host: str, port: int) -> None:
    from prometheus_client import CollectorRegistry, start_http_server

    from . import metrics

    metrics.instrument_pool(engine)
    registry = CollectorRegistry()
    registry.register(metrics.Exposition(engine))
    start_http_server(port, addr=host, registry=registry)  # a daemon thread; ends with the process
    logging.getLogger("tmfserver.dispatch").info("metrics served", extra={"host": host, "port": port})


def dead_letters(settings: Settings, limit: int) -> None:
    """Print dead deliveries as JSON lines, oldest first."""
    from .store import outbox
    from .store.models import OutboxEvent

    deps = dependencies_for(settings)
    try:
        with deps.unit_of_work(write=False) as uow:
            for delivery in outbox.dead_letters(uow.session, limit):
                event = uow.session.get(OutboxEvent, delivery.event_pk)
                line = {
                    "id": delivery.pk,
                    "eventId": event.event_id if event else None,
                    "eventType": event.event_type if event else None,
                    "api": event.api if event else None,
                    "resourceId": event.resource_id if event else None,
                    "callback": delivery.callback,
                    "attempts": delivery.attempts,
                    "lastError": delivery.last_error,
                }
                print(json.dumps(line), flush=True)
    finally:
        deps.engine.dispose()


def replay(settings: Settings, ids: list[int] | None) -> None:
    """Put dead deliveries (all, or the given ids) back in the queue with a fresh retry budget."""
    from .store import outbox

    deps = dependencies_for(settings)
    try:
        with deps.unit_of_work(write=True) as uow:
            count = outbox.replay(uow.session, time.time(), ids or None)
        print(json.dumps({"replayed": count}))
    finally:
        deps.engine.dispose()


def check_config(settings: Settings, as_json: bool, table: bool, connect: bool) -> int:
    """Print the effective settings (secrets masked), or the settings table of docs/operating.md;
    `--connect` also opens the database. Exit code 1 when the database cannot be reached."""
    if table:
        print(settings_table())
        return 0
    values = {env_name(field): masked_value(settings, field) for field in Settings.model_fields}
    if as_json:
        print(json.dumps(values, indent=2))
    else:
        for field, (name, value) in zip(Settings.model_fields, values.items(), strict=True):
            origin = "set" if field in settings.model_fields_set else "default"
            print(f"{name}={value}  # {origin}")
    if connect:
        from sqlalchemy import create_engine, text

        timeout = settings.db_connect_timeout_seconds
        connect_args = {"connect_timeout": timeout} if settings.database_url.startswith("postgresql") else {}
        engine = create_engine(settings.database_url, connect_args=connect_args)
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception as error:
            print(
                f"tmfserver: database unreachable at {masked_value(settings, 'database_url')}: "
                f"{str(error).splitlines()[0]}",
                file=sys.stderr,
            )
            return 1
        finally:
            engine.dispose()
    return 0


def settings_table() -> str:
    """The settings table of docs/operating.md, from the fields' defaults and descriptions."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field, info in Settings.model_fields.items():
        default = info.default
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        rows.append(f"| `{env_name(field)}` | {f'`{shown}`' if shown else '(empty)'} | {info.description} |")
    return "\n".join(rows)


def served_resources_of(api: str) -> tuple[str, ...]:
    """The definitions the registry serves for `api` (a pin's API name, e.g. TMF663)."""
    from .registry import SERVED

    return tuple(
        dict.fromkeys(
            exposed.schema for entry in SERVED if entry.name.split("-")[0] == api for exposed in entry.exposed
        )
    )


def unhandled_operations(pin_name: str, api: str, document: dict) -> list[str]:
    """operationIds of `document` that no handler module would resolve: those of the registry's document
    of that pin, or else those every document of the same API uses."""
    import importlib

    from .app import handler_name
    from .registry import SERVED

    modules: list[str] = []
    for entry in SERVED:
        for spec in entry.documents:
            if spec.name == pin_name:
                modules = list(spec.handlers)
    if not modules:
        modules = [m for e in SERVED if e.name.split("-")[0] == api for d in e.documents for m in d.handlers]
    loaded = [importlib.import_module(m) for m in dict.fromkeys(modules)]
    missing = []
    for key, operation in specdiff.operations(document).items():
        name = handler_name(operation.operation_id)
        if not any(callable(getattr(module, name, None)) for module in loaded):
            missing.append(f"{operation.operation_id} ({key}): no function {name} in {', '.join(modules)}")
    return missing


def spec_report(old: specbuild.Pin, new: specbuild.Pin) -> str:
    old_doc, new_doc = specbuild.built_document(old), specbuild.built_document(new)
    resources = served_resources_of(new.api) or specdiff.served_resources(new_doc)
    report = specdiff.compare(old_doc, new_doc, resources, old.label, new.label)
    report.unhandled = unhandled_operations(new.name, new.api, new_doc)
    return report.render()


def spec_upgrade(api: str, version: str, source: str, url: str | None) -> None:
    """Pin a new version beside the existing ones, build and validate it, print the review report."""
    pin, previous, pin_file = specbuild.upgrade_pin(api, version, source, url)
    built = specbuild.build(pin)
    print(f"pinned {pin.label} as {pin.name} in {pin_file.relative_to(specbuild.PROJECT_ROOT)}")
    print(f"  url {pin.url}\n  sha256 {pin.sha256}\n  patches {len(pin.patches)}")
    print(f"built and validated {built.relative_to(specbuild.PROJECT_ROOT)}\n")
    if previous is not None:
        print(spec_report(previous, pin))
    else:
        print(f"(no other pinned version of {api} to compare with)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tmfserver",
        description="TM Forum TMF652 Resource Ordering and TMF663 Shopping Cart server. Settings come from the "
        "environment and an optional .env file (see docs/operating.md, Settings).",
    )
    parser.add_argument(
        "--env-file", default=".env", metavar="PATH", help="settings file read when it exists (default: .env)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser(
        "openapi",
        help="build the served documents: pinned files, sha256 check, reviewed patches, validation",
        description="Take each pinned official document (openapi/*.pin.toml) from ../shared/specs or its URL, "
        "check its sha256, apply the patch files it lists, validate it and write build/openapi/.",
    )
    sub.add_parser(
        "migrate",
        help="apply the Alembic migrations to DATABASE_URL",
        description="Upgrade the database named by DATABASE_URL to the newest migration (idempotent).",
    )
    serve = sub.add_parser(
        "serve",
        help="migrate, then serve HTTP on HOST:PORT",
        description="Apply migrations (unless --no-migrate), then serve both APIs with uvicorn. "
        "With --workers N, N processes share the port and the database; each runs the dispatcher and the "
        "scheduler unless TMF_BACKGROUND_WORKERS=false.",
    )
    serve.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations first")
    dispatcher = sub.add_parser(
        "dispatch",
        help="deliver events and run scheduled cancellations until SIGTERM",
        description="Event delivery and scheduled cancellations in a process of their own (for deployments "
        "that run the servers with TMF_BACKGROUND_WORKERS=false).",
    )
    dispatcher.add_argument("--once", action="store_true", help="one pass, print what it did, exit")
    dispatcher.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve this process's Prometheus metrics at http://HOST:PORT/metrics",
    )
    events = sub.add_parser(
        "events",
        help="inspect and replay dead-lettered event deliveries",
        description="Deliveries that exhausted their retries are dead letters; list them or queue them again.",
    )
    events_sub = events.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    dead = events_sub.add_parser(
        "dead-letters",
        help="print dead deliveries as JSON lines, oldest first",
        description="Print dead deliveries as JSON lines "
        "(id, eventId, eventType, callback, attempts, lastError).",
    )
    dead.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    again = events_sub.add_parser(
        "replay",
        help="queue dead deliveries again with a fresh retry budget",
        description="Queue dead deliveries (all, or those named by --id) again with a fresh retry budget.",
    )
    again.add_argument(
        "--id", type=int, action="append", dest="ids", metavar="N", help="a delivery id (repeat)"
    )
    upgrade = sub.add_parser(
        "spec-upgrade",
        help="pin a new version of an official document beside the others, build it, print what changed",
        description="Pin SOURCE (a file or the official URL) as API VERSION beside the existing pins "
        "(openapi/<API>-v<major>.pin.toml: URL + sha256; the patches of a pin of the same major version are "
        "kept), build and validate it, and print the review report against the newest other pinned version: "
        "operations added/removed/changed, the served resources' schema changes, media types, operationIds "
        "with no handler yet. It never edits handlers.",
    )
    upgrade.add_argument("--api", required=True, help="the API, as the pins name it (TMF663)")
    upgrade.add_argument("--version", required=True, help="the document's version (5.0.0)")
    upgrade.add_argument("--source", required=True, help="the document: a file or its official URL")
    upgrade.add_argument("--url", help="the official URL to pin when SOURCE is a file (default: derived)")
    diff = sub.add_parser(
        "spec-diff",
        help="the review report between two pinned documents (TMF663@4.0.0 TMF663@5.0.0)",
        description="Build both pinned documents (API@VERSION or a pin name) and print what changed from "
        "OLD to NEW, as spec-upgrade does.",
    )
    diff.add_argument("old")
    diff.add_argument("new")
    check = sub.add_parser(
        "check-config",
        help="validate the settings and print them, secrets masked",
        description="Validate the settings (exit 2 naming a bad one) and print the effective values with "
        "secrets masked; '# set' marks values taken from the environment or the .env file.",
    )
    output = check.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON object instead")
    output.add_argument(
        "--table", action="store_true", help="print the table of defaults (docs/operating.md) instead"
    )
    check.add_argument("--connect", action="store_true", help="also connect to the database (exit 1 if not)")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.env_file)
    except SettingsError as error:
        print(f"tmfserver: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    configure_logging(settings)  # JSON lines, or readable ones on a terminal (TMF_LOG_FORMAT, TMF_LOG_LEVEL)
    if args.command == "openapi":
        for path in specbuild.build_all():
            print(f"built {path}")
    elif args.command == "migrate":
        database_or_exit(settings)
        with outage_in_one_line(settings, "migrating"):
            migrate(settings.database_url)
    elif args.command == "serve":
        from .metrics import prepare_multiprocess_metrics
        from .serving import serve

        database_or_exit(settings)
        if not args.no_migrate:
            with outage_in_one_line(settings, "migrating"):
                migrate(settings.database_url)
        prepare_multiprocess_metrics(settings, args.workers)  # before the workers import prometheus_client
        serve(settings, args.workers)  # returns after a graceful SIGTERM/SIGINT shutdown (exit status 0)
    elif args.command == "dispatch":
        with outage_in_one_line(settings, "dispatching"):  # the loops wait outages out; --once does not
            dispatch(settings, args.once, args.metrics_port)
    elif args.command == "events" and args.events_command == "dead-letters":
        with outage_in_one_line(settings, "reading dead letters"):
            dead_letters(settings, args.limit)
    elif args.command == "events" and args.events_command == "replay":
        with outage_in_one_line(settings, "replaying"):
            replay(settings, args.ids)
    elif args.command == "spec-upgrade":
        try:
            spec_upgrade(args.api, args.version, args.source, args.url)
        except (specbuild.SpecBuildError, OSError) as error:
            print(f"tmfserver spec-upgrade: {error}", file=sys.stderr)
            raise SystemExit(1) from None
    elif args.command == "spec-diff":
        try:
            print(spec_report(specbuild.find_pin(args.old), specbuild.find_pin(args.new)), end="")
        except specbuild.SpecBuildError as error:
            print(f"tmfserver spec-diff: {error}", file=sys.stderr)
            raise SystemExit(1) from None
    elif args.command == "check-config":
        raise SystemExit(check_config(settings, args.json, args.table, args.connect))


if __name__ == "__main__":
    main()
