"""`fields` selection applied to a resource document (only to the page being returned)."""

from __future__ import annotations

from typing import Any

from .parse import Path

ALWAYS_KEPT = ("id", "href", "@type")


def _select(value: Any, path: Path) -> Any:
    """The part of `value` reached by `path`, keeping the path's shape; `_MISSING` when absent."""
    if isinstance(value, list):
        picked = [_select(element, path) for element in value]
        return [p for p in picked if p is not _MISSING]
    if not isinstance(value, dict) or path[0] not in value:
        return _MISSING
    if len(path) == 1:
        return {path[0]: value[path[0]]}
    inner = _select(value[path[0]], path[1:])
    return _MISSING if inner is _MISSING else {path[0]: inner}


def _merge(into: dict, part: dict) -> None:
    for key, value in part.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, dict):
            _merge(into[key], value)
        elif key in into and isinstance(into[key], list) and isinstance(value, list):
            # Lists selected from the same source list line up element by element.
            for mine, theirs in zip(into[key], value, strict=False):
                if isinstance(mine, dict) and isinstance(theirs, dict):
                    _merge(mine, theirs)
        else:
            into[key] = value


_MISSING = object()


def project(document: dict, fields: tuple[Path, ...] | None) -> dict:
    if fields is None:
        return document
    result: dict = {key: document[key] for key in ALWAYS_KEPT if key in document}
    for path in fields:
        part = _select(document, path)
        if part is not _MISSING:
            _merge(result, part)
    return result
