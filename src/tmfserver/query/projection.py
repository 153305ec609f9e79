"""`fields` selection applied to a resource document (only to the page being returned)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .parse import Path

ALWAYS_KEPT = ("id", "href", "@type")


class RequiredKeys:
    """What the resource's schema requires at each level of a document, so a `fields` selection still
    conforms (e.g. `fields=relatedParty.name` keeps each party's required `id` and `@referredType`).

    Walks a Swagger 2 definition along a path on demand ($refs and array items followed; recursive
    definitions such as TMF663's CartItem are fine because only requested paths are walked)."""

    def __init__(self, definitions: dict, root: str) -> None:
        self._definitions = definitions
        self._root: dict = {"$ref": f"#/definitions/{root}"}  # only the name after the last / is used

    def _resolve(self, schema: dict | None) -> dict | None:
        while isinstance(schema, dict) and ("$ref" in schema or schema.get("type") == "array"):
            if "$ref" in schema:
                schema = self._definitions.get(schema["$ref"].rsplit("/", 1)[-1])
            else:
                schema = schema.get("items")
        return schema if isinstance(schema, dict) else None

    def _merged(self, schema: dict | None, depth: int = 0) -> tuple[dict, tuple[str, ...]]:
        """Properties and required names of a schema, `allOf` parts included (OpenAPI 3 documents compose
        their schemas: ShoppingCart = Entity + its own properties)."""
        schema = self._resolve(schema)
        if schema is None or depth > 16:
            return {}, ()
        properties: dict = {}
        required: list[str] = []
        for part in schema.get("allOf", ()):
            more, needed = self._merged(part, depth + 1)
            properties.update(more)
            required.extend(needed)
        properties.update(schema.get("properties", {}))
        required.extend(schema.get("required", ()))
        return properties, tuple(dict.fromkeys(required))

    @lru_cache(maxsize=1024)  # noqa: B019 - one instance per resource type for the app's lifetime
    def at(self, path: Path) -> tuple[str, ...]:
        schema: dict | None = self._root
        for segment in path:
            schema = self._merged(schema)[0].get(segment)
        return self._merged(schema)[1]

    def expand(self, fields: tuple[Path, ...]) -> tuple[Path, ...]:
        """`fields` plus the required attributes of every level each field passes through."""
        extra = [
            (*path[:depth], key)
            for path in fields
            for depth in range(len(path))
            for key in self.at(path[:depth])
        ]
        return (*fields, *dict.fromkeys(extra))


def _select(value: Any, path: Path) -> Any:
    """The part of `value` reached by `path`, keeping the path's shape; `_MISSING` when absent."""
    if isinstance(value, list):
        # Elements the path misses stay as `_MISSING` placeholders until `project` has merged every path,
        # so parts selected from the same list line up by position (see _merge, _drop_missing).
        return [_select(element, path) for element in value]
    if not isinstance(value, dict) or path[0] not in value:
        return _MISSING
    if len(path) == 1:
        return {path[0]: value[path[0]]}
    inner = _select(value[path[0]], path[1:])
    return _MISSING if inner is _MISSING else {path[0]: inner}


def _combine(mine: Any, theirs: Any) -> Any:
    """Two parts selected from the same source value, merged (lists line up element by element)."""
    if mine is _MISSING:
        return theirs
    if isinstance(mine, dict) and isinstance(theirs, dict):
        _merge(mine, theirs)
    elif isinstance(mine, list) and isinstance(theirs, list):
        # Placeholders keep both lists aligned with the source list (see _select).
        for index, value in enumerate(theirs):
            if index < len(mine):
                mine[index] = _combine(mine[index], value)
            else:
                mine.append(value)
    return mine


def _merge(into: dict, part: dict) -> None:
    for key, value in part.items():
        into[key] = _combine(into[key], value) if key in into else value


_MISSING = object()


def _drop_missing(value: Any) -> Any:
    if isinstance(value, list):
        return [_drop_missing(v) for v in value if v is not _MISSING]
    if isinstance(value, dict):
        return {k: _drop_missing(v) for k, v in value.items()}
    return value


# Why: docs/decisions/0037-fields-keeps-required-members.md
def project(document: dict, fields: tuple[Path, ...] | None, required: RequiredKeys | None = None) -> dict:
    if fields is None:
        return document
    if required is not None:
        fields = required.expand(fields) if fields else tuple((key,) for key in required.at(()))
    result: dict = {key: document[key] for key in ALWAYS_KEPT if key in document}
    for path in fields:
        part = _select(document, path)
        if part is not _MISSING:
            _merge(result, part)
    return _drop_missing(result)
