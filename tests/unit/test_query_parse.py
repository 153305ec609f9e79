"""TMF630 query parsing (query/parse.py), value typing (query/values.py) and `fields` (query/projection.py)."""

from __future__ import annotations

import copy

import pytest

from tmfserver.clock import utc_now_iso
from tmfserver.query.parse import (
    MAX_PAGING_VALUE,
    Condition,
    Query,
    QueryError,
    QueryLimits,
    parse_query,
    split_path,
)
from tmfserver.query.projection import project
from tmfserver.query.values import canonical_instant, parse_number, strip_quotes


def conditions(*pairs: tuple[str, str]) -> tuple[Condition, ...]:
    return parse_query(pairs).conditions


# --- conditions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pair", "expected"),
    [
        (("state", "completed"), Condition(("state",), "eq", ("completed",))),
        (("state", "a,b"), Condition(("state",), "eq", ("a", "b"))),
        (("state.eq", "a"), Condition(("state",), "eq", ("a",))),
        (("state.ne", "a"), Condition(("state",), "ne", ("a",))),
        (("priority.gt", "2"), Condition(("priority",), "gt", ("2",))),
        (("priority.gte", "2"), Condition(("priority",), "gte", ("2",))),
        (("priority.lt", "2"), Condition(("priority",), "lt", ("2",))),
        (("priority.lte", "2,3"), Condition(("priority",), "lte", ("2", "3"))),
        (("name.regex", "^a,b$"), Condition(("name",), "regex", ("^a,b$",))),  # not split on ','
        (("orderItem.state", "completed"), Condition(("orderItem", "state"), "eq", ("completed",))),
        (
            ("cartItem.productOffering.id", "PO1"),
            Condition(("cartItem", "productOffering", "id"), "eq", ("PO1",)),
        ),
        (
            ("validFor.endDateTime.lt", "2021-01-01"),
            Condition(("validFor", "endDateTime"), "lt", ("2021-01-01",)),
        ),
        # TMF630 symbolic forms, as a query string parser hands them over
        (("orderDate>", "2021-01-01"), Condition(("orderDate",), "gte", ("2021-01-01",))),
        (("orderDate<", "2021-01-01"), Condition(("orderDate",), "lte", ("2021-01-01",))),
        (("orderDate>2021-01-01", ""), Condition(("orderDate",), "gt", ("2021-01-01",))),
        (("orderDate<2021-01-01", ""), Condition(("orderDate",), "lt", ("2021-01-01",))),
        (("state!", "completed"), Condition(("state",), "ne", ("completed",))),
        (("a.b>", "1.5"), Condition(("a", "b"), "gte", ("1.5",))),
        # a non-operator last segment is part of the path
        (("priority.foo", "1"), Condition(("priority", "foo"), "eq", ("1",))),
        (("state.GT", "x"), Condition(("state", "GT"), "eq", ("x",))),
        (("gt", "1"), Condition(("gt",), "eq", ("1",))),
        # one pair of surrounding quotes is stripped from each value
        (("state", '"completed"'), Condition(("state",), "eq", ("completed",))),
        (("state", "'completed'"), Condition(("state",), "eq", ("completed",))),
        (("state", "\"a\",'b',c"), Condition(("state",), "eq", ("a", "b", "c"))),
        (("state", '""x""'), Condition(("state",), "eq", ('"x"',))),
        (("state", "'x\""), Condition(("state",), "eq", ("'x\"",))),
        (
            ("orderDate.gt", '"2021-01-01T00:00:00Z"'),
            Condition(("orderDate",), "gt", ("2021-01-01T00:00:00Z",)),
        ),
        (("name.regex", "'^a'"), Condition(("name",), "regex", ("^a",))),
        (("state", ""), Condition(("state",), "eq", ("",))),
        (("state", ","), Condition(("state",), "eq", ("", ""))),
    ],
)
def test_condition(pair: tuple[str, str], expected: Condition) -> None:
    assert conditions(pair) == (expected,)


def test_several_conditions_are_kept_in_order() -> None:
    assert conditions(("state", "a"), ("priority.gt", "1"), ("state", "b")) == (
        Condition(("state",), "eq", ("a",)),
        Condition(("priority",), "gt", ("1",)),
        Condition(("state",), "eq", ("b",)),
    )


