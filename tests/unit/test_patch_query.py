"""query/patch_query.py: TMF630 JSON Patch Query paths → plain JSON Patch."""

from __future__ import annotations

import pytest

from tmfserver.query.patch_query import PatchQueryError, resolve, translate

CART = {
    "cartItem": [
        {"id": "1", "quantity": 1, "productOffering": {"id": "a"}, "cartItem": [{"id": "1.1", "quantity": 1}]},
        {"id": "2", "quantity": 2, "productOffering": {"id": "b"}},
        {"id": "3", "quantity": 2, "productOffering": {"id": "b"}},
    ]
}


@pytest.mark.parametrize(
    ("path", "pointers"),
    [
        ("/cartItem[?(@.id=='2')]/quantity", ["/cartItem/1/quantity"]),
        ('/cartItem[?(@.id=="2")]', ["/cartItem/1"]),
        ("/cartItem[?(@.productOffering.id=='b')]", ["/cartItem/1", "/cartItem/2"]),
        ("/cartItem[?(@.quantity==2 && @.id!='3')]", ["/cartItem/1"]),
        ("/cartItem[?(@.id=='1')]/cartItem[?(@.id=='1.1')]/quantity", ["/cartItem/0/cartItem/0/quantity"]),
        ("/cartItem?cartItem.id=='3'", ["/cartItem/2"]),
        ("/cartItem?id=2", ["/cartItem/1"]),
        ("/cartItem/0/quantity", ["/cartItem/0/quantity"]),
    ],
)
def test_resolve(path: str, pointers: list[str]) -> None:
    assert resolve(path, CART) == pointers


def test_no_match_is_marked() -> None:
    with pytest.raises(PatchQueryError) as raised:
        resolve("/cartItem[?(@.id=='9')]", CART)
    assert raised.value.no_match


@pytest.mark.parametrize(
    "path",
    [
        "/cartItem[?(@.id==open('x'))]",
        "/cartItem[?(@.id=='1' || @.id=='2')]",
        "/cartItem[?(@.id=='1)]",
        "cartItem",
    ],
)
def test_malformed_is_refused(path: str) -> None:
    with pytest.raises(PatchQueryError) as raised:
        resolve(path, CART)
    assert not raised.value.no_match


def test_removes_of_several_matches_go_from_the_highest_index() -> None:
    ops = translate([{"op": "remove", "path": "/cartItem[?(@.productOffering.id=='b')]"}], CART)
    assert [op["path"] for op in ops] == ["/cartItem/2", "/cartItem/1"]


def test_later_queries_see_earlier_operations() -> None:
    ops = translate(
        [
            {"op": "remove", "path": "/cartItem[?(@.id=='1')]"},
            {"op": "replace", "path": "/cartItem[?(@.id=='3')]/quantity", "value": 5},
        ],
        CART,
    )
    assert ops[1]["path"] == "/cartItem/1/quantity"
