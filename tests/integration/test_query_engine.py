"""TMF630 filtering and sorting in SQL (store/search.py), table-driven, on every resource type.

One fixed data set is stored with the repository (so search_value and the promoted columns are filled the
production way), then `page_statement` / `count_statement` are executed and the ids compared. Each case is
also checked against the Python reference (query_reference.py), so the table and the reference agree.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tmfserver.query.parse import parse_query
from tmfserver.store.db import make_session_factory
from tmfserver.store.models import RESOURCE_MODELS, ResourceMixin
from tmfserver.store.repository import DocumentRepository

from . import query_reference as ref

DOCUMENTS: list[dict] = [
    {
        "id": "d1",
        "@type": "T1",
        "state": "inProgress",
        "priority": 1,
        "orderDate": "2021-01-10T10:00:00Z",
        "externalId": "EXT-1",
        "flag": True,
        "score": 2.5,
        "name": "alpha",
        "validFor": {"startDateTime": "2021-01-01T00:00:00Z", "endDateTime": "2021-06-30T23:59:59+02:00"},
        "relatedParty": [{"id": "42", "role": "customer"}, {"id": "7", "role": "seller"}],
        "orderItem": [
            {"id": "1", "state": "completed", "quantity": 2},
            {"id": "2", "state": "failed", "quantity": 10},
        ],
        "cartItem": [
            {
                "id": "c1",
                "productOffering": {"id": "PO1"},
                "cartItem": [{"id": "c1a", "productOffering": {"id": "PO9"}}],
            }
        ],
    },
    {
        "id": "d2",
        "@type": "T2",
        "state": "completed",
        "priority": 10,
        "orderDate": "2021-01-10T12:00:00+02:00",  # the same instant as d1's
        "externalId": "EXT-2",
        "flag": False,
        "score": 9,
        "name": "Beta",
        "validFor": {"endDateTime": "2020-12-31T23:00:00-01:00"},  # 2021-01-01T00:00:00Z
        "relatedParty": [{"id": "43"}],
        "orderItem": [{"id": "1", "state": "inProgress", "quantity": 9}],
        "cartItem": [
            {
                "id": "c2",
                "productOffering": {"id": "PO2"},
                "cartItem": [{"id": "c2a", "productOffering": {"id": "PO1"}}],
            }
        ],
    },
    {
        "id": "d3",
        "@type": "T2",
        "state": "failed",
        "priority": 9,
        "orderDate": "2021-02-01T00:00:00",  # no offset: UTC
        "flag": "true",  # a string, equal to the text `true`
        "name": "gamma",
        "relatedParty": [{"id": 42}],  # a number
        "orderItem": [],
    },
    {
        "id": "d4",
        "@type": "T1",
        "priority": "3",  # a string: not in numeric comparisons
        "orderDate": "2022-03-01T08:00:00.500Z",
        "name": "alpha",
        "tags": ["x", "y"],
        "description": "' OR 1=1 --",
    },
    {"id": "d5", "@type": "T3"},
    {
        "id": "d6",
        "@type": "T1",
        "state": "acknowledged",
        "priority": 2.0,
        "orderDate": "2020-05-05T05:05:05-05:00",
        "externalId": "2021-01-10T10:00:00Z",  # a text attribute holding a date-time
        "score": -1,
        "name": "delta",
        "orderItem": [{"state": "completed"}, {"state": "completed"}],
    },
]
ALL = {d["id"] for d in DOCUMENTS}

FILTER_CASES: list[tuple[list[tuple[str, str]], set[str]]] = [
    # equality, OR of values, quotes
    ([("state", "inProgress")], {"d1"}),
    ([("state", "inProgress,completed")], {"d1", "d2"}),
    ([("state", '"inProgress"')], {"d1"}),
    ([("state", "'completed'")], {"d2"}),
    ([("state.eq", "failed")], {"d3"}),
    ([("state", "")], set()),
    ([("state", "INPROGRESS")], set()),
    ([("name", "alpha")], {"d1", "d4"}),
    ([("name", "Beta")], {"d2"}),
    ([("description", "' OR 1=1 --")], {"d4"}),
    # ne: no value equals, absent attribute included
    ([("state.ne", "inProgress")], ALL - {"d1"}),
    ([("state!", "inProgress")], ALL - {"d1"}),
    ([("state.ne", "inProgress,completed")], ALL - {"d1", "d2"}),
    ([("priority.ne", "10")], ALL - {"d2"}),
    ([("missing.ne", "x")], ALL),
    ([("orderItem.state.ne", "completed")], {"d2", "d3", "d4", "d5"}),
    # numbers as numbers
    ([("priority", "10")], {"d2"}),
    ([("priority", "10.0")], {"d2"}),
    ([("priority", "1e1")], {"d2"}),
    ([("priority", "2")], {"d6"}),
    ([("priority", "3")], {"d4"}),  # the string "3", exactly
    ([("priority.gt", "2")], {"d2", "d3"}),
    ([("priority.gte", "2")], {"d2", "d3", "d6"}),
    ([("priority>", "2")], {"d2", "d3", "d6"}),
    ([("priority>2", "")], {"d2", "d3"}),
    ([("priority.lt", "10")], {"d1", "d3", "d6"}),  # 9 < 10 numerically
    ([("priority.lte", "2")], {"d1", "d6"}),
    ([("priority<", "2")], {"d1", "d6"}),
    ([("priority<2", "")], {"d1"}),
    ([("priority.gt", "1,9")], {"d2", "d3", "d6"}),
    ([("priority.gt", '"2"')], {"d2", "d3"}),
    ([("score.gt", "2.4")], {"d1", "d2"}),
    ([("score.lt", "0")], {"d6"}),
    ([("score.lt", "-1.5")], set()),
    # a non-operator last segment is a path
    ([("priority.foo", "1")], set()),
    ([("state.gtx", "1")], set()),
    # booleans
    ([("flag", "true")], {"d1", "d3"}),
    ([("flag", "false")], {"d2"}),
    ([("flag.ne", "true")], ALL - {"d1", "d3"}),
    ([("flag", "1")], set()),
    # date-times as instants, any offset, quoted or not
    ([("orderDate", "2021-01-10T10:00:00Z")], {"d1", "d2"}),
    ([("orderDate", "2021-01-10T11:00:00+01:00")], {"d1", "d2"}),
    ([("orderDate", '"2021-01-10T10:00:00.000Z"')], {"d1", "d2"}),
    ([("orderDate", "2021-01-10T10:00:00")], {"d1", "d2"}),
    ([("orderDate", "2021-02-01T00:00:00Z")], {"d3"}),
    ([("orderDate.ne", "2021-01-10T12:00:00+02:00")], {"d3", "d4", "d5", "d6"}),
    ([("orderDate.gt", "2021-01-10T10:00:00Z")], {"d3", "d4"}),
    ([("orderDate.gte", "2021-01-10T12:00:00+02:00")], {"d1", "d2", "d3", "d4"}),
    ([("orderDate.lt", "2021-01-01")], {"d6"}),
    ([("orderDate.lt", "2021-01-10T10:00:00.001Z")], {"d1", "d2", "d6"}),
    ([("orderDate>", "2022-03-01T08:00:00.5Z")], {"d4"}),
    ([("orderDate>2022-03-01T08:00:00.5Z", "")], set()),
    ([("orderDate<", "'2020-05-05T10:05:05Z'")], {"d6"}),
    ([("validFor.endDateTime", "2021-01-01T00:00:00Z")], {"d2"}),
    ([("validFor.endDateTime.lt", "2021-01-01T00:00:01Z")], {"d2"}),
    ([("validFor.endDateTime.gt", "2021-06-30T21:59:58Z")], {"d1"}),
    ([("validFor.endDateTime.gt", "2021-06-30T21:59:59Z")], set()),
    ([("validFor.startDateTime.ne", "2021-01-01T00:00:00Z")], ALL - {"d1"}),
    ([("externalId", "2021-01-10T11:00:00+01:00")], {"d6"}),
    ([("externalId", "EXT-1")], {"d1"}),
    ([("externalId.ne", "2021-01-10T10:00:00.000+00:00")], ALL - {"d6"}),
    # regex
    ([("name.regex", "^a")], {"d1", "d4"}),
    ([("name.regex", "(?i)^b")], {"d2"}),
    ([("name.regex", "^(alpha|gamma)$")], {"d1", "d3", "d4"}),
    ([("name.regex", "'^g'")], {"d3"}),
    ([("name.regex", "a,b")], set()),
    ([("orderItem.state.regex", "ail")], {"d1"}),
    ([("cartItem.cartItem.id.regex", "^c1")], {"d1"}),
    # dotted paths into objects and arrays (any element)
    ([("orderItem.state", "completed")], {"d1", "d6"}),
    ([("orderItem.state", "failed")], {"d1"}),
    ([("orderItem.state", "completed"), ("orderItem.id", "2")], {"d1"}),
    ([("orderItem.quantity.gt", "9")], {"d1"}),
    ([("orderItem.quantity", "9")], {"d2"}),
    ([("relatedParty.id", "42")], {"d1", "d3"}),
    ([("relatedParty.id", "43,7")], {"d1", "d2"}),
    ([("relatedParty.role", "customer"), ("relatedParty.id", "7")], {"d1"}),
    ([("cartItem.productOffering.id", "PO1")], {"d1"}),
    ([("cartItem.cartItem.productOffering.id", "PO1")], {"d2"}),
    ([("cartItem.cartItem.productOffering.id", "PO9,PO1")], {"d1", "d2"}),
    ([("cartItem.productOffering", "PO1")], set()),  # an object is not a value
    ([("tags", "y")], {"d4"}),
    ([("missing", "x")], set()),
    # promoted columns
    ([("id", "d3")], {"d3"}),
    ([("id", "d3,d5")], {"d3", "d5"}),
    ([("id.ne", "d3")], ALL - {"d3"}),
    ([("@type", "T1")], {"d1", "d4", "d6"}),
    ([("@type.regex", "^T[23]$")], {"d2", "d3", "d5"}),
    # AND of conditions
    ([("state", "inProgress"), ("priority", "1")], {"d1"}),
    ([("state", "inProgress"), ("priority", "2")], set()),
    ([("@type", "T1"), ("name", "alpha"), ("orderDate.gt", "2021-06-01")], {"d4"}),
    ([("state.ne", "failed"), ("priority.gte", "2"), ("orderItem.state", "completed")], {"d6"}),
]

SORT_CASES: list[tuple[list[tuple[str, str]], list[str]]] = [
    ([], ["d6", "d5", "d4", "d3", "d2", "d1"]),  # newest first
    ([("sort", "priority")], ["d1", "d6", "d3", "d2", "d4", "d5"]),  # numbers, then text, then missing
    ([("sort", "-priority")], ["d2", "d3", "d6", "d1", "d4", "d5"]),
    ([("sort", "name")], ["d2", "d4", "d1", "d6", "d3", "d5"]),
    ([("sort", "-name")], ["d3", "d6", "d4", "d1", "d2", "d5"]),
    ([("sort", "+name")], ["d2", "d4", "d1", "d6", "d3", "d5"]),
    ([("sort", "orderDate")], ["d6", "d2", "d1", "d3", "d4", "d5"]),
    ([("sort", "-orderDate,name")], ["d4", "d3", "d2", "d1", "d6", "d5"]),
    ([("sort", "-orderDate,-name")], ["d4", "d3", "d1", "d2", "d6", "d5"]),
    ([("sort", "orderItem.quantity")], ["d1", "d2", "d6", "d5", "d4", "d3"]),
    ([("sort", "-orderItem.quantity")], ["d1", "d2", "d6", "d5", "d4", "d3"]),
    ([("sort", "validFor.endDateTime")], ["d2", "d1", "d6", "d5", "d4", "d3"]),
    ([("sort", "-validFor.endDateTime")], ["d1", "d2", "d6", "d5", "d4", "d3"]),
    ([("sort", "flag")], ["d2", "d3", "d1", "d6", "d5", "d4"]),
    ([("sort", "state")], ["d6", "d2", "d3", "d1", "d5", "d4"]),
    ([("sort", "-state")], ["d1", "d3", "d2", "d6", "d5", "d4"]),
    ([("sort", "missing")], ["d6", "d5", "d4", "d3", "d2", "d1"]),
    ([("sort", "-missing,name")], ["d2", "d4", "d1", "d6", "d3", "d5"]),
    ([("state.ne", "failed"), ("sort", "-priority")], ["d2", "d6", "d1", "d4", "d5"]),
    ([("orderDate.gt", "2021-01-01"), ("sort", "-orderDate")], ["d4", "d3", "d2", "d1"]),
]


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """Empty resource tables, rolled back afterwards."""
    with make_session_factory(engine)() as session:
        ref.empty_resource_tables(session)
        yield session
        session.rollback()


@pytest.fixture(params=RESOURCE_MODELS, ids=lambda m: m.__name__)
def loaded(request: pytest.FixtureRequest, session: Session) -> tuple[Session, type[ResourceMixin]]:
    ref.load(session, request.param, DOCUMENTS)
    return session, request.param


@pytest.mark.parametrize(("pairs", "expected"), FILTER_CASES, ids=[repr(c[0]) for c in FILTER_CASES])
def test_filter(loaded, pairs: list[tuple[str, str]], expected: set[str]) -> None:
    session, model = loaded
    assert ref.filter_ids(DOCUMENTS, pairs) == expected, "the table disagrees with the reference"
    ids, total = ref.run(session, model, parse_query(pairs))
    assert set(ids) == expected
    assert len(ids) == len(set(ids)), "a resource appears twice"
    assert total == len(expected)


@pytest.mark.parametrize(("pairs", "expected"), SORT_CASES, ids=[repr(c[0]) for c in SORT_CASES])
def test_sort(loaded, pairs: list[tuple[str, str]], expected: list[str]) -> None:
    session, model = loaded
    query = parse_query(pairs)
    filters = [(n, v) for n, v in pairs if n != "sort"]
    sort = [(".".join(path), descending) for path, descending in query.sort]
    matching = [d for d in DOCUMENTS if d["id"] in ref.filter_ids(DOCUMENTS, filters)]
    assert ref.sorted_ids(matching, sort) == expected, "the table disagrees with the reference"
    ids, total = ref.run(session, model, query)
    assert ids == expected
    assert total == len(expected)


@pytest.mark.parametrize("sort", ["", "name", "-orderDate,name", "orderItem.quantity", "-priority"])
def test_paging_walks_every_resource_once(loaded, sort: str) -> None:
    session, model = loaded
    pairs = [("sort", sort)] if sort else []
    whole, _ = ref.run(session, model, parse_query(pairs))
    walked: list[str] = []
    for offset in range(0, len(DOCUMENTS) + 2, 2):
        page, total = ref.run(session, model, parse_query([*pairs, ("offset", str(offset)), ("limit", "2")]))
        assert total == len(DOCUMENTS)
        walked.extend(page)
    assert walked == whole
    assert sorted(walked) == sorted(ALL)


def test_limit_zero_and_offset_past_the_end(loaded) -> None:
    session, model = loaded
    assert ref.run(session, model, parse_query([("limit", "0")])) == ([], len(DOCUMENTS))
    assert ref.run(session, model, parse_query([("offset", "99")])) == ([], len(DOCUMENTS))
    assert ref.run(session, model, parse_query([("state", "failed"), ("offset", "1")])) == ([], 1)


def test_default_order_follows_insertion_not_ids(session: Session) -> None:
    model = RESOURCE_MODELS[0]
    ref.load(session, model, [{"id": i} for i in ("b", "a", "c")])
    assert ref.run(session, model, parse_query([]))[0] == ["c", "a", "b"]


def test_updates_reindex_and_deletes_unindex(session: Session) -> None:
    model = RESOURCE_MODELS[0]
    repository = DocumentRepository(session, model)
    row = repository.add({"id": "u1", "orderItem": [{"state": "inProgress"}]})
    repository.add({"id": "u2", "orderItem": [{"state": "completed"}]})
    repository.replace(row, {"id": "u1", "orderItem": [{"state": "completed"}]})
    session.flush()
    assert set(ref.run(session, model, parse_query([("orderItem.state", "completed")]))[0]) == {"u1", "u2"}
    assert ref.run(session, model, parse_query([("orderItem.state", "inProgress")]))[0] == []
    repository.delete(row)
    session.flush()
    assert ref.run(session, model, parse_query([("orderItem.state", "completed")]))[0] == ["u2"]
    assert ref.run(session, model, parse_query([("orderItem.state.ne", "x")]))[0] == ["u2"]


def test_types_do_not_leak_between_resource_types(session: Session) -> None:
    first, second = RESOURCE_MODELS[0], RESOURCE_MODELS[1]
    ref.load(session, first, [{"id": "a1", "note": "shared"}])
    ref.load(session, second, [{"id": "b1", "note": "other"}])
    assert ref.run(session, first, parse_query([("note", "shared")]))[0] == ["a1"]
    assert ref.run(session, second, parse_query([("note", "shared")]))[0] == []
    assert ref.run(session, second, parse_query([("note.ne", "shared")]))[0] == ["b1"]
