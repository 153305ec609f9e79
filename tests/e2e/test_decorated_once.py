"""web/async_app.py: an operation's handler is decorated once, however many requests it serves, and the
requests still get their own arguments and answers (decision 0050)."""

from __future__ import annotations

from connexion.decorators.main import BaseDecorator

from ._support import KIT_ORDER, ORDERS


def test_a_handler_is_decorated_once_and_each_request_gets_its_own_arguments(client, monkeypatch) -> None:
    built: list[str] = []
    decorate = BaseDecorator.decorate

    def counting(self: BaseDecorator, function):
        built.append(function.__name__)
        return decorate(self, function)

    monkeypatch.setattr(BaseDecorator, "decorate", counting)
    ids = [client.post(ORDERS, json={**KIT_ORDER, "externalId": f"x{n}"}).json()["id"] for n in range(3)]
    for order_id in ids:
        answer = client.get(f"{ORDERS}/{order_id}")
        assert answer.status_code == 200 and answer.json()["id"] == order_id
    assert client.get(f"{ORDERS}/unknown").status_code == 404
    listed = client.get(ORDERS, params={"externalId": "x1"})
    assert [order["id"] for order in listed.json()] == [ids[1]]
    # At most one decoration per operation used above (none if an earlier test already built them).
    assert built.count("create_resource_order") <= 1
    assert built.count("retrieve_resource_order") <= 1
    assert built.count("list_resource_order") <= 1
