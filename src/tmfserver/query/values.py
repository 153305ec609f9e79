"""How filter values and stored leaves are typed: date-times as instants, numbers as numbers."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime

# ISO 8601 / RFC 3339 date-time with a time part; a bare date is treated as midnight UTC.
_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$"
)
_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")


def strip_quotes(value: str) -> str:
    """TMF CTKs send `?orderDate="2021-…"`: one pair of surrounding quotes is not part of the value."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def canonical_instant(value: str) -> str | None:
    """UTC instant as a fixed-width, lexically sortable string, or None if `value` is no date-time.

    A date-time without an offset is taken as UTC.
    """
    if not isinstance(value, str) or not _DATETIME.match(value):
        return None
    text = value.replace("z", "Z").replace("t", "T")
    if "." in text:
        # Python accepts at most 6 fractional digits.
        head, _, tail = text.partition(".")
        digits = re.match(r"\d+", tail).group(0)
        text = f"{head}.{digits[:6]}{tail[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before datetime.min
        return None
    # Not strftime("%Y"): it does not zero-pad years before 1000 on every platform (fixed width matters).
    return f"{utc.year:04d}-" + utc.strftime("%m-%dT%H:%M:%S.%fZ")


def parse_number(value: str) -> float | None:
    if not _NUMBER.match(value):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
