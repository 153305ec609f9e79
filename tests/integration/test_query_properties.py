"""Property: the SQL engine (store/search.py) returns exactly what the Python reference returns.

Random documents (nested objects and arrays, strings, ints, floats, booleans, date-times with offsets) and
random filters (existing and missing paths, every operator and TMF630 form, several values, quotes), on
every resource type; and the order `sort` produces.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tmfserver.query.parse import parse_query
from tmfserver.store.models import RESOURCE_MODELS, ResourceMixin

from . import query_reference as ref

PROPERTY_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=False,
)

KEYS = ["a", "b", "state", "item", "when", "n"]
WORDS = ["x", "xy", "Xy", "10", "9", "true", "2.5", "", "a b", "it's", "o'k"]
# A few instants, each written in several ways (offsets, Z or not, fraction or not).
SPELLINGS = [
    ["2021-03-04T10:00:00Z", "2021-03-04T12:00:00+02:00", "2021-03-04T10:00:00.000Z", "2021-03-04T10:00:00"],
    ["2021-03-04T10:00:00.250Z", "2021-03-04T04:30:00.250-05:30", "2021-03-04 10:00:00.25+00:00"],
    ["2020-12-31T23:59:59-01:00", "2021-01-01T00:59:59Z", "2021-01-01T01:59:59+0100"],
    ["2021-01-01", "2021-01-01T00:00:00Z", "2020-12-31T19:00:00-05:00"],
    ["2030-06-15T08:00:00+14:00", "2030-06-14T18:00:00Z"],
]
DATETIMES = [s for group in SPELLINGS for s in group]
NUMBERS = [0, 1, 2, 9, 10, -3, 2.5, 1e-3, 100.25]
NUMBER_TEXTS = ["0", "1", "2", "9", "10", "-3", "2.5", "1e1", "0.001", "10.0", "100.25", "+2"]
PATTERNS = ["^x", "y$", "^$", "X", "(?i)^x", "^2021-03", "[0-9]+", "^(xy|9)$", "t.ue", "o'k", "^[^a]*$", "\\d"]

scalars = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(DATETIMES),
    st.sampled_from(NUMBERS),
    st.integers(-20, 20),
    st.booleans(),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    ),
    max_leaves=8,
)
bodies = st.dictionaries(st.sampled_from(KEYS), values, max_size=5)


@st.composite
def documents(draw: st.DrawFn, model: type[ResourceMixin]) -> list[dict]:
    result = []
    for index, body in enumerate(draw(st.lists(bodies, min_size=1, max_size=8))):
        document = {**body, "id": f"r{index}"}
        # Promoted attributes keep the types the API's schema gives them.
        if model.__name__ != "ShoppingCart" and "state" in document:
            document["state"] = draw(st.sampled_from(["x", "xy", "10", *DATETIMES[:2]]))
        if "orderDate" in model.promoted and draw(st.booleans()):
            document["orderDate"] = draw(st.sampled_from(DATETIMES))
        result.append(document)
    return result


paths = st.one_of(
    st.lists(st.sampled_from(KEYS), min_size=1, max_size=3).map(".".join),
    st.sampled_from(["orderDate", "id", "missing", "a.b.missing"]),
)
text_values = st.one_of(st.sampled_from(WORDS), st.sampled_from(DATETIMES), st.sampled_from(NUMBER_TEXTS))
ordered_values = st.one_of(st.sampled_from(DATETIMES), st.sampled_from(NUMBER_TEXTS))


def quoted(value_strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(value_strategy, st.sampled_from(["", '"', "'"])).map(lambda t: f"{t[1]}{t[0]}{t[1]}")


@st.composite
def filters(draw: st.DrawFn) -> tuple[str, str]:
    path = draw(paths)
    form = draw(
        st.sampled_from(["eq", "eq.", "ne", "!", "gt", "gte", "lt", "lte", ">", "<", ">v", "<v", "regex"])
    )
    if form == "regex":
        return f"{path}.regex", draw(quoted(st.sampled_from(PATTERNS)))
    if form in ("gt", "gte", "lt", "lte", ">", "<", ">v", "<v"):
        chosen = draw(st.lists(quoted(ordered_values), min_size=1, max_size=2))
        if form == ">v":
            return f"{path}>{chosen[0]}", ""
        if form == "<v":
            return f"{path}<{chosen[0]}", ""
        return (f"{path}{form}" if form in "<>" else f"{path}.{form}"), ",".join(chosen)
    chosen = ",".join(draw(st.lists(quoted(text_values), min_size=1, max_size=3)))
    name = {"eq": path, "eq.": f"{path}.eq", "ne": f"{path}.ne", "!": f"{path}!"}[form]
    return name, chosen


def _stored(engine: Engine, model: type[ResourceMixin], docs: list[dict]):
    session = ref.new_session(engine)
    ref.empty_resource_tables(session)
    ref.load(session, model, docs)
    return session


models = st.sampled_from(RESOURCE_MODELS)


@PROPERTY_SETTINGS
@given(data=st.data(), model=models)
def test_filters_match_the_reference(engine: Engine, data: st.DataObject, model: type[ResourceMixin]) -> None:
    docs = data.draw(documents(model), label="documents")
    queries = data.draw(st.lists(st.lists(filters(), min_size=1, max_size=3), max_size=5), label="queries")
    session = _stored(engine, model, docs)
    try:
        for pairs in queries:
            expected = ref.filter_ids(docs, pairs)
            ids, total = ref.run(session, model, parse_query([*pairs, ("limit", "1000")]))
            assert set(ids) == expected, pairs
            assert total == len(expected), pairs
            assert len(ids) == len(set(ids))
    finally:
        session.rollback()
        session.close()


sort_keys = st.lists(
    st.tuples(st.one_of(paths, st.sampled_from(["a", "item.n", "when"])), st.booleans()),
    min_size=1,
    max_size=2,
)


@PROPERTY_SETTINGS
@given(data=st.data(), model=models, sort=sort_keys, pairs=st.lists(filters(), max_size=1))
def test_sort_matches_the_reference(
    engine: Engine,
    data: st.DataObject,
    model: type[ResourceMixin],
    sort: list[tuple[str, bool]],
    pairs: list[tuple[str, str]],
) -> None:
    docs = data.draw(documents(model), label="documents")
    if "state" in model.promoted:
        # A promoted text column sorts by the text itself; the reference sorts date-time texts as instants.
        # Only datetime-looking states would tell them apart; keep to the generic columns there.
        sort = [(path, descending) for path, descending in sort if path != "state"] or [("a", False)]
    session = _stored(engine, model, docs)
    try:
        text = ",".join(("-" if descending else "") + path for path, descending in sort)
        matching = [d for d in docs if d["id"] in ref.filter_ids(docs, pairs)]
        expected = ref.sorted_ids(matching, sort)
        ids, _ = ref.run(session, model, parse_query([*pairs, ("sort", text), ("limit", "1000")]))
        assert ids == expected, text
        # Paging through the same order yields the same sequence.
        paged: list[str] = []
        for offset in range(0, len(expected), 3):
            query = parse_query([*pairs, ("sort", text), ("offset", str(offset)), ("limit", "3")])
            paged.extend(ref.run(session, model, query)[0])
        assert paged == expected
    finally:
        session.rollback()
        session.close()
