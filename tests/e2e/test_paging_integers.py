"""Every integer query parameter of every operation of every served document, fed the extremes: a 400 TMF
Error naming the parameter when the value is not an integer from 0 to 2^31 - 1, the normal answer when it is,
never a 500. The operations are read from the documents the app serves (build/openapi/ and the extension
documents), so an operation added to a document is covered without touching this file.

Run on both backends (`--db=postgresql`): 2^63 was a 500 on both (SQLite: OverflowError; PostgreSQL: bigint
out of range), and 2^31 - 1 must reach either database as an ordinary OFFSET.
"""

from __future__ import annotations

import pytest

from tmfserver import specdiff
from tmfserver.bootstrap import load_document
from tmfserver.query.parse import MAX_PAGING_VALUE
from tmfserver.registry import SERVED

from ._support import assert_tmf_error

REFUSED = [
    str(MAX_PAGING_VALUE + 1),  # 2^31
    str(2**63 - 1),
    str(2**63),
    str(2**64 + 1),
    "1" + "0" * 100,
    "9" * 4000,
    "-1",
    "-0",
    str(-(2**63)),
    "1e3",
    "1E3",
    "1.5",
    "1.0",
    "",
    "abc",
    "0x10",
    "+5",
    " 5",
    "5 ",
    "1_000",
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "NaN",
    "Infinity",
]
ACCEPTED = ["0", "1", "0007", str(MAX_PAGING_VALUE)]


def _resolve(document: dict, parameter: dict) -> dict:
    """A parameter, its `$ref` followed (Swagger 2 `#/parameters/…`, OpenAPI 3 `#/components/parameters/…`)."""
    while "$ref" in parameter:
        node: dict = document
        for part in parameter["$ref"].lstrip("#/").split("/"):
            node = node[part]
        parameter = node
    return parameter


def _is_integer(parameter: dict) -> bool:
    return (parameter.get("schema") or parameter).get("type") == "integer"  # OpenAPI 3 / Swagger 2


def integer_query_parameters() -> list[tuple[str, str, str]]:
    """(method, path template with the base path, parameter name) for every integer query parameter."""
    found = []
    for spec in (spec for api in SERVED for spec in api.documents):
        document = load_document(spec).content
        base = specdiff.base_path(document)
        for template, operations in document["paths"].items():
            path_level = operations.get("parameters", [])
            for method, operation in operations.items():
                if not isinstance(operation, dict) or "operationId" not in operation:
                    continue
                for parameter in [*path_level, *operation.get("parameters", [])]:
                    parameter = _resolve(document, parameter)
                    if parameter.get("in") == "query" and _is_integer(parameter):
                        found.append((method.upper(), base + template, parameter["name"]))
    return found


PARAMETERS = integer_query_parameters()


def test_the_documents_have_integer_parameters() -> None:
    """Guard: an empty parametrisation would pass silently."""
    names = {name for _method, _path, name in PARAMETERS}
    assert {"offset", "limit"} <= names
    assert len(PARAMETERS) >= 8  # offset and limit of the four list operations (TMF663 v5 too), today


def _request(client, method: str, template: str, name: str, value: str):
    path = template.replace("{", "").replace("}", "")  # a path parameter gets its own name as value
    return client.request(method, path, params={name: value})


@pytest.mark.parametrize("value", REFUSED, ids=[v[:12] or "empty" for v in REFUSED])
@pytest.mark.parametrize(
    ("method", "template", "name"), PARAMETERS, ids=[f"{m} {p} {n}" for m, p, n in PARAMETERS]
)
def test_out_of_range_or_not_an_integer_is_400(shared_client, method, template, name, value) -> None:
    response = _request(shared_client, method, template, name, value)
    body = assert_tmf_error(response, 400)
    assert body["message"].startswith(f"query parameter '{name}' must "), body["message"]


@pytest.mark.parametrize("value", ACCEPTED)
@pytest.mark.parametrize(
    ("method", "template", "name"), PARAMETERS, ids=[f"{m} {p} {n}" for m, p, n in PARAMETERS]
)
def test_integers_in_range_are_served(shared_client, method, template, name, value) -> None:
    response = _request(shared_client, method, template, name, value)
    if method == "GET" and "{" not in template:  # a collection: the page
        assert response.status_code == 200, response.text
        assert isinstance(response.json(), list)
    else:  # an operation needing more than this parameter may refuse the rest of the request, not the value
        assert response.status_code < 500, response.text
        if response.status_code == 400:
            assert f"'{name}'" not in response.json()["message"]


def test_the_largest_offset_pages_past_the_end(shared_client) -> None:
    """2^31 - 1 reaches the database as an ordinary OFFSET: an empty page, the total, a `first` link."""
    shared_client.post("/tmf-api/shoppingCart/v4/shoppingCart", json={})
    response = shared_client.get(
        "/tmf-api/shoppingCart/v4/shoppingCart", params={"offset": str(MAX_PAGING_VALUE)}
    )
    assert response.status_code == 200, response.text
    assert response.json() == []
    assert int(response.headers["X-Total-Count"]) >= 1
    assert 'rel="prev"' in response.headers["Link"]
