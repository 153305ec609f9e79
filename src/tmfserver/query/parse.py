"""TMF630 query string → a `Query` value (conditions, fields, sort, paging). Pure: no SQL here.

Grammar of a filter parameter name: a dotted path, optionally ending in `.<op>` with op one of
eq, ne, gt, gte, lt, lte, regex; any other last segment is part of the path. The TMF630 operator forms
`attr>=v`, `attr<=v`, `attr>v`, `attr<v` and `attr!=v` are accepted too. `attr=v1,v2` means OR; several
conditions mean AND.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import re2

from ..client_messages import quoted
from .values import canonical_instant, parse_number, strip_quotes

OPERATORS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "regex"})
ORDERING = frozenset({"gt", "gte", "lt", "lte"})
MAX_PATH_SEGMENTS = 12
_SYMBOLIC = (("!", "ne"), (">", "gte"), ("<", "lte"))
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a client's bad pattern is a 400, not a server log line


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str) -> re2._Regexp:
    """A `.regex` filter's pattern compiled with RE2 (linear time); re2.error when it is invalid. Used for
    validation here, by SQLite's REGEXP (store/db.py) and by hub filters on events (match.py)."""
    return re2.compile(pattern, options=_RE2_OPTIONS)


class QueryError(ValueError):
    """A malformed query: answered with 400."""


Path = tuple[str, ...]


@dataclass(frozen=True)
class Condition:
    path: Path
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Query:
    conditions: tuple[Condition, ...] = ()
    fields: tuple[Path, ...] | None = None  # None: every attribute
    sort: tuple[tuple[Path, bool], ...] = ()  # (path, descending)
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True)
class QueryLimits:
    default_limit: int = 100
    max_limit: int = 1000
    max_conditions: int = 20
    max_regex_length: int = 200


# The regex dialect accepted is what RE2 (SQLite, via db._regexp) and PostgreSQL's `~` both understand the
# same way: no named groups, inline flags only as a leading `(?i)`, no `\b` `\Q` `\p` `\z` `\x`... escapes
# (PostgreSQL rejects or reads them differently), repetition counts up to PostgreSQL's 255.
_PORTABLE_ESCAPES = frozenset("dDsSwWntrfvA")
_REPETITION = re.compile(r"\{(\d+)(?:,(\d*))?\}")
MAX_REGEX_REPEAT = 255


def _unportable_regex(pattern: str) -> str | None:
    """Why `pattern` would not behave the same on every backend, or None."""
    in_class = after_anchor = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        repeats_anchor, after_anchor = after_anchor, False
        if char == "\\":
            escaped = pattern[index + 1 : index + 2]
            if escaped.isalnum() and escaped not in _PORTABLE_ESCAPES:
                return f"the escape \\{escaped} is not supported"
            index += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif char == "[" and pattern[index + 1 : index + 2] == ":":  # [[:alpha:]]
                end = pattern.find(":]", index + 2)
                index = end + 2 if end >= 0 else index + 1
                continue
        elif char == "[":
            in_class = True
            if pattern[index + 1 : index + 2] == "^":
                index += 1
            if pattern[index + 1 : index + 2] == "]":  # a leading ']' is literal
                index += 1
        elif char == "(" and pattern[index + 1 : index + 2] == "?":
            leading_ignorecase = index == 0 and pattern.startswith("(?i)")
            if pattern[index + 2 : index + 3] != ":" and not leading_ignorecase:
                return "only (?:...) groups and a leading (?i) are supported"
        elif char in "*+?{" and repeats_anchor:
            return "an anchor cannot be repeated"
        elif char in "^$":
            after_anchor = True
        elif char == "{":
            repetition = _REPETITION.match(pattern, index)
            if not repetition:
                return "a literal '{' must be escaped as \\{"
            if any(int(n) > MAX_REGEX_REPEAT for n in repetition.groups() if n):
                return f"repetition counts above {MAX_REGEX_REPEAT} are not supported"
        index += 1
    return None


def split_path(name: str) -> Path:
    segments = tuple(name.split("."))
    if any(not s for s in segments):
        raise QueryError(f"'{quoted(name)}' is not a valid attribute path (empty segment)")
    if len(segments) > MAX_PATH_SEGMENTS:
        raise QueryError(f"'{quoted(name)}' is nested deeper than {MAX_PATH_SEGMENTS} levels")
    return segments