@pytest.mark.parametrize(
    "pair",
    [
        ("", "x"),  # `=x`
        (".gt", "1"),
        ("a..b", "1"),
        ("a.", "1"),
        (".a", "1"),
        ("a.b.", "1"),
        (">", "1"),
        ("!", "1"),
        ("priority.gt", "abc"),
        ("priority.gt", ""),
        ("priority.lt", "1,abc"),
        ("priority>", "x"),
        ("priority>abc", ""),
        ("orderDate.gte", "2021-13-01T00:00:00Z"),
        ("orderDate.gt", "inf"),
        ("orderDate.gt", "nan"),
        ("name.regex", "("),
        ("name.regex", "[a-"),
        ("name.regex", "a{2,1}"),
        ("name.regex", "x" * 201),
        ("name.regex", "(?P<name>a)"),  # RE2 accepts these; PostgreSQL would refuse or read them otherwise
        ("name.regex", "\\bword"),
        ("name.regex", "\\Qa.b\\E"),
        ("name.regex", "\\pL"),
        ("name.regex", "a\\z"),
        ("name.regex", "a(?i)b"),
        ("name.regex", "(?s).a"),
        ("name.regex", "x{256}"),
        ("name.regex", "^*a"),
        ("name.regex", "a{"),
        ("a" + ".a" * 12, "1"),  # deeper than MAX_PATH_SEGMENTS
        ("state", "a\x00b"),
        ("sta\x00te", "a"),
    ],
)
def test_malformed_condition(pair: tuple[str, str]) -> None:
    with pytest.raises(QueryError):
        parse_query([pair])


@pytest.mark.parametrize(
    "pattern",
    [
        "^a",
        "a$",
        "(?i)abc",
        "(?:a|b)+",
        "[0-9]{2,255}",
        "\\d\\s\\w\\.",
        "[]a]",
        "[^]a]",
        "[[:alpha:]]+",
        "\\$*",
        "a|",
    ],
)
def test_portable_regex_accepted(pattern: str) -> None:
    assert conditions(("name.regex", pattern)) == (Condition(("name",), "regex", (pattern,)),)


def test_regex_length_limit_is_configurable() -> None:
    limits = QueryLimits(max_regex_length=3)
    parse_query([("n.regex", "abc")], limits)
    with pytest.raises(QueryError):
        parse_query([("n.regex", "abcd")], limits)


def test_too_many_conditions() -> None:
    limits = QueryLimits(max_conditions=3)
    parse_query([("a", "1")] * 3, limits)
    with pytest.raises(QueryError):
        parse_query([("a", "1")] * 4, limits)
    with pytest.raises(QueryError):
        parse_query([("a", "1")] * 21)
    # fields/sort/offset/limit are not conditions
    parse_query([("a", "1")] * 3 + [("fields", "a"), ("sort", "a"), ("offset", "1"), ("limit", "1")], limits)


def test_max_path_depth() -> None:
    assert split_path(".".join(["a"] * 12)) == ("a",) * 12
    with pytest.raises(QueryError):
        split_path(".".join(["a"] * 13))


# --- paging, sort, fields ---------------------------------------------------------------------------


def test_defaults() -> None:
    query = parse_query([])
    assert query == Query()
    assert (query.offset, query.limit, query.fields, query.sort) == (0, 100, None, ())


@pytest.mark.parametrize(
    ("pairs", "offset", "limit"),
    [
        ([("offset", "5")], 5, 100),
        ([("limit", "7")], 0, 7),
        ([("limit", "0")], 0, 0),
        ([("limit", "100000")], 0, 1000),  # clamped
        ([("offset", "0"), ("limit", "1")], 0, 1),
        ([("offset", str(MAX_PAGING_VALUE)), ("limit", str(MAX_PAGING_VALUE))], MAX_PAGING_VALUE, 1000),
        ([("offset", "0007")], 7, 100),
    ],
)
def test_paging(pairs: list[tuple[str, str]], offset: int, limit: int) -> None:
    query = parse_query(pairs)
    assert (query.offset, query.limit) == (offset, limit)


