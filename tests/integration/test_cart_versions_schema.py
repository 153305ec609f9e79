"""Both representations of a generated cart are valid in their own document: the v4 view against TMF663
v4.0.0's ShoppingCart, the v5 view against v5.0.0's (the served documents, as patched). The carts come from
the strategies of tests/unit/test_cart_versions.py, which cover every mapped property."""

from __future__ import annotations

import json
from functools import cache

from hypothesis import given, settings
from jsonschema import Draft4Validator, Draft202012Validator

from tests.unit.test_cart_versions import v4_carts, v5_carts
from tmfserver import specbuild
from tmfserver.domain.cart_versions import from_v5, to_v4, to_v5


@cache
def v4_validator() -> Draft4Validator:
    definitions = json.loads(specbuild.served_document_path("TMF663").read_text())["definitions"]
    schema = {"definitions": definitions, "$ref": "#/definitions/ShoppingCart"}
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


@cache
def v5_validator() -> Draft202012Validator:
    components = json.loads(specbuild.served_document_path("TMF663-v5").read_text())["components"]
    schema = {"components": components, "$ref": "#/components/schemas/ShoppingCart"}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def problems(validator, document: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


def stored_as_served(cart: dict) -> dict:
    """What the server adds to every stored cart before it is shown (ids and the links of a created one)."""
    return {"id": "01J0000000000000000000000", "href": "http://x/c/1", **cart}


@settings(max_examples=100, deadline=None)
@given(v4_carts)
def test_a_v4_cart_is_valid_in_both_documents(stored: dict) -> None:
    stored = stored_as_served(stored)
    assert problems(v4_validator(), to_v4(stored)) == []
    assert problems(v5_validator(), to_v5(stored)) == []


@settings(max_examples=100, deadline=None)
@given(v5_carts)
def test_a_v5_cart_is_valid_in_both_documents(written: dict) -> None:
    stored = stored_as_served(from_v5(written))
    assert problems(v5_validator(), to_v5(stored)) == []
    assert problems(v4_validator(), to_v4(stored)) == []
