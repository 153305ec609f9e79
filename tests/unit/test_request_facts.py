"""web/context reads the request's path and headers from the ASGI scope: the same values as Starlette's
`request.url.path` and `request.headers`, without building those objects."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from tmfserver.web.context import header, header_values, request_path


def _scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "method": "POST",
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "path": path,
        "query_string": b"",
        "headers": headers,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/tmf-api/resourceOrderingManagement/v4/resourceOrder",
        "/tmf-api/x/v4/a?b#c\\d",  # decoded %3F, %23 and %5C: Starlette escapes them again
        "/tmf-api/x/v4/caf\u00e9",
    ],
)
def test_the_path_is_the_one_starlette_gives(path: str) -> None:
    scope = _scope(path, [])
    assert request_path(scope) == Request(scope).url.path


def test_headers_are_the_ones_starlette_gives_in_order_and_decoded_the_same() -> None:
    headers = [
        (b"host", b"example.com:8443"),
        (b"idempotency-key", b"first"),
        (b"x-other", b"\xe9t\xe9"),  # latin-1, as Starlette decodes
        (b"idempotency-key", b"second"),
    ]
    scope = _scope("/", headers)
    starlette_headers = Request(scope).headers
    assert (
        header_values(b"idempotency-key", scope)
        == starlette_headers.getlist("idempotency-key")
        == [
            "first",
            "second",
        ]
    )
    assert header(b"x-other", scope) == starlette_headers["x-other"] == "\u00e9t\u00e9"
    assert header(b"host", scope) == "example.com:8443"
    assert header(b"if-match", scope) is None and header_values(b"if-match", scope) == []