@pytest.mark.parametrize(
    ("pair", "says"),
    [
        (("offset", "x"), "must be an integer"),
        (("offset", "-1"), "must not be negative"),
        (("limit", "1.5"), "must be an integer"),
        (("limit", ""), "must be an integer"),
        (("offset", ""), "must be an integer"),
        (("offset", "1e3"), "must be an integer"),
        (("offset", "+5"), "must be an integer"),
        (("limit", " 5"), "must be an integer"),
        (("limit", "1_000"), "must be an integer"),
        (("offset", "\u0663"), "must be an integer"),  # ARABIC-INDIC DIGIT THREE: int() would take it
        (("offset", str(2**31)), "must be at most 2147483647"),
        (("limit", str(2**31)), "must be at most 2147483647"),
        (("offset", str(2**63)), "must be at most 2147483647"),
        (("offset", "1" + "0" * 100), "must be at most 2147483647"),
        (("offset", "9" * 5000), "must be at most 2147483647"),  # no int() of 5,000 digits
    ],
)
def test_bad_paging(pair: tuple[str, str], says: str) -> None:
    with pytest.raises(QueryError) as refused:
        parse_query([pair])
    assert str(refused.value) == f"query parameter '{pair[0]}' {says}"


def test_sort() -> None:
    assert parse_query([("sort", "-orderDate,name")]).sort == ((("orderDate",), True), (("name",), False))
    assert parse_query([("sort", "+a.b, -c.d.e,")]).sort == ((("a", "b"), False), (("c", "d", "e"), True))
    assert parse_query([("sort", "")]).sort == ()
    with pytest.raises(QueryError):
        parse_query([("sort", "a..b")])


def test_fields() -> None:
    assert parse_query([("fields", "state, orderItem.state")]).fields == (("state",), ("orderItem", "state"))
    assert parse_query([("fields", "none")]).fields == ()
    with pytest.raises(QueryError):
        parse_query([("fields", "a..b")])


# --- values -----------------------------------------------------------------------------------------

SAME_INSTANT = [
    "2021-01-10T10:00:00Z",
    "2021-01-10T10:00:00z",
    "2021-01-10t10:00:00Z",
    "2021-01-10T10:00:00.000Z",
    "2021-01-10T10:00:00.000000000Z",
    "2021-01-10T10:00:00",
    "2021-01-10T10:00",
    "2021-01-10 10:00:00Z",
    "2021-01-10T12:00:00+02:00",
    "2021-01-10T12:00:00+0200",
    "2021-01-10T05:30:00-04:30",
    "2021-01-11T00:00:00+14:00",
]


@pytest.mark.parametrize("text", SAME_INSTANT)
def test_instants(text: str) -> None:
    assert canonical_instant(text) == "2021-01-10T10:00:00.000000Z"


def test_instant_details() -> None:
    assert canonical_instant("2021-01-10") == "2021-01-10T00:00:00.000000Z"
    assert canonical_instant("2021-01-10T10:00:00.1234567Z") == "2021-01-10T10:00:00.123456Z"
    assert canonical_instant("2020-12-31T23:59:59.5-01:00") == "2021-01-01T00:59:59.500000Z"
    # fixed width: lexical order is time order
    earlier, later = canonical_instant("1999-12-31T23:59:59Z"), canonical_instant("2000-01-01T00:00:00-01:00")
    assert earlier is not None and later is not None and earlier < later


def test_instants_keep_fixed_width_and_range() -> None:
    assert canonical_instant("0999-01-01T00:00:00Z") == "0999-01-01T00:00:00.000000Z"
    assert canonical_instant("0999-01-01") < canonical_instant("2021-01-01")  # type: ignore[operator]
    # Beyond datetime's range once in UTC: not an instant (rather than an exception).
    assert canonical_instant("0001-01-01T00:00:00+01:00") is None
    assert canonical_instant("9999-12-31T23:59:59-01:00") is None
    with pytest.raises(QueryError):
        parse_query([("orderDate.gt", "0001-01-01T00:00:00+01:00")])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x",
        "2021",
        "2021-1-1",
        "2021-13-01",
        "2021-02-30",
        "2021-01-01T25:00:00Z",
        "2021-01-01Tfoo",
        "10",
        5,
        None,
    ],
)
def test_not_instants(text) -> None:
    assert canonical_instant(text) is None


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("10", 10.0),
        ("9", 9.0),
        ("-3", -3.0),
        ("+2", 2.0),
        ("2.5", 2.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e1", 10.0),
    ],
)
def test_numbers(text: str, number: float) -> None:
    assert parse_number(text) == number


