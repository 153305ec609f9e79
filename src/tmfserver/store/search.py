"""TMF630 `Query` → SQL, the same statement on SQLite and PostgreSQL.

Filters on promoted columns use them directly; every other path goes through `search_value`, which holds
each leaf of each document (see models.SearchValue). Every value is a bound parameter.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, false, func, intersect, not_, or_, select

from ..query.parse import Condition, Path, Query
from ..query.values import canonical_instant, parse_number
from .models import ResourceMixin, SearchValue

# PostgreSQL b-tree entries are limited to ~2.7 kB: longer strings are indexed by their prefix, so an
# equality filter on a string longer than this compares the first MAX_INDEXED_TEXT characters.
MAX_INDEXED_TEXT = 1000


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def leaves(document: Any, prefix: str = "") -> Iterator[tuple[str, str | None, float | None, str | None]]:
    """(path, v_text, v_num, v_time) for every scalar in `document`; array indices are not in the path."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield from leaves(value, f"{prefix}.{key}" if prefix else key)
    elif isinstance(document, list):
        for element in document:
            yield from leaves(element, prefix)
    elif isinstance(document, bool):
        yield prefix, "true" if document else "false", None, None
    elif isinstance(document, int | float):
        yield prefix, None, _number(document), None
    elif isinstance(document, str):
        yield prefix, document[:MAX_INDEXED_TEXT], None, canonical_instant(document)


def index_rows(model: type[ResourceMixin], pk: int, document: dict) -> list[dict]:
    return [
        {
            "resource_type": model.resource_type,
            "resource_pk": pk,
            "path": path,
            "v_text": text,
            "v_num": number,
            "v_time": instant,
        }
        for path, text, number, instant in leaves(document)
    ]


def index_columns(document: dict) -> tuple[list[str], list[str | None], list[float | None], list[str | None]]:
    """The leaves of `document` column by column (paths, texts, numbers, instants), for an insert that takes
    one array per column."""
    found = list(leaves(document))
    return (
        [leaf[0] for leaf in found],
        [leaf[1] for leaf in found],
        [leaf[2] for leaf in found],
        [leaf[3] for leaf in found],
    )


def _typed(values: tuple[str, ...]) -> tuple[list[str], list[float], list[str]]:
    texts = [v[:MAX_INDEXED_TEXT] for v in values]
    numbers = [n for n in (parse_number(v) for v in values) if n is not None]
    instants = [t for t in (canonical_instant(v) for v in values) if t is not None]
    return texts, numbers, instants


def _comparison(column: Any, op: str, operand: Any) -> ColumnElement[bool]:
    return {
        "gt": column > operand,
        "gte": column >= operand,
        "lt": column < operand,
        "lte": column <= operand,
    }[op]


def _value_match(condition: Condition) -> ColumnElement[bool]:
    """The predicate on one search_value row for a positive operator (eq, ordering, regex)."""
    if condition.op == "regex":
        return SearchValue.v_text.regexp_match(condition.values[0])
    if condition.op == "eq" or condition.op == "ne":
        texts, numbers, instants = _typed(condition.values)
        options = [SearchValue.v_text.in_(texts)]
        if numbers:
            options.append(SearchValue.v_num.in_(numbers))
        if instants:
            options.append(SearchValue.v_time.in_(instants))
        return or_(*options)
    options = []
    for value in condition.values:
        number = parse_number(value)
        if number is not None:
            options.append(_comparison(SearchValue.v_num, condition.op, number))
        else:
            options.append(_comparison(SearchValue.v_time, condition.op, canonical_instant(value)))
    return or_(*options)


def _owners(model: type[ResourceMixin], path: Path, predicate: ColumnElement[bool]) -> Select:
    return select(SearchValue.resource_pk).where(
        SearchValue.resource_type == model.resource_type,
        SearchValue.path == ".".join(path),
        predicate,
    )


def _promoted_clause(model: type[ResourceMixin], condition: Condition) -> ColumnElement[bool] | None:
    """A clause on a promoted column when it is equivalent to the search_value route, else None."""
    if len(condition.path) != 1 or condition.path[0] not in model.promoted:
        return None
    attribute, kind = model.promoted[condition.path[0]]
    column = getattr(model, attribute)
    if condition.op in ("eq", "ne"):
        texts, _numbers, instants = _typed(condition.values)
        if kind == "text" and instants:
            # A text attribute holding a date-time equals any spelling of that instant: search_value knows.
            return None
        wanted = instants if kind == "time" else texts
        matches = column.in_(wanted) if wanted else false()
        return matches if condition.op == "eq" else or_(column.is_(None), not_(matches))
    if kind == "time" and condition.op in ("gt", "gte", "lt", "lte"):
        instants = [canonical_instant(v) for v in condition.values]
        if all(instants):
            return or_(*(_comparison(column, condition.op, t) for t in instants))
    return None


