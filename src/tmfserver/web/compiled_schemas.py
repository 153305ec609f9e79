"""Request body schemas compiled once (jsonschema_rs), answering only "valid" where jsonschema would.

Connexion builds a jsonschema validator for every request; validating a ResourceOrder with it costs ~60-180
µs, with a compiled validator about one. The compiled validator is only a fast path: when it says valid the
body is valid, otherwise the reference validator (jsonschema, the one that always decided) decides and words
the refusal. So refusals and their messages are jsonschema's by construction, and the decision is
jsonschema's as long as the compiled validator never accepts what jsonschema refuses; `CompiledSchema`
compiles only a copy in which every keyword means the same to both, and no copy at all otherwise:

- every keyword jsonschema's Draft 4 acts on must be one of `SAME_MEANING` (a `pattern`, `uniqueItems`,
  numeric bound, … leaves the schema to jsonschema alone);
- every format the schema names is checked by jsonschema's own format checker (a Python callback from the
  compiled validator), and a format jsonschema does not check is not checked: jsonschema_rs' `date-time`
  takes a leap second jsonschema refuses, for one;
- Connexion's `nullable` / `x-nullable` (null passes `type` and `enum`) is written into the copy as a
  `"null"` type and a `null` enum member, which is the same rule;
- a value the compiled validator cannot take (an integer beyond 64 bits) or any error inside it means "ask
  jsonschema".

Connexion hands validators its resolved schema, where a recursive definition is a cycle of Python dicts; the
compiled validator gets an acyclic copy with `$ref`s (`acyclic`) instead.
"""

# Why: docs/decisions/0042-compiled-body-validation.md

from __future__ import annotations

import json
import typing as t

import jsonschema_rs
from connexion.json_schema import Draft4RequestValidator
from jsonschema import Draft4Validator

# Draft 4 keywords whose meaning jsonschema_rs shares with jsonschema for the JSON values a body can hold
# (after web/validation.py's limits: no NaN, no integer beyond a float, no unpaired surrogate).
SAME_MEANING = frozenset(
    {
        "type",
        "properties",
        "additionalProperties",
        "required",
        "items",
        "enum",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "format",
    }
)
_DRAFT4_KEYWORDS = frozenset(Draft4RequestValidator.VALIDATORS)  # `$ref` included: Connexion resolved them
_SCHEMA = "schema"  # a position holding one schema
_SCHEMAS = "list"  # a list of schemas
_SCHEMA_MAP = "map"  # an object whose values are schemas
_SUBSCHEMAS = {
    "additionalProperties": _SCHEMA,  # or a boolean
    "not": _SCHEMA,
    "items": _SCHEMA,  # or a list of schemas
    "allOf": _SCHEMAS,
    "anyOf": _SCHEMAS,
    "oneOf": _SCHEMAS,
    "properties": _SCHEMA_MAP,
}
# What Connexion adds beside the body schema (the document's definitions, their $refs already resolved).
_ADDED_BY_CONNEXION = ("definitions", "components")


class Unsupported(ValueError):
    """A schema the compiled validator cannot be trusted with: jsonschema alone validates it."""


def _nullable(node: dict) -> bool:
    """Connexion's test (connexion.json_schema.allow_nullable)."""
    return node.get("x-nullable") is True or bool(node.get("nullable"))


