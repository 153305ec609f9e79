"""TMF notification envelopes (TMF688 style, as the v4 documents define them; `envelope_v5` for v5
documents). Pure: no I/O.

Event types are `<Resource><Kind>Event`, e.g. `ResourceOrderStateChangeEvent`; the payload sits under
`event.<resourceName>`. Attribute-value-change events carry `fieldPath`: the changed top-level attributes,
comma-separated. The documents spell the occurrence time `timeOcurred` (sic); both it and `eventTime` are set.
"""

from __future__ import annotations

from typing import Any

from ulid import ULID

CREATE = "Create"
ATTRIBUTE_VALUE_CHANGE = "AttributeValueChange"
STATE_CHANGE = "StateChange"
DELETE = "Delete"
INFORMATION_REQUIRED = "InformationRequired"


def event_type(resource_type: str, kind: str) -> str:
    return f"{resource_type}{kind}Event"


def envelope(
    resource_type: str,
    resource_name: str,
    kind: str,
    document: dict,
    now: str,
    *,
    field_path: list[str] | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": str(ULID()),
        "eventTime": now,
        "timeOcurred": now,
        "eventType": event_type(resource_type, kind),
        "event": {resource_name: document},
    }
    if field_path is not None:
        event["fieldPath"] = ",".join(field_path)
    return event


def envelope_v5(
    resource_type: str,
    resource_name: str,
    kind: str,
    document: dict,
    now: str,
    *,
    field_path: list[str] | None = None,
) -> dict[str, Any]:
    """The v5 (TMF630/TMF688 v5) envelope: the v4 one, plus its `@type` (an `Event` is Extensible), with the
    time it occurred spelt `timeOccurred`."""
    v4 = envelope(resource_type, resource_name, kind, document, now, field_path=field_path)
    occurred = v4.pop("timeOcurred")
    return {"@type": v4["eventType"], **v4, "timeOccurred": occurred}


def changed_fields(old: dict, new: dict) -> list[str]:
    """Top-level attributes whose value differs (added, removed or changed), in a stable order."""
    keys = list(dict.fromkeys([*old, *new]))
    return [key for key in keys if old.get(key, _ABSENT) != new.get(key, _ABSENT)]


_ABSENT = object()
