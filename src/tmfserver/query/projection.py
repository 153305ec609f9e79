"""`fields` selection applied to a resource document (only to the page being returned)."""

from __future__ import annotations

from typing import Any

from .parse import Path

ALWAYS_KEPT = ("id", "href", "@type")


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


def project(document: dict, fields: tuple[Path, ...] | None) -> dict:
    if fields is None:
        return document
    result: dict = {key: document[key] for key in ALWAYS_KEPT if key in document}
    for path in fields:
        part = _select(document, path)
        if part is not _MISSING:
            _merge(result, part)
    return _drop_missing(result)
