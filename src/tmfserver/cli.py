"""`tmfserver` command: build specs, migrate, serve."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from . import specbuild
from .settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["database_url"] = database_url
    return config


def migrate(database_url: str) -> None:
    command.upgrade(alembic_config(database_url), "head")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="tmfserver")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("openapi", help="fetch pinned documents, apply patches, validate")
    sub.add_parser("migrate", help="apply Alembic migrations to DATABASE_URL")
    serve = sub.add_parser("serve", help="migrate, then serve on HOST:PORT")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--no-migrate", action="store_true")
    args = parser.parse_args(argv)

    settings = Settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
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
            server_header=False,
            proxy_headers=False,  # X-Forwarded-* are interpreted by the app, from trusted peers only
        )


if __name__ == "__main__":
    main()
