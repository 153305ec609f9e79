"""`tmfserver` command: build specs, migrate, serve, run event delivery, inspect and replay dead letters."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import threading
import time
from pathlib import Path

from alembic import command
from alembic.config import Config

from . import specbuild
from .settings import Settings
from .web.transport import LOG_FORMAT, install_log_record_factory, uvicorn_log_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def services_for(settings: Settings):
    """Engine and sessions as the app builds them, for commands that work without serving HTTP."""
    from .store.db import make_engine, make_session_factory
    from .store.unit_of_work import use_immediate_transactions_on_sqlite
    from .web.context import Services

    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_max_overflow)
    use_immediate_transactions_on_sqlite(engine)
    return Services(settings, engine, make_session_factory(engine))


def dispatch(settings: Settings, once: bool) -> None:
    """Deliver events and run scheduled cancellations in a process of its own (until SIGTERM/SIGINT)."""
    from .query.values import utc_now_iso
    from .services.background import BackgroundWork, make_dispatcher
    from .services.orders import run_due_cancellations

    services = services_for(settings)
    try:
        if once:
            dispatcher = make_dispatcher(services)
            try:
                cancelled = run_due_cancellations(services, utc_now_iso())
                attempted = dispatcher.run_once()
            finally:
                dispatcher.stop()
            print(json.dumps({"deliveriesAttempted": attempted, "cancellationsRun": cancelled}))
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        work = BackgroundWork(services)
        work.start()
        logging.getLogger("tmfserver").info("dispatching events from %s", services.engine.url)
        try:
            stop.wait()
        finally:
            work.stop()
    finally:
        services.engine.dispose()


def dead_letters(settings: Settings, limit: int) -> None:
    """Print dead deliveries as JSON lines, oldest first."""
    from .store import outbox
    from .store.models import OutboxEvent
    from .store.unit_of_work import unit_of_work

    services = services_for(settings)
    try:
        with unit_of_work(services.sessions, write=False) as uow:
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
        services.engine.dispose()


def replay(settings: Settings, ids: list[int] | None) -> None:
    """Put dead deliveries (all, or the given ids) back in the queue with a fresh retry budget."""
    from .store import outbox
    from .store.unit_of_work import unit_of_work

    services = services_for(settings)
    try:
        with unit_of_work(services.sessions, write=True) as uow:
            count = outbox.replay(uow.session, time.time(), ids or None)
        print(json.dumps({"replayed": count}))
    finally:
        services.engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tmfserver")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("openapi", help="fetch pinned documents, apply patches, validate")
    sub.add_parser("migrate", help="apply Alembic migrations to DATABASE_URL")
    serve = sub.add_parser("serve", help="migrate, then serve on HOST:PORT")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-migrate", action="store_true")
    dispatcher = sub.add_parser("dispatch", help="deliver events and run scheduled cancellations until stopped")
    dispatcher.add_argument("--once", action="store_true", help="one pass, then exit")
    dead = sub.add_parser("dead-letters", help="print dead deliveries as JSON lines")
    dead.add_argument("--limit", type=int, default=100)
    again = sub.add_parser("replay", help="re-queue dead deliveries (all, or those given by --id)")
    again.add_argument("--id", type=int, action="append", dest="ids", metavar="N")
    args = parser.parse_args(argv)

    settings = Settings()
    install_log_record_factory()  # `%(request_id)s` in every line ("-" outside a request)
    logging.basicConfig(level=settings.log_level, format=LOG_FORMAT)
    if args.command == "openapi":
        for path in specbuild.build_all():
            print(f"built {path}")
    elif args.command == "migrate":
        migrate(settings.database_url)
    elif args.command == "serve":
        import uvicorn

        if not args.no_migrate:
            migrate(settings.database_url)
        uvicorn.run(
            "tmfserver.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=args.workers,
            log_level=settings.log_level.lower(),
            log_config=uvicorn_log_config(settings.log_level),
            server_header=False,
            proxy_headers=False,  # X-Forwarded-* are interpreted by the app, from trusted peers only
        )
    elif args.command == "dispatch":
        dispatch(settings, args.once)
    elif args.command == "dead-letters":
        dead_letters(settings, args.limit)
    elif args.command == "replay":
        replay(settings, args.ids)


if __name__ == "__main__":
    main()
