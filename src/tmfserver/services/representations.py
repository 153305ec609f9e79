"""How an API shows a stored resource, and reads a written one back: one stored resource, exposed by several
APIs (TMF663 v4 and v5 on the same carts), each in the shape of its own document.

A `Representation` is plain functions over documents (the mapping itself lives in the domain, e.g.
domain/cart_versions.py); `AS_STORED` is the identity, for resources one API alone serves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..domain import events
from ..query.parse import Path


def _same(document: dict) -> dict:
    return document


def _taken(body: dict, _previous: dict | None) -> dict:
    return body


def _path(path: Path) -> Path:
    return path


@dataclass(frozen=True)
class Representation:
    name: str = "as stored"
    # stored document → what the API's clients see
    show: Callable[[dict], dict] = _same
    # what a client wrote (+ the stored document it replaces, None on create) → stored document
    take: Callable[[dict, dict | None], dict] = _taken
    # an attribute path in the API's names → where it is stored (TMF630 filters and sorts)
    stored_path: Callable[[Path], Path] = _path
    # (resource type, resource name, event kind, shown document, now, **extra) → event envelope
    envelope: Callable[..., dict[str, Any]] = field(default=events.envelope)


AS_STORED = Representation()
