"""Schemathesis conformance run: every operation of TMF652, TMF663 and TMF663 v5, in-process, with response
validation on.

- test_tmf652 / test_tmf663: one sub-test per operation (hub and listeners included; see
  schemathesis_support.EXCLUDED_PATHS); examples, coverage and fuzzing phases; positive and negative data;
  checks in schemathesis_support.CHECKS.
- test_stateful: per document, Schemathesis' state machine following the x-links added by
  openapi/patches/*-stateful-links.json (create -> retrieve -> patch -> delete, order -> cancel request),
  with the same checks, including use_after_free and ensure_resource_availability.

Bounded for CI (SQLite: well under 90 s); `make fuzz` (TMF_FUZZ_SECONDS) runs a long one.
"""

from __future__ import annotations

import pytest

from tmfserver.app import create_app
from tmfserver.settings import Settings

from .schemathesis_support import DOCUMENTS, load, stateful_settings

tmf652 = load("TMF652")
tmf663 = load("TMF663")
tmf663_v5 = load("TMF663-v5")


@pytest.fixture(scope="module")
def fuzz_app(settings: Settings):  # connexion AsyncApp
    """The conftest app (same database, response validation on) without the background dispatcher and
    scheduler: Schemathesis starts an app's lifespan once and keeps it, and those threads polling the
    database throughout the run doubled its wall time on SQLite. Nothing here exercises them."""
    return create_app(settings.model_copy(update={"background_workers": False}))


@tmf652.parametrize()
def test_tmf652(case, fuzz_app) -> None:
    case.call_and_validate(app=fuzz_app)


@tmf663.parametrize()
def test_tmf663(case, fuzz_app) -> None:
    case.call_and_validate(app=fuzz_app)


@tmf663_v5.parametrize()
def test_tmf663_v5(case, fuzz_app) -> None:
    case.call_and_validate(app=fuzz_app)


@pytest.mark.parametrize("name", DOCUMENTS)
def test_stateful(name: str, fuzz_app) -> None:
    schema = load(name, fuzz_app)
    machine = schema.as_state_machine()
    machine.run(settings=stateful_settings())