def _positive_owners(model: type[ResourceMixin], condition: Condition) -> Select | None:
    """The pks matching `condition` straight from search_value, when that is how it is filtered."""
    if condition.op == "ne" or _promoted_clause(model, condition) is not None:
        return None
    return _owners(model, condition.path, _value_match(condition))


def condition_clause(model: type[ResourceMixin], condition: Condition) -> ColumnElement[bool]:
    promoted = _promoted_clause(model, condition)
    if promoted is not None:
        return promoted
    if condition.op == "ne":
        # No value at the path equals any given value (resources without the attribute match).
        return model.pk.not_in(_owners(model, condition.path, _value_match(condition)))
    return model.pk.in_(_owners(model, condition.path, _value_match(condition)))


def _sort_keys(model: type[ResourceMixin], path: Path, descending: bool) -> list[Any]:
    """Resources lacking the key sort last in both directions."""
    if len(path) == 1 and path[0] in model.promoted:
        # NULLS LAST rather than a CASE key: an index on the column can then deliver the order (on SQLite a
        # descending sort with the pk tie-breaker is a backward index scan that stops after one page).
        column = getattr(model, model.promoted[path[0]][0])
        return [(column.desc() if descending else column.asc()).nulls_last()]
    aggregate = func.max if descending else func.min
    owned = (
        SearchValue.resource_type == model.resource_type,
        SearchValue.resource_pk == model.pk,
        SearchValue.path == ".".join(path),
    )
    # Numbers, then date-times as instants, then the other texts: a date-time's spelling is no key of
    # its own (equal instants tie, so the next sort key decides, as with a promoted date-time column).
    columns = [
        select(aggregate(SearchValue.v_num)).where(*owned).scalar_subquery(),
        select(aggregate(SearchValue.v_time)).where(*owned).scalar_subquery(),
        select(aggregate(SearchValue.v_text)).where(*owned, SearchValue.v_time.is_(None)).scalar_subquery(),
    ]
    keys: list[Any] = []
    for column in columns:
        keys.append(case((column.is_(None), 1), else_=0))
        keys.append(column.desc() if descending else column.asc())
    return keys


def filtered(model: type[ResourceMixin], query: Query) -> Select:
    clauses = [condition_clause(model, c) for c in query.conditions]
    return select(model).where(and_(*clauses)) if clauses else select(model)


# Why: docs/decisions/0019-document-rows-with-search-value-index.md
def page_statement(model: type[ResourceMixin], query: Query, *columns: Any) -> Select:
    """The page's rows, in order: `columns` of them (by default the whole mapped row)."""
    statement = filtered(model, query)
    order: list[Any] = []
    for path, descending in query.sort:
        order.extend(_sort_keys(model, path, descending))
    # Default and tie-breaker: newest first. pk follows insertion order, so paging is stable.
    order.append(model.pk.desc())
    # Page the primary keys first (a narrow index walk, cheap even at a deep offset), then load those rows.
    page = statement.with_only_columns(model.pk).order_by(*order).offset(query.offset).limit(query.limit)
    return select(*(columns or (model,))).where(model.pk.in_(page.scalar_subquery())).order_by(*order)


def count_statement(model: type[ResourceMixin], query: Query) -> Select:
    owners = [_positive_owners(model, c) for c in query.conditions]
    if owners and all(o is not None for o in owners):
        # Only search_value conditions: count the distinct owners in its covering indexes instead of looking
        # every match up in the resource table (30x faster for 3000 matches at 10^5 orders on SQLite).
        # search_value rows live and die with their resource in one transaction, so the numbers agree.
        matching = owners[0].distinct() if len(owners) == 1 else intersect(*owners)
        return select(func.count()).select_from(matching.subquery())
    clauses = [condition_clause(model, c) for c in query.conditions]
    statement = select(func.count()).select_from(model)
    return statement.where(and_(*clauses)) if clauses else statement