def acyclic(schema: dict, formats: set[str] | None = None) -> dict:
    """The same schema as JSON-able data for a plain Draft 4 validator: every schema object reached a second
    time (a recursion, or a definition used twice) is a `$ref` into `definitions`, so the result is finite and
    linear in size; Connexion's nullable is spelled in Draft 4. The format names met are added to `formats`.

    Raises `Unsupported` for a Draft 4 keyword outside `SAME_MEANING`."""
    formats = set() if formats is None else formats
    names: dict[int, str] = {}
    done: dict[str, t.Any] = {}
    referenced: set[str] = set()

    def subschema(node: t.Any) -> t.Any:
        if not isinstance(node, dict):
            return node  # a boolean `additionalProperties`
        key = id(node)
        if key == id(schema):
            return {"$ref": "#"}
        if key in names:  # seen before: on the path (a recursion) or converted already
            referenced.add(names[key])
            return {"$ref": f"#/definitions/{names[key]}"}
        names[key] = f"s{len(names)}"
        converted = keywords(node)
        done[names[key]] = converted
        return converted

    def keywords(node: dict) -> dict:
        out: dict[str, t.Any] = {}
        for keyword, value in node.items():
            if keyword not in SAME_MEANING:
                if keyword in _DRAFT4_KEYWORDS:
                    raise Unsupported(f"keyword {keyword!r}")
                continue  # jsonschema ignores it (description, example, discriminator, definitions, x-…)
            kind = _SUBSCHEMAS.get(keyword)
            if kind == _SCHEMA and isinstance(value, list):
                kind = _SCHEMAS  # `items` as a list
            if kind == _SCHEMA:
                out[keyword] = subschema(value)
            elif kind == _SCHEMAS:
                out[keyword] = [subschema(v) for v in value]
            elif kind == _SCHEMA_MAP:
                out[keyword] = {k: subschema(v) for k, v in value.items()}
            else:
                out[keyword] = value  # data: enum, required, type, format, a bound
            if keyword == "format" and isinstance(value, str):
                formats.add(value)
        if _nullable(node):
            if "type" in out:
                types = [out["type"]] if isinstance(out["type"], str) else list(out["type"])
                out["type"] = types if "null" in types else [*types, "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
        return out

    root = keywords({k: v for k, v in schema.items() if k not in _ADDED_BY_CONNEXION})
    if referenced:
        root["definitions"] = {name: done[name] for name in sorted(referenced, key=lambda n: int(n[1:]))}
    return root


def _format_callbacks(names: set[str]) -> dict[str, t.Callable[[str], bool]]:
    """jsonschema's decision for each format: its checker, or "any value" for a format it does not check."""
    checker = Draft4Validator.FORMAT_CHECKER

    def callback(name: str) -> t.Callable[[str], bool]:
        if name not in checker.checkers:
            return lambda _value: True
        return lambda value: checker.conforms(value, name)

    return {name: callback(name) for name in names}


class CompiledSchema:
    """One body schema: the compiled fast path (None when the schema is not supported) and the reference
    validator Connexion would build for each request."""

    def __init__(self, schema: dict) -> None:
        self.schema = schema  # held, so that its id() stays this schema's key
        self.reference = Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        self.unsupported: str | None = None
        self.compiled: t.Any = None
        try:
            formats: set[str] = set()
            text = json.dumps(acyclic(schema, formats))  # json refuses a cycle: the compiled one is finite
            self.compiled = jsonschema_rs.Draft4Validator(
                text, formats=_format_callbacks(formats), validate_formats=True, ignore_unknown_formats=True
            )
        except (Unsupported, ValueError, TypeError, RecursionError) as exc:
            self.unsupported = str(exc)[:200] or type(exc).__name__

    def surely_valid(self, body: t.Any) -> bool:
        """True only when jsonschema would take `body` too; False means "ask the reference validator"."""
        if self.compiled is None:
            return False
        try:
            return bool(self.compiled.is_valid(body))
        except Exception:  # e.g. an integer beyond 64 bits: the reference validator decides
            return False


class CompiledSchemas:
    """The `CompiledSchema` of each schema object, built on its first request: Connexion passes the same
    object for every request of one operation and media type. One per API (web/validation.validator_map),
    so that it goes with its app; each entry holds its schema, so an id() is never reused while cached."""

    def __init__(self) -> None:
        self._by_id: dict[int, CompiledSchema] = {}

    def __call__(self, schema: dict) -> CompiledSchema:
        found = self._by_id.get(id(schema))
        if found is None or found.schema is not schema:
            found = self._by_id[id(schema)] = CompiledSchema(schema)
        return found
