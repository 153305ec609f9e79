"""Injection attempts in attribute names and values reach SQL only as bound parameters.

Every payload must give the right (usually empty) answer or a QueryError, and leave every table as it was.
Client regexes run in linear time (RE2 on SQLite), so a catastrophic-backtracking pattern is answered fast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, inspect, select
from sqlalchemy.orm import Session

from tmfserver.query.parse import QueryError, parse_query
from tmfserver.store.db import make_session_factory
from tmfserver.store.models import RESOURCE_MODELS, ResourceOrder, SearchValue

from . import query_reference as ref

LONG = "a" * 999 + "!"
DOCUMENTS = [
    {"id": "i1", "state": "inProgress", "description": "' OR 1=1 --", "relatedParty": [{"id": "1"}]},
    {
        "id": "i2",
        "state": "completed",
        "description": 'x"; DROP TABLE resource_order; --',
        "note": [{"text": "%"}],
    },
    {"id": "i3", "state": "failed", "description": LONG, "name": "ñ😀\\"},
]
ALL = {"i1", "i2", "i3"}

CASES: list[tuple[list[tuple[str, str]], set[str]]] = [
    ([("state", "' OR 1=1 --")], set()),
    ([("state", "' OR '1'='1")], set()),
    ([("state", "inProgress' OR '1'='1")], set()),
    ([("state", "inProgress'--")], set()),
    ([("state", "inProgress); DROP TABLE resource_order; --")], set()),
    ([("state.ne", "x' OR 1=1 --")], ALL),
    ([("state.ne", "inProgress' OR 1=1 --,completed")], {"i1", "i3"}),
    ([("description", "' OR 1=1 --")], {"i1"}),
    ([("description", '"\' OR 1=1 --"')], {"i1"}),  # quotes stripped once: the stored text itself
    ([("description", 'x"; DROP TABLE resource_order; --')], {"i2"}),
    ([("description.gt", "1 OR 1=1")], None),  # not a number: QueryError
    ([("a;DROP TABLE resource_order", "1")], set()),
    ([("a;DROP TABLE resource_order.ne", "1")], ALL),
    ([('"x"', "1")], set()),
    ([('state"', "inProgress")], set()),
    ([("state'", "inProgress")], set()),
    ([('x"; DELETE FROM search_value; --', "1")], set()),
    ([("orderItem.state') OR 1=1 --", "x")], set()),
    ([("relatedParty.id", "1 UNION SELECT pk FROM resource_order")], set()),
    ([("relatedParty.id", "1")], {"i1"}),
    ([("relatedParty.id.gte", "0 OR 1=1")], None),
    ([("state", "%")], set()),  # no LIKE anywhere: wildcards are plain characters
    ([("state", "_nProgress")], set()),
    ([("note.text", "%")], {"i2"}),
    ([("name", "ñ😀\\")], {"i3"}),
    ([("state", "\\")], set()),
    ([("state", "\x00")], None),
    ([("state.regex", ".*' OR 1=1 --")], set()),
    ([("state.regex", "^(inProgress|x)$') OR 1=1 --")], None),  # unbalanced: QueryError
    ([("state.regex", "'; DROP TABLE search_value; --")], set()),
    ([("description.regex", "DROP TABLE")], {"i2"}),
    ([("sort", "state; DROP TABLE search_value")], ALL),
    ([("sort", '-"state" DESC, (SELECT 1)')], ALL),
    ([("offset", "0; DROP TABLE resource_order")], None),
    ([("limit", "1 OR 1=1")], None),
]

PATHOLOGICAL = ["(a+)+$", "(a|aa)+$", "(a*)*$", "(.*a){12}$", "^(a|a?)+$", "(a+)+b"]


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_session_factory(engine)() as session:
        ref.empty_resource_tables(session)
        ref.load(session, ResourceOrder, DOCUMENTS)
        yield session
        session.rollback()


def _census(session: Session) -> dict[str, int]:
    tables = set(inspect(session.connection()).get_table_names())
    assert {m.__tablename__ for m in RESOURCE_MODELS} | {SearchValue.__tablename__} <= tables
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model))
        for model in (*RESOURCE_MODELS, SearchValue)
    }


@pytest.mark.parametrize(("pairs", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_injection_attempt(session: Session, pairs: list[tuple[str, str]], expected: set[str] | None) -> None:
    before = _census(session)
    if expected is None:
        with pytest.raises(QueryError):
            parse_query(pairs)
    else:
        assert ref.filter_ids(DOCUMENTS, [p for p in pairs if p[0] != "sort"]) == expected
        ids, total = ref.run(session, ResourceOrder, parse_query(pairs))
        assert set(ids) == expected
        assert total == len(expected)
    assert _census(session) == before


@pytest.mark.parametrize("pattern", PATHOLOGICAL)
def test_pathological_regex_returns_promptly(session: Session, pattern: str) -> None:
    started = time.perf_counter()
    ids, _ = ref.run(session, ResourceOrder, parse_query([("description.regex", pattern)]))
    elapsed = time.perf_counter() - started
    assert set(ids) == ref.filter_ids(DOCUMENTS, [("description.regex", pattern)])
    assert ("i3" in ids) == (pattern == "(a*)*$")  # the long description ends with "!"
    assert elapsed < 2.0, f"{pattern} took {elapsed:.2f}s"
