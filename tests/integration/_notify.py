"""Helpers for the notification suites: paths, spec validation of received events, a settable clock."""

from __future__ import annotations

import json
import re
import time
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from sqlalchemy import select

# The HTTP suite's paths and formats; the collection paths are re-exported for the notification suites.
from tests.e2e._support import CANCELS as CANCELS
from tests.e2e._support import CART_API, ORDER_API, ULID_RE, UTC_MS_RE
from tests.e2e._support import CARTS as CARTS
from tests.e2e._support import MERGE_PATCH as MERGE_PATCH_TYPE
from tests.e2e._support import ORDERS as ORDERS
from tmfserver import specbuild
from tmfserver.notify.dispatcher import Dispatcher
from tmfserver.store.models import Delivery, OutboxEvent

BASE = {"TMF652": ORDER_API, "TMF663": CART_API}
MERGE_PATCH = {"Content-Type": MERGE_PATCH_TYPE}

# event.<key> of each event type's payload
PAYLOAD_KEY = {
    "ResourceOrder": "resourceOrder",
    "CancelResourceOrder": "cancelResourceOrder",
    "ShoppingCart": "shoppingCart",
}


def spec_path(api: str) -> Path:
    """The official document as pinned (falls back to the build copy when ../shared is not on this machine)."""
    pin = next(pin for pin in specbuild.pins() if pin.name == api)
    official = specbuild.DEFAULT_MIRROR / pin.file
    return official if official.is_file() else specbuild.served_document_path(api)


@cache
def _definitions(api: str) -> dict:
    return json.loads(spec_path(api).read_text())["definitions"]


@cache
def event_validator(api: str, event_type: str) -> Draft4Validator:
    definitions = _definitions(api)
    assert event_type in definitions, f"{api} defines no {event_type}"
    # Swagger 2.0 schemas are draft-4; `$ref`s into #/definitions resolve against this root.
    schema = {"$ref": f"#/definitions/{event_type}", "definitions": definitions}
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


def api_of(event_type: str) -> str:
    return "TMF663" if event_type.startswith("ShoppingCart") else "TMF652"


def check_envelope(event: dict) -> dict:
    """Assert `event` is a well-formed, spec-valid envelope; returns the resource it carries."""
    event_type = event["eventType"]
    errors = sorted(event_validator(api_of(event_type), event_type).iter_errors(event), key=str)
    assert not errors, f"{event_type} does not match the document: {[e.message for e in errors]}"
    assert ULID_RE.match(event["eventId"]), event["eventId"]
    assert UTC_MS_RE.match(event["eventTime"]), event["eventTime"]
    resource_type = re.match(
        r"^(ResourceOrder|CancelResourceOrder|ShoppingCart)(Create|AttributeValueChange|StateChange|Delete|"
        r"InformationRequired)Event$",
        event_type,
    )
    assert resource_type, event_type
    key = PAYLOAD_KEY[resource_type.group(1)]
    assert list(event["event"]) == [key], event["event"].keys()
    resource = event["event"][key]
    assert isinstance(resource, dict) and isinstance(resource.get("id"), str)
    if resource_type.group(2) == "AttributeValueChange":
        assert isinstance(event.get("fieldPath"), str) and event["fieldPath"], event
    else:
        assert "fieldPath" not in event, event
    return resource


def summary(events: list[dict]) -> list[tuple]:
    """(eventType, resource state, fieldPath) of each event, in order."""
    out = []
    for event in events:
        resource = check_envelope(event)
        out.append((event["eventType"], resource.get("state"), event.get("fieldPath")))
    return out


def of_resource(events: list[dict], resource_id: str) -> list[dict]:
    return [e for e in events if next(iter(e["event"].values()))["id"] == resource_id]


def drain(dispatcher: Dispatcher, passes: int = 200) -> int:
    """Run passes until nothing is due; returns the number of deliveries attempted."""
    total = 0
    for _ in range(passes):
        done = dispatcher.run_once()
        if not done:
            return total
        total += done
    raise AssertionError("the outbox did not drain")


def subscribe(client: Any, callback: str, query: str | None = None, api: str = "TMF652") -> dict:
    body = {"callback": callback} if query is None else {"callback": callback, "query": query}
    response = client.post(f"{BASE[api]}/hub", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def create(client: Any, path: str, body: dict) -> dict:
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def patch(client: Any, path: str, body: dict) -> dict:
    response = client.patch(path, json=body, headers=MERGE_PATCH)
    assert response.status_code == 200, response.text
    return response.json()


def deliveries(app: Any) -> list[Delivery]:
    with app.deps.sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.pk)))


def outbox_events(app: Any) -> list[OutboxEvent]:
    with app.deps.sessions() as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.pk)))


class Clock:
    """A settable clock for the dispatcher; starts at real time because publish stamps with time.time()."""

    def __init__(self) -> None:
        self.now = time.time() + 1.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def wait_until(predicate: Any, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
