"""Schemathesis set-up shared by tests/conformance/test_schemathesis.py.

The served documents (build/openapi/*.json, the exact files Connexion serves) are loaded from disk rather
than fetched from the app: Connexion cannot serve TMF663's swagger.json (CONNEXION-NOTES.md #7). Requests
go in-process to the Connexion app (ASGI transport), so no server or port is involved.

Run size. CI (no TMF_FUZZ_SECONDS) is bounded to well under the ~90 s file budget:
- fuzzing phase: a few examples per operation, positive and negative mixed (`generation.mode = all`);
- coverage phase: on, but its body variants are thinned (see `thin_coverage`): unthinned, TMF663 alone has
  ~33,000 coverage cases (recursive CartItem; PATCH x 3 media types) and ran 84 s in the CLI;
- stateful phase: a few short scenarios per document along the x-links of openapi/patches/*-stateful-links.json.
TMF_FUZZ_SECONDS=N (`make fuzz`) runs every coverage case and scales the example counts with N.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from typing import Any

import hypothesis
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from tmfserver import specbuild

DOCUMENTS = ("TMF652", "TMF663", "TMF663-v5")

# Paths left out of fuzzing (a regex), or None: every operation of both documents, hub and listeners included.
EXCLUDED_PATHS: str | None = None

# The checks the conformance run asserts. `use_after_free` and `ensure_resource_availability` look at a
# recorded scenario, so they only act in the stateful test (in the stateless tests they are no-ops).
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
    "use_after_free",
    "ensure_resource_availability",
)

# Measured generation rate for the big TMF bodies is ~1-4 examples/s (hypothesis-jsonschema on the
# recursive, all-optional schemas); `make fuzz` examples are derived from the time with this rate.
EXAMPLES_PER_SECOND = 2


@dataclass(frozen=True)
class Budget:
    fuzz_seconds: float | None  # TMF_FUZZ_SECONDS, None in CI
    max_examples: int  # fuzzing-phase examples per operation
    thin_coverage: bool  # thin the coverage phase's body variants
    stateful_examples: int  # state machine scenarios per document
    stateful_steps: int  # max calls per scenario

    @classmethod
    def from_env(cls) -> Budget:
        raw = os.environ.get("TMF_FUZZ_SECONDS", "").strip()
        if not raw:
            return cls(None, max_examples=10, thin_coverage=True, stateful_examples=15, stateful_steps=8)
        seconds = float(raw)
        operations = 8  # per document, roughly; the stateful run gets the same share as one operation
        per_operation = max(int(seconds / (operations + 1) * EXAMPLES_PER_SECOND), 10)
        return cls(
            seconds,
            max_examples=per_operation,
            thin_coverage=False,
            stateful_examples=max(per_operation // 4, 20),
            stateful_steps=12,
        )

    @property
    def long_run(self) -> bool:
        return self.fuzz_seconds is not None


BUDGET = Budget.from_env()


# CI: v5's cart schemas are far deeper than v4's (polymorphic product, party and contact media, all recursive,
# in the cart bodies and in every event payload): deriving the examples and coverage variants of its operations
# took ~280 s at collection alone. In CI v5 runs the fuzzing and stateful phases; `make fuzz` runs every phase.
V5_CI_PHASES = {"examples": {"enabled": False}, "coverage": {"enabled": False}}


def config(name: str = "") -> SchemathesisConfig:
    # CI is reproducible (fixed seed, no example database); a long run explores and remembers failures.
    reproducible = {} if BUDGET.long_run else {"seed": 652_663}
    return SchemathesisConfig.from_dict(
        {
            **reproducible,
            "generation": {
                "mode": "all",  # positive and negative
                "max-examples": BUDGET.max_examples,
                "deterministic": not BUDGET.long_run,
                **({} if BUDGET.long_run else {"database": "none"}),
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                **(V5_CI_PHASES if name == "TMF663-v5" and not BUDGET.long_run else {}),
                "fuzzing": {"enabled": True},
                "stateful": {
                    "enabled": True,
                    "max-steps": BUDGET.stateful_steps,
                    # Links come from the reviewed x-links patches only, not from inference: the same
                    # scenarios every run, and no inferred links with made-up request bodies.
                    "inference": {"algorithms": []},
                },
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            # CI: no coverage phase for TMF663's PATCH. Its body schema (ShoppingCart_Update) is
            # ShoppingCart_Create's, which POST's coverage phase walks; generating PATCH's ~24,000 variants
            # alone takes ~10 s before a single request. `make fuzz` runs them.
            "operations": []
            if BUDGET.long_run
            else [{"include-operation-id": "patchShoppingCart", "phases": {"coverage": {"enabled": False}}}],
        }
    )


def _nesting(data: Any) -> int:
    """How deep in the body schema a coverage variant sits (0 = a top-level property)."""
    if data.location:
        return max(data.location.count("/properties/") - 1, 0)
    return max(data.description.count("Object with valid") - 1, 0)


def thin_coverage(_context: Any, case: Any) -> bool:
    """`filter_case` hook (CI only): keep every coverage case except deep body variants.

    Kept: every non-body case (query, path, header, content type, method); every body variant of a
    top-level property or of the properties of a top-level property; a fixed 1-in-100 sample of the
    deeper ones. A body variant of an operation with several media types (PATCH) is sent as one of them,
    chosen by hash, not as each.
    """
    meta = case.meta
    if meta is None or meta.phase.name.value != "coverage":
        return True
    data = meta.phase.data
    if data.parameter_location != ParameterLocation.BODY:
        return True
    digest = zlib.crc32(data.description.encode())
    media_types = case.operation.schema.get_request_payload_content_types(case.operation)
    several = len(media_types) > 1 and case.media_type in media_types
    if several and media_types.index(case.media_type) != digest % len(media_types):
        return False
    return _nesting(data) <= 1 or digest % 100 == 0


def load(name: str, app: Any = None) -> Any:
    """The served document `name` minus EXCLUDED_PATHS; bound to `app` when given.

    Parametrized tests load at collection time, before the session's `app` fixture exists, so they pass
    the app per call instead (`case.call_and_validate(app=app)`).
    """
    path = specbuild.served_document_path(name)
    if not path.is_file():
        specbuild.build_all()
    document = json.loads(path.read_text())
    schema = schemathesis.openapi.from_dict(document, config=config(name))
    if EXCLUDED_PATHS:
        schema = schema.exclude(path_regex=EXCLUDED_PATHS)
    if BUDGET.thin_coverage:
        schema.hook("filter_case")(thin_coverage)
    if app is not None:
        schema.app = app
    return schema


def stateful_settings() -> hypothesis.settings:
    return hypothesis.settings(
        max_examples=BUDGET.stateful_examples,
        stateful_step_count=BUDGET.stateful_steps,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        derandomize=not BUDGET.long_run,
        database=hypothesis.settings.default.database if BUDGET.long_run else None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate]
        + ([hypothesis.Phase.shrink] if BUDGET.long_run else []),
    )
