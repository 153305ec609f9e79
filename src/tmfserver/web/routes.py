"""The operations of the served documents as one route table, built once at start-up.

It names the operation of a method and path (metrics and the access record of a request refused before
Connexion routed it) and the methods a path allows (`Allow` of a 405; Connexion's own header is wrong).
A path is matched like Connexion routes it: with or without one trailing slash.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from ..specdiff import base_path


@dataclass(frozen=True)
class Operation:
    operation_id: str
    path_template: str  # base path included: /tmf-api/resourceOrderingManagement/v4/resourceOrder/{id}


class Operations:
    """Every operation of the served documents, by (base path, operationId) and by (method, path)."""

    def __init__(self, documents: Iterable[dict]) -> None:
        self.by_id: dict[tuple[str, str], Operation] = {}
        # Per path template, in document order: its pattern and its operations by method.
        self.paths: list[tuple[re.Pattern[str], dict[str, Operation]]] = []
        for document in documents:
            base = base_path(document)
            for template, operations in document.get("paths", {}).items():
                by_method: dict[str, Operation] = {}
                for method, operation in operations.items():
                    if not isinstance(operation, dict) or "operationId" not in operation:
                        continue  # path-level `parameters`
                    found = Operation(operation["operationId"], base + template)
                    self.by_id[(base, found.operation_id)] = found
                    by_method[method.upper()] = found
                pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(base + template))
                self.paths.append((re.compile(f"^{pattern}/?$"), by_method))

    def routed(self, base_path: str, operation_id: str) -> Operation | None:
        return self.by_id.get((base_path.rstrip("/"), operation_id))

    def match(self, method: str, path: str) -> Operation | None:
        method = "GET" if method == "HEAD" else method
        for pattern, by_method in self.paths:
            if method in by_method and pattern.match(path):
                return by_method[method]
        return None

    @lru_cache(maxsize=1024)  # noqa: B019 - one instance per app, bounded
    def allowed(self, path: str) -> str | None:
        """The `Allow` header value for `path`, or None when no document has it."""
        for pattern, by_method in self.paths:
            if pattern.match(path):
                return ", ".join(sorted(by_method))
        return None
