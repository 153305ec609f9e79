"""What the fork server of `tmfserver serve --workers N` imports before it forks any worker (serving.Worker):
the heavy libraries, about 2 s of CPU, so that a new worker, a replacement for one that died included, only
imports the project's own modules and builds the app (about 1 s). Imported by name in that process only.

prometheus_client is deliberately absent: each worker must import it itself, after PROMETHEUS_MULTIPROC_DIR
is set (metrics.py). A library missing here is simply imported by the worker.
"""

from __future__ import annotations

import importlib

from .logs import ignore_known_warnings

LIBRARIES = (
    "connexion",
    "connexion.apps.asynchronous",
    "sqlalchemy.orm",
    "sqlalchemy.dialects.postgresql.psycopg",
    "sqlalchemy.dialects.sqlite",
    "alembic.script",
    "httpx",
    "jsonschema",
    "jwt",
    "pydantic_settings",
    "pythonjsonlogger.json",
    "uvicorn.server",
    "uvicorn.lifespan.on",
    "uvicorn.protocols.http.h11_impl",
)


def preload() -> None:
    ignore_known_warnings()  # as every process does (logs.capture_warnings): no bare stderr text
    for name in LIBRARIES:
        importlib.import_module(name)


preload()
