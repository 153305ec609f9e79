"""`fields` keeps what the resource schema requires at every level, so projections stay schema-valid."""

from __future__ import annotations

import json

from tests.e2e._support import CANCELS, ORDERS
from tmfserver import specbuild
from tmfserver.query.projection import RequiredKeys, project
from tmfserver.web.validation import document_validator


def _tmf652() -> dict:
    return json.loads(specbuild.served_document_path("TMF652").read_text())


def test_required_keys_follow_refs_and_arrays() -> None:
    document = _tmf652()
    orders = RequiredKeys(document["definitions"], "ResourceOrder")
    assert orders.at(()) == ()
    assert orders.at(("relatedParty",)) == tuple(document["definitions"]["RelatedParty"]["required"])
    assert orders.at(("nowhere", "deeper")) == ()
    cancels = RequiredKeys(document["definitions"], "CancelResourceOrder")
    assert cancels.at(()) == ("resourceOrder",)


def test_nested_projection_keeps_required_members_and_validates() -> None:
    document = _tmf652()
    order = {
        "id": "1",
        "href": "h",
        "relatedParty": [
            {"id": "p1", "@referredType": "Individual", "name": "Ann", "role": "buyer"},
            {"id": "p2", "@referredType": "Organization", "role": "seller"},
        ],
    }
    shape = RequiredKeys(document["definitions"], "ResourceOrder")
    projected = project(order, (("relatedParty", "name"),), shape)
    assert projected["relatedParty"] == [
        {"name": "Ann", "id": "p1", "@referredType": "Individual"},
        {"id": "p2", "@referredType": "Organization"},
    ]
    assert list(document_validator(document, "ResourceOrder").iter_errors(projected)) == []


def test_fields_on_cancel_requests_keep_the_required_order_reference(client) -> None:
    order = client.post(ORDERS, json={}).json()
    created = client.post(CANCELS, json={"resourceOrder": {"id": order["id"]}}).json()
    for url in (f"{CANCELS}/{created['id']}?fields=state", f"{CANCELS}?fields=none"):
        response = client.get(url)  # response validation is on in tests: a missing resourceOrder would be a 500
        assert response.status_code == 200, response.text
        body = response.json()
        first = body[0] if isinstance(body, list) else body
        assert first["resourceOrder"]["id"] == order["id"]


def test_nested_fields_over_http_stay_schema_valid(client) -> None:
    order = client.post(
        ORDERS, json={"relatedParty": [{"id": "p1", "@referredType": "Individual", "name": "Ann"}]}
    ).json()
    response = client.get(f"{ORDERS}/{order['id']}?fields=relatedParty.name")
    assert response.status_code == 200, response.text
    assert response.json()["relatedParty"] == [{"name": "Ann", "id": "p1", "@referredType": "Individual"}]
