"""The compiled body validator (web/compiled_schemas.py) decides as jsonschema does, on every served operation.

For every operation with a JSON request body in the served documents, and every media type of it, the schema
is the one Connexion hands the server's validator (`validator_map`, as the app builds it). A corpus of bodies
-- generated from that schema (positive), then broken one place at a time (negative), with a fixed seed --
must get the same accept/reject decision from the compiled validator and from jsonschema (the reference).
Schemathesis' generators add their own bodies in the Hypothesis test at the end (a property test: `slow`).

The last tests show the comparison has teeth: a compiled validator without jsonschema's format checks, or one
that takes every body, is caught by the same corpus.
docs/decisions/0042-compiled-body-validation.md
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import jsonschema_rs
import pytest
import schemathesis
from connexion.resolver import Resolver
from connexion.spec import Specification
from hypothesis import HealthCheck, Phase, given
from schemathesis import GenerationMode

from tmfserver.bootstrap import load_document
from tmfserver.registry import SERVED
from tmfserver.web.compiled_schemas import CompiledSchema, acyclic
from tmfserver.web.validation import _limit_violation, validator_map

SEED = 20261201
POSITIVE, NEGATIVE = 40, 200  # bodies per operation and media type


@dataclass(frozen=True)
class BodyOperation:
    document: str
    operation_id: str
    media_type: str
    schema: dict  # what the server's validator validates against (Connexion's resolved schema)
    compiled: CompiledSchema

    def __str__(self) -> str:
        return f"{self.document} {self.operation_id} {self.media_type}"


def body_operations() -> Iterator[BodyOperation]:
    """Every (operation, JSON media type) of the served documents, with the validator the app would build."""
    resolver = Resolver(function_resolver=lambda _operation_id: lambda: None)
    for document in {d.name: d for api in SERVED for d in api.documents}.values():
        loaded = load_document(document)
        spec = Specification.load(loaded.content)
        body_validators = validator_map(32, 1000, 10_000)["body"]
        for path, methods in spec["paths"].items():
            for method in methods:
                if method not in ("post", "put", "patch"):
                    continue
                operation = spec.operation_cls.from_spec(spec, path=path, method=method, resolver=resolver)
                for media_type in operation.consumes:
                    schema = operation.body_schema(media_type)
                    if not schema or media_type not in body_validators:
                        continue
                    validator = body_validators[media_type](
                        schema=schema, encoding="utf-8", strict_validation=False
                    )
                    yield BodyOperation(
                        document.name,
                        operation.operation_id,
                        media_type,
                        validator._schema,
                        validator.schemas(validator._schema),
                    )


OPERATIONS = list(body_operations())


def _branches(schema: dict) -> dict:
    """allOf flattened into one object schema (properties and required of every branch)."""
    merged: dict[str, Any] = {"properties": {}, "required": []}
    for part in [schema, *schema.get("allOf", [])]:
        inner = _branches(part) if part is not schema and "allOf" in part else part
        merged["properties"].update(inner.get("properties", {}))
        merged["required"] += list(inner.get("required", []))
        for keyword in ("type", "enum", "format", "items", "anyOf", "oneOf"):
            if keyword in inner and keyword not in merged:
                merged[keyword] = inner[keyword]
    return merged


def generate(schema: Any, rng: random.Random, depth: int = 0) -> Any:
    """A value of `schema` (mostly valid: oneOf and patterns are not tracked), smaller with depth."""
    if not isinstance(schema, dict):
        return {}
    schema = _branches(schema) if "allOf" in schema else schema
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema and "properties" not in schema:
            return generate(rng.choice(schema[keyword]), rng, depth)
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type") or ("object" if "properties" in schema else rng.choice(["string", "integer"]))
    if kind == "object":
        chance = 0.5 if depth < 2 else 0.15 if depth < 4 else 0.0
        properties = schema.get("properties", {})
        names = [n for n in properties if n in schema.get("required", []) or rng.random() < chance]
        value = {name: generate(properties[name], rng, depth + 1) for name in names}
        for name in schema.get("required", []):
            value.setdefault(name, "x")
        return value
    if kind == "array":
        count = rng.choice([0, 1, 1, 2]) if depth < 4 else 0
        return [generate(schema.get("items", {}), rng, depth + 1) for _ in range(count)]
    if kind == "integer":
        return rng.choice([0, 1, 7, -3, 2**31])
    if kind == "number":
        return rng.choice([0, 1.5, -2, 1e20, 3.0])
    if kind == "boolean":
        return rng.random() < 0.5
    fmt = schema.get("format")
    if fmt == "date-time":
        return rng.choice(["2026-12-01T10:00:00Z", "2026-12-01T10:00:00.123+02:00", "2020-02-29T23:59:59Z"])
    if fmt == "uri":
        return rng.choice(["https://example.com/x", "urn:tmf:1", "http://[::1]:8080/a?b=c"])
    return rng.choice(["a", "1", "", "é €", "2026-12-01"])


# What a negative body puts in one place: each is refused somewhere by jsonschema, and each probes a way the
# two validators could differ (a leap second, 1.0 as an integer, integers beyond 64 bits, null for nullable).
HOSTILE = [
    None,
    True,
    False,
    0,
    1.0,
    -1.5,
    2**64 + 1,
    -(2**70),
    "",
    "x",
    "2026-12-01T23:59:60Z",
    "2026-13-01T00:00:00Z",
    "2026-12-01",
    "2026-12-01t10:00:00z",
    "not a uri",
    "http://exa mple.com",
    "add",
    [],
    [None],
    {},
    {"@type": 5},
    {"id": None},
]


HOSTILE_STRINGS = [v for v in HOSTILE if isinstance(v, str)]


def _at(value: Any, path: tuple) -> Any:
    for part in path:
        value = value[part]
    return value


def _places(value: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(value, dict):
        for key, member in value.items():
            yield from _places(member, (*path, key))
    elif isinstance(value, list):
        for index, member in enumerate(value):
            yield from _places(member, (*path, index))


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = new
    return copy


def _without(value: Any, path: tuple) -> Any:
    copy = json.loads(json.dumps(value))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return copy


def corpus(operation: BodyOperation) -> list[Any]:
    rng = random.Random(f"{SEED} {operation}")
    positives = [generate(operation.schema, rng) for _ in range(POSITIVE)]
    negatives = []
    for index in range(NEGATIVE):
        base = positives[index % POSITIVE]
        places = list(_places(base))
        strings = [p for p in places if isinstance(_at(base, p), str)]
        if strings and rng.random() < 0.5:  # a string in a place with a format, an enum or none
            negatives.append(_replaced(base, rng.choice(strings), rng.choice(HOSTILE_STRINGS)))
            continue
        path = rng.choice(places)
        if path and rng.random() < 0.2:
            negatives.append(_without(base, path))
        else:
            negatives.append(_replaced(base, path, rng.choice(HOSTILE)))
    return positives + negatives


def disagreements(compiled: Any, operation: BodyOperation, bodies: list[Any]) -> list[str]:
    """Bodies the server could take (its parser's limits) on which `compiled` and jsonschema differ."""
    found = []
    for body in bodies:
        if _limit_violation(body, 32, 1000, 10_000):
            continue  # refused before any schema
        try:
            fast = bool(compiled.is_valid(body))
        except Exception:  # e.g. an integer beyond 64 bits: the server asks jsonschema (surely_valid)
            fast = None
        reference = operation.compiled.reference.is_valid(body)
        if fast is not None and fast != reference:
            found.append(f"compiled {fast}, jsonschema {reference}: {json.dumps(body)}")
    return found


def test_every_body_operation_is_compiled() -> None:
    """Every body schema of the served documents gets the fast path (none falls back to jsonschema alone)."""
    assert len(OPERATIONS) >= 30
    assert {o.document for o in OPERATIONS} == {"TMF652", "TMF663", "TMF663-v5"}
    assert [str(o) for o in OPERATIONS if o.compiled.compiled is None] == []


@pytest.mark.parametrize("operation", OPERATIONS, ids=str)
def test_compiled_and_jsonschema_agree(operation: BodyOperation) -> None:
    bodies = corpus(operation)
    decisions = {operation.compiled.reference.is_valid(b) for b in bodies}
    assert decisions == {True, False}, "the corpus must hold both accepted and refused bodies"
    assert disagreements(operation.compiled.compiled, operation, bodies) == []
    # and the server's decision (fast path, else jsonschema) is jsonschema's
    for body in bodies:
        if operation.compiled.surely_valid(body):
            assert operation.compiled.reference.is_valid(body), json.dumps(body)[:200]


def _operation(document: str, operation_id: str, media_type: str = "application/json") -> BodyOperation:
    return next(
        o
        for o in OPERATIONS
        if (o.document, o.operation_id, o.media_type) == (document, operation_id, media_type)
    )


@pytest.mark.parametrize(
    "operation",
    [_operation("TMF652", "createResourceOrder"), _operation("TMF652", "createCancelResourceOrder")],
    ids=str,
)
def test_the_comparison_catches_a_compiled_validator_without_jsonschemas_formats(operation) -> None:
    """jsonschema_rs' own date-time takes a leap second jsonschema refuses: the corpus finds it."""
    own_formats = jsonschema_rs.Draft4Validator(json.dumps(acyclic(operation.schema)), validate_formats=True)
    assert any("23:59:60" in d for d in disagreements(own_formats, operation, corpus(operation)))


def test_the_comparison_catches_a_compiled_validator_that_takes_everything() -> None:
    class TakesEverything:
        @staticmethod
        def is_valid(_body: Any) -> bool:
            return True

    operation = _operation("TMF663-v5", "createShoppingCart")
    assert disagreements(TakesEverything(), operation, corpus(operation))


# --- Schemathesis' bodies (Hypothesis; `slow` in tests/conftest.py) ------------------------------------------


def _schemathesis_bodies(document: str) -> Iterator[tuple[str, str, Any]]:
    schema = schemathesis.openapi.from_dict(load_document(_document(document)).content)
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.body:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            found: list[tuple[str, str, Any]] = []
            operation_id = operation.definition.raw.get("operationId", "")

            @hypothesis.settings(
                max_examples=3,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(operation.as_strategy(generation_mode=mode))
            def collect(case) -> None:
                found.append((operation_id, case.media_type, case.body))  # noqa: B023  (run at once)

            collect()
            yield from found


def _document(name: str):
    return next(d for api in SERVED for d in api.documents if d.name == name)


@pytest.mark.parametrize("document", ["TMF652", "TMF663", "TMF663-v5"])
def test_schemathesis_bodies_get_the_same_decision(document: str) -> None:
    by_operation = {(o.operation_id, o.media_type): o for o in OPERATIONS if o.document == document}
    compared = 0
    for operation_id, media_type, body in _schemathesis_bodies(document):
        operation = by_operation.get((operation_id, media_type))
        if operation is None:
            continue
        if isinstance(body, bytes | str):
            try:
                body = json.loads(body)
            except ValueError:
                continue  # not JSON: refused by the parser, before any schema
        assert disagreements(operation.compiled.compiled, operation, [body]) == []
        compared += 1
    assert compared > 0
