"""Through the app, the compiled body validator changes nothing a client sees: each request gets the same
status, and each refusal the same TMF Error body, as when jsonschema decides every body (the server before it).
docs/decisions/0042-compiled-body-validation.md; the decisions on a generated corpus of every operation:
tests/integration/test_validation_differential.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from tmfserver.web.compiled_schemas import CompiledSchema

from ._support import CANCELS, CARTS, JSON_PATCH, MERGE_PATCH, ORDERS

V5_CARTS = "/tmf-api/shoppingCart/v5/shoppingCart"
HUB = "/tmf-api/resourceOrderingManagement/v4/hub"
ITEM = {"id": "1", "action": "add", "quantity": 1}

J, MP, JP = "application/json", MERGE_PATCH, JSON_PATCH
ORDER, CART = f"{ORDERS}/{{order}}", f"{CARTS}/{{cart}}"

# (id, method, path ("{order}", "{cart}": created first), body, content type, whether the schema takes it)
CASES: list[tuple[str, str, str, Any, str, bool]] = [
    ("order", "POST", ORDERS, {"description": "x", "orderItem": [ITEM]}, J, True),
    ("order, leap second", "POST", ORDERS, {"requestedStartDate": "2026-12-31T23:59:60Z"}, J, False),
    ("order, quantity 1.0", "POST", ORDERS, {"orderItem": [{**ITEM, "quantity": 1.0}]}, J, False),
    ("order, item null", "POST", ORDERS, {"orderItem": [None]}, J, False),
    ("order, priority word", "POST", ORDERS, {"priority": "high"}, J, False),
    ("order, bad uri", "POST", ORDERS, {"@schemaLocation": "not a uri"}, J, False),
    ("order, an array", "POST", ORDERS, [ITEM], J, False),
    ("cancel, no order", "POST", CANCELS, {"cancellationReason": "x"}, J, False),
    ("cart v4", "POST", CARTS, {"cartItem": [{"id": "1", "quantity": 2}]}, J, True),
    ("cart v4, quantity true", "POST", CARTS, {"cartItem": [{"id": "1", "quantity": True}]}, J, False),
    ("cart v5", "POST", V5_CARTS, {"@type": "ShoppingCart", "cartItem": []}, J, True),
    ("cart v5, no @type", "POST", V5_CARTS, {"cartItem": []}, J, False),
    ("cart v5, item without @type", "POST", V5_CARTS, {"@type": "ShoppingCart", "cartItem": [{}]}, J, False),
    ("hub, no callback", "POST", HUB, {"query": "x"}, J, False),
    ("merge patch", "PATCH", ORDER, {"description": "y", "note": None}, MP, True),
    ("merge patch, state 5", "PATCH", ORDER, {"state": 5}, MP, False),
    ("json patch", "PATCH", CART, [{"op": "add", "path": "/description", "value": "x"}], JP, True),
    ("json patch, bad op", "PATCH", CART, [{"op": "launch", "path": "/x"}], JP, False),
]


def _send(client, seeded: dict[str, str]) -> list[tuple[int, dict]]:
    answers = []
    for _name, method, path, body, content_type, _valid in CASES:
        response = client.request(
            method, path.format(**seeded), json=body, headers={"Content-Type": content_type}
        )
        answer = response.json() if response.content else {}
        if isinstance(answer, dict):
            answer.pop("requestId", None)
        answers.append((response.status_code, answer))
    return answers


@pytest.fixture
def seeded(client) -> dict[str, str]:
    order = client.post(ORDERS, json={"orderItem": [ITEM]})
    cart = client.post(CARTS, json={"cartItem": [{"id": "1", "quantity": 1}]})
    return {"order": order.json()["id"], "cart": cart.json()["id"]}


def test_the_same_answers_as_when_jsonschema_decides_every_body(client, seeded, monkeypatch) -> None:
    fast_path: list[bool] = []
    surely_valid = CompiledSchema.surely_valid

    def recorded(self: CompiledSchema, body: Any) -> bool:
        fast_path.append(surely_valid(self, body))
        return fast_path[-1]

    monkeypatch.setattr(CompiledSchema, "surely_valid", recorded)
    compiled = _send(client, seeded)
    assert fast_path.count(True) == sum(valid for *_, valid in CASES)  # the compiled validator was asked

    monkeypatch.setattr(CompiledSchema, "surely_valid", lambda self, body: False)
    reference = _send(client, seeded)

    for case, (status, body), (status_before, body_before) in zip(CASES, compiled, reference, strict=True):
        name, valid = case[0], case[-1]
        assert status == status_before, name
        if valid:
            assert status < 300, (name, body)
        else:
            assert status == 400, (name, body)
            assert body == body_before, name
