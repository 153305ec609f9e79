"""Evaluate a parsed TMF630 `Query`'s conditions against one in-memory document.

Hub subscriptions filter events with the same syntax, parser and value typing as listing; listing runs
the conditions in SQL (store/search.py), events are single documents already in memory, so they are
matched here with the same semantics: any element of an array matches, `.ne` means no value equals,
date-times compare as instants, numbers as numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .parse import Condition, Query, compile_regex
from .values import canonical_instant, parse_number


def _values_at(document: Any, path: tuple[str, ...]) -> Iterator[Any]:
    if isinstance(document, list):
        for element in document:
            yield from _values_at(element, path)
        return
    if not path:
        yield document
        return
    if isinstance(document, dict) and path[0] in document:
        yield from _values_at(document[path[0]], path[1:])


def _equals(stored: Any, wanted: str) -> bool:
    if isinstance(stored, bool):
        return wanted == ("true" if stored else "false")
    if isinstance(stored, int | float):
        number = parse_number(wanted)
        return number is not None and float(stored) == number
    if isinstance(stored, str):
        if stored == wanted:
            return True
        instant = canonical_instant(stored)
        return instant is not None and instant == canonical_instant(wanted)
    return False


def _orders(stored: Any, op: str, wanted: str) -> bool:
    number = parse_number(wanted)
    if number is not None:
        if isinstance(stored, bool) or not isinstance(stored, int | float):
            return False
        left, right = float(stored), number
    else:
        left, right = canonical_instant(stored) if isinstance(stored, str) else None, canonical_instant(wanted)
        if left is None or right is None:
            return False
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def _value_matches(stored: Any, condition: Condition) -> bool:
    if condition.op == "regex":
        return isinstance(stored, str) and compile_regex(condition.values[0]).search(stored)
    if condition.op in ("eq", "ne"):
        return any(_equals(stored, wanted) for wanted in condition.values)
    return any(_orders(stored, condition.op, wanted) for wanted in condition.values)


def condition_matches(document: dict, condition: Condition) -> bool:
    found = any(_value_matches(v, condition) for v in _values_at(document, condition.path))
    return not found if condition.op == "ne" else found


def matches(document: dict, query: Query) -> bool:
    return all(condition_matches(document, c) for c in query.conditions)
