"""web/compiled_schemas.py on small schemas: the compiled validator decides as jsonschema (Connexion's
request validator) does, or does not exist. On the served documents' bodies:
tests/integration/test_validation_differential.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tmfserver.web.compiled_schemas import CompiledSchema, CompiledSchemas, acyclic


def assert_same_decisions(schema: dict, bodies: list[Any]) -> CompiledSchema:
    compiled = CompiledSchema(schema)
    assert compiled.compiled is not None, compiled.unsupported
    for body in bodies:
        expected = compiled.reference.is_valid(body)
        assert compiled.compiled.is_valid(body) == expected, json.dumps(body)
        assert compiled.surely_valid(body) == expected, json.dumps(body)
    return compiled


def test_connexions_nullable_is_the_same_rule_even_under_not_and_one_of() -> None:
    """Connexion lets null pass `type` and `enum` where a schema says nullable; inside `not` or `oneOf` a
    compiled validator that did not know would take what jsonschema refuses."""
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "nullable": True},
            "b": {"not": {"type": "string", "x-nullable": True}},
            "c": {"oneOf": [{"type": "integer", "nullable": True}, {"enum": ["x"], "nullable": True}]},
            "d": {"enum": ["on", "off"], "x-nullable": True},
            "e": {"type": ["string", "integer"], "nullable": True},
            "f": {"type": "string", "x-nullable": "yes"},  # Connexion: only `x-nullable: true` counts
        },
    }
    bodies = [{k: v} for k in "abcdef" for v in (None, "s", 1, "x", "on", [])]
    assert_same_decisions(schema, bodies)


def test_formats_are_jsonschemas() -> None:
    schema = {
        "type": "object",
        "properties": {
            "when": {"type": "string", "format": "date-time"},
            "where": {"format": "uri"},
            "id": {"format": "uuid"},  # not checked by jsonschema's Draft 4 checker: not checked at all
            "n": {"format": "int32"},
        },
    }
    values = ["2026-12-01T23:59:60Z", "2026-12-01T10:00:00Z", "2026-12-01", "http://x", "not a uri", "urn:a", 5]
    bodies = [{k: v} for k in ("when", "where", "id", "n") for v in values]
    compiled = assert_same_decisions(schema, bodies)
    assert not compiled.surely_valid({"when": "2026-12-01T23:59:60Z"})  # jsonschema_rs alone takes it


def test_a_recursive_schema_is_compiled_from_an_acyclic_copy() -> None:
    """Connexion resolves $refs in place: a recursive definition is a cycle of dicts, through `properties`."""
    item: dict = {"type": "object", "required": ["id"], "description": "an item"}
    item["properties"] = {"id": {"type": "string"}, "sub": {"type": "array", "items": item}}
    schema = {"type": "object", "properties": {"item": item, "again": item}, "definitions": {"Item": item}}
    copy = acyclic(schema)
    json.dumps(copy)  # finite
    assert "description" not in json.dumps(copy)  # annotations are left out
    nested = {"id": "1", "sub": [{"id": "2", "sub": [{"id": "3"}]}]}
    broken = {"id": "1", "sub": [{"id": "2", "sub": [{"sub": []}]}]}
    assert_same_decisions(schema, [{"item": nested}, {"item": broken}, {"again": broken}, {"again": 5}])


@pytest.mark.parametrize(
    "keyword",
    [
        {"pattern": "^a"},
        {"uniqueItems": True},
        {"minimum": 1},
        {"multipleOf": 2},
        {"maxLength": 3},
        {"minItems": 1},
    ],
    ids=lambda k: next(iter(k)),
)
def test_a_keyword_whose_meaning_may_differ_leaves_the_schema_to_jsonschema(keyword: dict) -> None:
    compiled = CompiledSchema({"type": "object", "properties": {"x": keyword}})
    assert compiled.compiled is None
    assert next(iter(keyword)) in (compiled.unsupported or "")
    assert not compiled.surely_valid({"x": "a"})  # so jsonschema decides every body


def test_integers_beyond_64_bits_are_left_to_jsonschema() -> None:
    compiled = CompiledSchema({"type": "object", "properties": {"n": {"type": "number"}}})
    assert compiled.compiled is not None
    assert compiled.surely_valid({"n": 2**63 - 1})
    huge = {"n": 10**300}
    assert compiled.reference.is_valid(huge)
    compiled.surely_valid(huge)  # no exception; jsonschema decides if it says False


def test_one_compiled_schema_per_schema_object() -> None:
    schemas = CompiledSchemas()
    schema = {"type": "object"}
    assert schemas(schema) is schemas(schema)
    assert schemas({"type": "object"}) is not schemas(schema)
