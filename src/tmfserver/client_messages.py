"""Error messages in the client's terms: which parameter, which place in the body, which limit, and what it
must be — never an exception's text, a schema, a Python repr or a stack frame.

Used where the validators' own texts would otherwise reach a TMF Error's `message`: request parameters and
bodies (web/validation.py), Connexion's other problems (web/error_responses.py), a patched document that no
longer fits its schema and JSON Patch operations that cannot be applied (services/resources.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from jsonschema import ValidationError

# Client-supplied text (member names, pointers) is cut to this many characters inside a message.
MAX_QUOTED = 120
# A message longer than this is cut: it is a summary, not a dump.
MAX_MESSAGE = 300
MAX_ENUM_SHOWN = 12

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def quoted(text: str, limit: int = MAX_QUOTED) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """The first line of `text`, cut to `limit`: what a message from elsewhere may show at most."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return quoted(first, limit)


def pointer(path: Iterable[Any]) -> str:
    """RFC 6901 JSON Pointer of a location (`/orderItem/0/quantity`); "" is the whole document."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _literal(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return "a value"


def _type_names(expected: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected or [])
    return " or ".join(_TYPE_NAMES.get(str(name), str(name)) for name in names) or "of another type"


def schema_problem(error: ValidationError) -> str:
    """What a JSON Schema (draft 4) error says must change, phrased for the client, without the place."""
    rule, expected, instance = error.validator, error.validator_value, error.instance
    if rule == "type":
        return f"must be {_type_names(expected)}"
    if rule == "required":
        have = instance if isinstance(instance, dict) else {}
        missing = [name for name in expected if name not in have] or list(expected)
        return f"needs '{quoted(str(missing[0]))}'"
    if rule == "enum":
        shown = ", ".join(_literal(v) for v in list(expected)[:MAX_ENUM_SHOWN])
        more = ", …" if len(expected) > MAX_ENUM_SHOWN else ""
        return f"must be one of {shown}{more}"
    if rule == "minimum":
        exclusive = bool(error.schema.get("exclusiveMinimum"))
        return f"must be {'greater than' if exclusive else 'at least'} {expected}"
    if rule == "maximum":
        exclusive = bool(error.schema.get("exclusiveMaximum"))
        return f"must be {'less than' if exclusive else 'at most'} {expected}"
    if rule == "multipleOf":
        return f"must be a multiple of {expected}"
    if rule == "minLength":
        return f"must be at least {expected} characters long"
    if rule == "maxLength":
        return f"must be at most {expected} characters long"
    if rule == "pattern":
        return f"must match the pattern {quoted(str(expected))}"
    if rule == "format":
        return f"must be a valid {expected}"
    if rule == "minItems":
        return f"must have at least {expected} items"
    if rule == "maxItems":
        return f"must have at most {expected} items"
    if rule == "uniqueItems":
        return "must not contain the same item twice"
    if rule == "minProperties":
        return f"must have at least {expected} members"
    if rule == "maxProperties":
        return f"must have at most {expected} members"
    if rule == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = [name for name in instance if name not in allowed] if isinstance(instance, dict) else []
        return f"must not have '{quoted(str(extra[0]))}'" if extra else "has members that are not allowed"
    if rule in ("oneOf", "anyOf"):
        return "does not match any of the forms allowed here"
    if rule == "not":
        return "is not allowed here"
    return f"is not valid here ({rule})"


def body_problem(error: ValidationError, what: str = "body") -> str:
    """`body: /orderItem/0/quantity must be an integer`; `body must be an object` for the whole document."""
    where = pointer(error.absolute_path)
    return f"{what}: {quoted(where)} {schema_problem(error)}" if where else f"{what} {schema_problem(error)}"


def parameter_problem(location: str, name: str, error: ValidationError) -> str:
    """`query parameter 'limit' must be an integer`."""
    return f"{location} parameter '{quoted(name)}' {schema_problem(error)}"


# --- JSON Patch (RFC 6902) ---------------------------------------------------------------------------------


def json_patch_operation(index: int, operation: Any) -> str:
    """`JSON Patch operation 2 (replace /state)`."""
    if not isinstance(operation, dict):
        return f"JSON Patch operation {index}"
    op, path = operation.get("op"), operation.get("path")
    shown = " ".join(quoted(str(v)) for v in (op, path) if isinstance(v, str))
    return f"JSON Patch operation {index} ({shown})" if shown else f"JSON Patch operation {index}"


def json_patch_problem(operation: Any, missing_location: bool) -> str:
    """Why a JSON Patch operation cannot be applied, from the operation itself (jsonpatch's texts hold reprs
    of the document and of Python types)."""
    op = operation.get("op") if isinstance(operation, dict) else None
    if op in ("add", "replace", "test") and "value" not in operation:
        return "it has no 'value'"
    if op in ("move", "copy") and "from" not in operation:
        return "it has no 'from'"
    if op == "move" and str(operation.get("path", "")).startswith(str(operation.get("from")) + "/"):
        return "a value cannot be moved into itself"
    if missing_location:
        if op in ("move", "copy"):
            return f"'from' {quoted(str(operation.get('from')))} does not exist"
        if op == "add":
            return "the place to add to does not exist (the parent is missing, or the index is past the end)"
        return "the location does not exist"
    return "does not fit the document (a path goes through a value that is not an object or array)"
