"""A TMF Error's `message` says what was wrong in the client's terms — the parameter, the place in the body,
the limit — never an exception's text, a stack frame or a schema dump.

Every refusal of the hostile-input table (test_hostile_input.py, which includes the paging extremes and the
JSON Patch failures) is checked against the deny-list `INTERNALS` (_support.assert_client_message; every
`assert_tmf_error` of the e2e suite applies it, and test_http_limits.py applies it to the HTTP-layer
refusals). Here the wording of the cases that used to leak is pinned, and the deny-list itself is shown to
catch what they used to say.
"""

from __future__ import annotations

import pytest

from ._support import CARTS, INTERNALS, JSON_PATCH, ORDERS, assert_client_message, assert_tmf_error
from .test_hostile_input import _nested_object, seeded  # noqa: F401  (seeded: a fixture)

JP = {"Content-Type": JSON_PATCH}
ITEM = f"{ORDERS}/{{order}}"

# (id, method, path, request keyword arguments, status, the message)
WORDING: list[tuple[str, str, str, dict, int, str]] = [
    ("limit=abc", "GET", f"{ORDERS}?limit=abc", {}, 400, "query parameter 'limit' must be an integer"),
    ("offset=1.5", "GET", f"{CARTS}?offset=1.5", {}, 400, "query parameter 'offset' must be an integer"),
    (
        "offset=2^63",
        "GET",
        f"{ORDERS}?offset=9223372036854775808",
        {},
        400,
        "query parameter 'offset' must be at most 2147483647",
    ),
    ("limit=-1", "GET", f"{ORDERS}?limit=-1", {}, 400, "query parameter 'limit' must not be negative"),
    (
        "10,000-deep JSON",
        "POST",
        ORDERS,
        {"content": _nested_object(10_000), "headers": {"Content-Type": "application/json"}},
        400,
        "JSON nested deeper than 32 levels",
    ),
    (
        "item quantity",
        "POST",
        ORDERS,
        {"json": {"orderItem": [{"id": "1", "action": "add", "quantity": "2"}]}},
        400,
        "body: /orderItem/0/quantity must be an integer",
    ),
    ("body not an object", "POST", CARTS, {"json": [1]}, 400, "body must be an object"),
    (
        "enum",
        "PATCH",
        ITEM,
        {"json": [{"op": "launch", "path": "/x"}], "headers": JP},
        400,
        'body: /0/op must be one of "add", "remove", "replace", "move", "copy", "test"',
    ),
    (
        "required",
        "PATCH",
        ITEM,
        {"json": [{"op": "remove"}], "headers": JP},
        400,
        "body: /0 needs 'path'",
    ),
    (
        "invalid JSON",
        "POST",
        ORDERS,
        {"content": b'{"a": }', "headers": {"Content-Type": "application/json"}},
        400,
        "the request body is not valid JSON (Expecting value at line 1, column 7)",
    ),
    (
        "patched document",
        "PATCH",
        ITEM,
        {"json": [{"op": "replace", "path": "/orderItem/0/quantity", "value": "many"}], "headers": JP},
        400,
        "the patched resourceOrder: /orderItem/0/quantity must be an integer",
    ),
    (
        "patch location missing",
        "PATCH",
        ITEM,
        {
            "json": [{"op": "add", "path": "/note/0/text", "value": "x"}, {"op": "remove", "path": "/x/y"}],
            "headers": JP,
        },
        400,
        "JSON Patch operation 1 (remove /x/y): the location does not exist",
    ),
    (
        "patch test",
        "PATCH",
        ITEM,
        {"json": [{"op": "test", "path": "/description", "value": 5}], "headers": JP},
        409,
        "JSON Patch operation 0 (test /description): the value there is not the tested value",
    ),
    (
        "patch pointer",
        "PATCH",
        ITEM,
        {"json": [{"op": "remove", "path": "note"}], "headers": JP},
        400,
        "JSON Patch operation 0 (remove note): 'path' and 'from' must be JSON Pointers such as /note/0",
    ),
    (
        "media type",
        "POST",
        ORDERS,
        {"content": b"<x/>", "headers": {"Content-Type": "text/xml"}},
        415,
        "Content-Type 'text/xml' is not accepted here; use application/json",
    ),
    (
        "regex",
        "GET",
        f"{ORDERS}?description.regex=(a)%5C1",
        {},
        400,
        "'(a)\\1' is not a valid regular expression: invalid escape sequence: \\1",
    ),
    (
        "long unknown path",
        "GET",
        f"{ORDERS}/{'x' * 5000}/y",
        {},
        404,
        f"{ORDERS}/{'x' * (119 - len(ORDERS) - 1)}… is not a resource of this server",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "message"), [c[1:] for c in WORDING], ids=[c[0] for c in WORDING]
)
def test_wording(shared_client, seeded, method, path, kwargs, status, message) -> None:  # noqa: F811
    body = assert_tmf_error(shared_client.request(method, path.format(**seeded), **kwargs), status)
    assert body["message"] == message


@pytest.mark.parametrize(
    "leak",
    [
        # what the server used to answer
        "the request body is not valid JSON: maximum recursion depth exceeded while decoding a JSON object",
        "'abc' is not of type 'integer'\n\nFailed validating 'type' in schema:\n    {'name': 'limit',",
        "JSON Patch test failed: foo (<class 'str'>) is not equal to tested value 5 (<class 'int'>)",
        "JSON Patch cannot be applied: member 'x' not found in {'id': '1'}",
        "'(a)\\1' is not a valid regular expression: b'invalid escape sequence: \\\\1'",
        # and what it must never answer
        'Traceback (most recent call last):  File "/srv/app/tmfserver/app.py", line 1',
        "(psycopg.errors.NumericValueOutOfRange) bigint out of range",
        "sqlalchemy.exc.DataError: OverflowError('Python int too large to convert to SQLite INTEGER')",
        "ValueError('bad')",
        "jsonschema: 5 is not valid",
        "see /usr/lib/python3.11/json/decoder.py",
    ],
)
def test_the_deny_list_catches_internals(leak: str) -> None:
    with pytest.raises(AssertionError):
        assert_client_message(leak)


def test_the_deny_list_passes_client_terms() -> None:
    for message in [text for *_, text in WORDING]:
        assert INTERNALS.search(message) is None, message