def parse_condition(name: str, raw_value: str, limits: QueryLimits) -> Condition:
    op = "eq"
    for symbol, symbolic_op in _SYMBOLIC:
        if name.endswith(symbol):  # attr!=v, attr>=v, attr<=v arrive as name 'attr!' / 'attr>' / 'attr<'
            name, op = name[:-1], symbolic_op
            break
    else:
        if raw_value == "" and (">" in name or "<" in name):  # attr>v / attr<v (no '=' at all)
            symbol = ">" if ">" in name else "<"
            name, _, raw_value = name.partition(symbol)
            op = "gt" if symbol == ">" else "lt"
    path = split_path(name)
    if op == "eq" and len(path) > 1 and path[-1] in OPERATORS:
        path, op = path[:-1], path[-1]
    if op == "regex":
        values = (strip_quotes(raw_value),)
        pattern = values[0]
        if len(pattern) > limits.max_regex_length:
            raise QueryError(f"regex for '{quoted(name)}' is longer than {limits.max_regex_length} characters")
        try:
            compile_regex(pattern)
        except re2.error as exc:
            reason = exc.args[0] if exc.args else "refused by RE2"
            if isinstance(reason, bytes):  # google-re2 reports in bytes
                reason = reason.decode("utf-8", "replace")
            raise QueryError(f"'{quoted(pattern)}' is not a valid regular expression: {reason}") from None
        problem = _unportable_regex(pattern)
        if problem:
            raise QueryError(f"'{quoted(pattern)}' is not a supported regular expression: {problem}")
        return Condition(path, op, values)
    values = tuple(strip_quotes(v) for v in raw_value.split(","))
    if op in ORDERING:
        for value in values:
            if parse_number(value) is None and canonical_instant(value) is None:
                where = quoted(".".join(path))
                raise QueryError(f"'{where}.{op}' needs a number or a date-time, not '{quoted(value)}'")
    return Condition(path, op, values)


# `offset` and `limit` are integers from 0 to MAX_PAGING_VALUE = 2^31 - 1 (a larger `limit` is then clamped to
# TMF_MAX_LIMIT). Why this bound: every backend and driver takes it as a plain 32-bit integer (PostgreSQL's
# OFFSET is bigint and refuses more than 2^63 - 1, SQLite's driver overflows beyond 64 bits), it is far beyond
# any collection this server pages through (an offset past the end costs no more than the end: an empty page),
# and `offset + limit` in the Link header arithmetic stays far from any limit.
MAX_PAGING_VALUE = 2**31 - 1


def _paging_int(name: str, value: str) -> int:
    """ASCII digits only: int() would also take '+5', ' 5', '1_000' and other scripts' digits."""
    if value.startswith("-") and value[1:].isascii() and value[1:].isdigit():
        raise QueryError(f"query parameter '{name}' must not be negative")
    if not (value.isascii() and value.isdigit()):
        raise QueryError(f"query parameter '{name}' must be an integer")
    digits = value.lstrip("0")
    if len(digits) > len(str(MAX_PAGING_VALUE)) or int(digits or "0") > MAX_PAGING_VALUE:
        raise QueryError(f"query parameter '{name}' must be at most {MAX_PAGING_VALUE}")
    return int(digits or "0")


def parse_query(pairs: Iterable[tuple[str, str]], limits: QueryLimits | None = None) -> Query:
    limits = limits or QueryLimits()
    conditions: list[Condition] = []
    fields: tuple[Path, ...] | None = None
    sort: tuple[tuple[Path, bool], ...] = ()
    offset, limit = 0, limits.default_limit
    for name, value in pairs:
        if "\x00" in name or "\x00" in value:
            # No stored text can contain NUL (PostgreSQL refuses it in any text parameter).
            raise QueryError(f"query parameter '{quoted(name)}' contains a NUL character")
        if name == "fields":
            names = [f.strip() for f in value.split(",") if f.strip()]
            fields = () if names == ["none"] else tuple(split_path(n) for n in names)
        elif name == "sort":
            keys = []
            for key in (k.strip() for k in value.split(",")):
                if not key:
                    continue
                descending = key.startswith("-")
                keys.append((split_path(key.lstrip("+-")), descending))
            sort = tuple(keys)
        elif name == "offset":
            offset = _paging_int(name, value)
        elif name == "limit":
            # Over the maximum is clamped (documented), not refused: a client asking for "all" gets a page.
            limit = min(_paging_int(name, value), limits.max_limit)
        else:
            conditions.append(parse_condition(name, value, limits))
    if len(conditions) > limits.max_conditions:
        raise QueryError(f"at most {limits.max_conditions} filter conditions are allowed")
    return Query(tuple(conditions), fields, sort, offset, limit)
