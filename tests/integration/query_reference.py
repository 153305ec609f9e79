"""Test-only reference for TMF630 filtering and sorting: plain Python over the documents themselves.

Written from the semantics in the issue, not from src/tmfserver/query or store/search.py, so that the SQL
engine can be checked against it:

- `a.b.c` walks objects; arrays on the way (at any depth, arrays of arrays too) are walked element by
  element, so a path matches a resource when ANY value reached by it matches;
- only scalars reached by the full path count (`priority.foo` on a number reaches nothing);
- booleans compare as booleans (`true`/`false`), numbers as numbers, date-times as instants (any offset,
  none means UTC, a bare date is midnight UTC), other strings exactly; a string that is a date-time also
  equals its own exact spelling;
- `v1,v2` means any of them; `ne` means no reached value equals any of them (absent attribute included);
- ordering operators compare numbers with numbers and date-times with date-times, nothing else;
- `regex` searches strings (and booleans spelled `true`/`false`) with RE2 (linear time);
- sort: per key, numbers before date-times (as instants) before other text (booleans are text), ascending
  by the smallest value / descending by the largest, resources without a value last either way; ties
  newest first.

Also the helpers the query tests share (a migrated engine's tables emptied, running a `Query`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import re2
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tmfserver.query.parse import Query
from tmfserver.store.models import RESOURCE_MODELS, ResourceMixin, SearchValue
from tmfserver.store.repository import DocumentRepository

OPS = ("eq", "ne", "gt", "gte", "lt", "lte", "regex")
_INSTANT = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)"
    r"(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?(?:([Zz])|([+-])(\d\d):?(\d\d))?)?"
)
_NUMERIC = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def instant(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    match = _INSTANT.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, _zulu, sign, off_h, off_m = match.groups()
    offset = timedelta(0)
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m)) * (1 if sign == "+" else -1)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=timezone(offset),
        ).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def number(text: str) -> float | None:
    return float(text) if _NUMERIC.fullmatch(text) and abs(float(text)) != float("inf") else None


def unquote(value: str) -> str:
    if len(value) > 1 and value[0] == value[-1] and value[0] in ("'", '"'):
        return value[1:-1]
    return value


def reached(node: Any, path: Sequence[str]) -> Iterator[Any]:
    """Every scalar reached by `path` (arrays walked element by element)."""
    if isinstance(node, list):
        for element in node:
            yield from reached(element, path)
    elif not path:
        if node is not None and not isinstance(node, dict):
            yield node
    elif isinstance(node, dict) and path[0] in node:
        yield from reached(node[path[0]], path[1:])


def _is_number(leaf: Any) -> bool:
    return isinstance(leaf, int | float) and not isinstance(leaf, bool)


def equals(leaf: Any, value: str) -> bool:
    if isinstance(leaf, bool):
        return value == ("true" if leaf else "false")
    if _is_number(leaf):
        wanted = number(value)
        return wanted is not None and float(leaf) == wanted
    if leaf == value:
        return True
    left, right = instant(leaf), instant(value)
    return left is not None and left == right


_COMPARE = {
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


def ordered(leaf: Any, op: str, value: str) -> bool:
    wanted = number(value)
    if wanted is not None:
        return _is_number(leaf) and _COMPARE[op](float(leaf), wanted)
    at = instant(leaf)
    return at is not None and _COMPARE[op](at, instant(value))


def searched(leaf: Any, pattern: str) -> bool:
    if isinstance(leaf, bool):
        leaf = "true" if leaf else "false"
    # RE2, not `re`: Python's backtracking engine would hang on the pathological patterns tested.
    return isinstance(leaf, str) and re2.search(pattern, leaf) is not None


def condition(name: str, raw: str) -> tuple[list[str], str, list[str]]:
    """(path, op, values) of one filter parameter, the TMF630 way."""
    op = "eq"
    if name.endswith("!"):
        name, op = name[:-1], "ne"
    elif name.endswith(">"):
        name, op = name[:-1], "gte"
    elif name.endswith("<"):
        name, op = name[:-1], "lte"
    elif raw == "" and (">" in name or "<" in name):
        symbol = ">" if ">" in name else "<"
        name, raw = name.split(symbol, 1)
        op = "gt" if symbol == ">" else "lt"
    path = name.split(".")
    if op == "eq" and len(path) > 1 and path[-1] in OPS:
        op = path.pop()
    values = [unquote(raw)] if op == "regex" else [unquote(v) for v in raw.split(",")]
    return path, op, values


def matches(document: dict, name: str, raw: str) -> bool:
    path, op, values = condition(name, raw)
    leaves = list(reached(document, path))
    if op == "ne":
        return not any(equals(leaf, v) for leaf in leaves for v in values)
    if op == "eq":
        return any(equals(leaf, v) for leaf in leaves for v in values)
    if op == "regex":
        return any(searched(leaf, values[0]) for leaf in leaves)
    return any(ordered(leaf, op, v) for leaf in leaves for v in values)


def filter_ids(documents: Sequence[dict], pairs: Iterable[tuple[str, str]]) -> set[str]:
    """Ids of the documents matching every filter parameter in `pairs`."""
    pairs = list(pairs)
    return {d["id"] for d in documents if all(matches(d, name, raw) for name, raw in pairs)}


def _sort_key(document: dict, path: Sequence[str], descending: bool) -> list[tuple[int, Any]]:
    leaves = list(reached(document, path))
    numbers = [float(v) for v in leaves if _is_number(v)]
    instants = [t for t in (instant(v) for v in leaves) if t is not None]
    texts = [
        ("true" if v else "false") if isinstance(v, bool) else v
        for v in leaves
        if not _is_number(v) and instant(v) is None
    ]
    pick = max if descending else min
    return [(0, pick(group)) if group else (1, None) for group in (numbers, instants, texts)]


def sorted_ids(documents: Sequence[dict], sort: Sequence[tuple[str, bool]]) -> list[str]:
    """Ids in the order `sort` ((dotted path, descending) pairs) asks for; `documents` in insertion order."""
    keyed = [
        (position, [_sort_key(d, key.split("."), desc) for key, desc in sort], d["id"])
        for position, d in enumerate(documents)
    ]

    def compare(a: tuple, b: tuple) -> int:
        for (key_a, key_b), (_path, descending) in zip(zip(a[1], b[1], strict=True), sort, strict=True):
            for (missing_a, value_a), (missing_b, value_b) in zip(key_a, key_b, strict=True):
                if missing_a != missing_b:
                    return missing_a - missing_b  # present before missing, in both directions
                if missing_a or value_a == value_b:
                    continue
                smaller = -1 if value_a < value_b else 1
                return -smaller if descending else smaller
        return b[0] - a[0]  # newest first

    return [item[2] for item in sorted(keyed, key=functools.cmp_to_key(compare))]


# --- shared helpers of the query tests --------------------------------------------------------------


def empty_resource_tables(session: Session) -> None:
    session.query(SearchValue).delete()
    for model in RESOURCE_MODELS:
        session.query(model).delete()


def load(session: Session, model: type[ResourceMixin], documents: Sequence[dict]) -> None:
    """Store `documents` the production way (search_value and promoted columns filled)."""
    repository = DocumentRepository(session, model)
    for document in documents:
        repository.add(document)
    session.flush()


def run(session: Session, model: type[ResourceMixin], query: Query) -> tuple[list[str], int]:
    """(ids of the page in order, total count) as the repository computes them."""
    rows, total = DocumentRepository(session, model).page(query)
    return [row.id for row in rows], total


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