@pytest.mark.parametrize("text", ["", "x", "1,5", "0x10", "inf", "nan", "1e999", "1 ", "--1", "2021-01-01"])
def test_not_numbers(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize(
    ("raw", "stripped"),
    [
        ('"a"', "a"),
        ("'a'", "a"),
        ('""', ""),
        ("'", "'"),
        ('"a', '"a'),
        ("'a\"", "'a\""),
        ("a", "a"),
        ("''x''", "'x'"),
    ],
)
def test_strip_quotes(raw: str, stripped: str) -> None:
    assert strip_quotes(raw) == stripped


def test_utc_now_iso() -> None:
    now = utc_now_iso()
    assert now.endswith("Z") and len(now) == len("2021-01-01T00:00:00.000Z")
    assert canonical_instant(now) is not None


# --- projection -------------------------------------------------------------------------------------

DOCUMENT = {
    "id": "o1",
    "href": "/resourceOrder/o1",
    "@type": "ResourceOrder",
    "state": "inProgress",
    "priority": 0,
    "note": [],
    "validFor": {"startDateTime": "2021-01-01T00:00:00Z", "endDateTime": "2021-02-01T00:00:00Z"},
    "orderItem": [
        {"id": "1", "state": "completed", "resource": {"id": "r1", "name": "n1"}},
        {"id": "2", "resource": {"id": "r2"}},
        {"id": "3", "state": "failed"},
    ],
    "cartItem": [{"id": "c1", "cartItem": [{"id": "c1a", "quantity": 1}, {"id": "c1b"}]}],
    "matrix": [[{"a": 1}, {"b": 2}], [{"a": 3}]],
}
KEPT = {"id": "o1", "href": "/resourceOrder/o1", "@type": "ResourceOrder"}


def fields(text: str) -> tuple:
    return parse_query([("fields", text)]).fields


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ("none", {}),
        ("state", {"state": "inProgress"}),
        ("state,priority,note", {"state": "inProgress", "priority": 0, "note": []}),
        ("missing", {}),
        ("validFor.endDateTime", {"validFor": {"endDateTime": "2021-02-01T00:00:00Z"}}),
        (
            "validFor.endDateTime,validFor.startDateTime",
            {"validFor": {"endDateTime": "2021-02-01T00:00:00Z", "startDateTime": "2021-01-01T00:00:00Z"}},
        ),
        ("validFor.missing", {}),
        ("state.missing", {}),
        ("orderItem.state", {"orderItem": [{"state": "completed"}, {"state": "failed"}]}),
        ("orderItem.resource.id", {"orderItem": [{"resource": {"id": "r1"}}, {"resource": {"id": "r2"}}]}),
        # several paths into one array line up element by element (items lacking one keep the others)
        (
            "orderItem.state,orderItem.id",
            {"orderItem": [{"state": "completed", "id": "1"}, {"id": "2"}, {"state": "failed", "id": "3"}]},
        ),
        (
            "orderItem.id,orderItem.state",
            {"orderItem": [{"id": "1", "state": "completed"}, {"id": "2"}, {"id": "3", "state": "failed"}]},
        ),
        (
            "orderItem.resource.name,orderItem.id",
            {"orderItem": [{"resource": {"name": "n1"}, "id": "1"}, {"id": "2"}, {"id": "3"}]},
        ),
        ("orderItem.state,orderItem", {"orderItem": DOCUMENT["orderItem"]}),
        ("orderItem,orderItem.state", {"orderItem": DOCUMENT["orderItem"]}),
        ("cartItem.cartItem.quantity", {"cartItem": [{"cartItem": [{"quantity": 1}]}]}),
        (
            "cartItem.cartItem.quantity,cartItem.cartItem.id",
            {"cartItem": [{"cartItem": [{"quantity": 1, "id": "c1a"}, {"id": "c1b"}]}]},
        ),
        ("matrix.b,matrix.a", {"matrix": [[{"a": 1}, {"b": 2}], [{"a": 3}]]}),
        ("id,href", {}),
    ],
)
def test_projection(selection: str, expected: dict) -> None:
    original = copy.deepcopy(DOCUMENT)
    assert project(DOCUMENT, fields(selection)) == {**KEPT, **expected}
    assert original == DOCUMENT, "projection must not change the stored document"


def test_projection_without_fields_is_the_document() -> None:
    assert project(DOCUMENT, None) is DOCUMENT


def test_projection_keeps_only_present_always_kept_attributes() -> None:
    assert project({"id": "x", "state": "s"}, fields("none")) == {"id": "x"}
    assert project({"id": "x", "state": "s"}, fields("state")) == {"id": "x", "state": "s"}
