"""Request body validators plugged into Connexion's validator map."""

from __future__ import annotations

import json
import typing as t

from connexion.exceptions import BadRequestProblem
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, MediaTypeDict

# RFC 6902 operations, checked before the patch is applied (the documents have no schema for them).
JSON_PATCH_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["op", "path"],
        "properties": {
            "op": {"enum": ["add", "remove", "replace", "move", "copy", "test"]},
            "path": {"type": "string"},
            "from": {"type": "string"},
        },
    },
}


def _depth_exceeds(value: t.Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(current, dict):
            stack.extend((v, depth + 1) for v in current.values())
        elif isinstance(current, list):
            stack.extend((v, depth + 1) for v in current)
    return False


def _without_member_nulls(value: t.Any) -> t.Any:
    """A JSON Merge Patch without its `null` members (RFC 7386: they remove keys, they are not values).

    Arrays are taken whole by a merge patch, so nothing inside them is touched."""
    if isinstance(value, dict):
        return {k: _without_member_nulls(v) for k, v in value.items() if v is not None}
    return value


class TmfJsonBodyValidator(JSONRequestBodyValidator):
    """Connexion's JSON validator, plus: invalid UTF-8 and over-deep nesting are 400s, not 500s;
    a PATCH body (a merge patch) is validated without its `null` members."""

    max_depth = 32
    _is_patch = False

    def _validate(self, body: t.Any) -> dict | None:
        return super()._validate(_without_member_nulls(body) if self._is_patch else body)

    async def _parse(self, stream: t.AsyncGenerator[bytes, None], scope: t.Any) -> t.Any:
        self._is_patch = scope.get("method") == "PATCH"  # one validator instance per request
        raw = b"".join([message async for message in stream])
        try:
            text = raw.decode(self._encoding)
        except (UnicodeDecodeError, LookupError):
            raise BadRequestProblem(detail="the request body is not valid UTF-8") from None
        if not text:
            return None
        try:
            body = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise BadRequestProblem(detail=f"the request body is not valid JSON: {exc}") from None
        if _depth_exceeds(body, self.max_depth):
            raise BadRequestProblem(detail=f"JSON nested deeper than {self.max_depth} levels")
        return body


class JsonPatchBodyValidator(TmfJsonBodyValidator):
    def __init__(self, *, schema: dict, **kwargs: t.Any) -> None:
        super().__init__(schema=JSON_PATCH_SCHEMA, **kwargs)


def validator_map(max_depth: int) -> dict:
    json_validator = type("JsonBody", (TmfJsonBodyValidator,), {"max_depth": max_depth})
    patch_validator = type("JsonPatchBody", (JsonPatchBodyValidator,), {"max_depth": max_depth})
    return {
        **VALIDATOR_MAP,
        "body": MediaTypeDict(
            {
                "*/*json": json_validator,
                "application/json-patch+json": patch_validator,
            }
        ),
    }
