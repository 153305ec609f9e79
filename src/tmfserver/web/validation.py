"""Request body validators plugged into Connexion's validator map."""

from __future__ import annotations

import json
import re
import typing as t

from connexion.exceptions import BadRequestProblem
from connexion.utils import is_null, is_nullable
from connexion.validators import VALIDATOR_MAP, JSONRequestBodyValidator, MediaTypeDict, ParameterValidator
from jsonschema import Draft4Validator, ValidationError

from ..client_messages import body_problem, parameter_problem
from .compiled_schemas import CompiledSchemas

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


class _Refused(ValueError):
    """A JSON value the server does not take (raised from the json parser's hooks)."""


# PostgreSQL refuses NUL in text and JSONB; an unpaired surrogate (JSON "\\ud800") cannot be encoded at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _unstorable(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return "NUL characters (\\u0000)" if found.group() == "\x00" else "unpaired UTF-16 surrogates"


# Integers beyond what a float holds cannot be indexed for filtering (and 10**1000 as digits costs CPU).
_MAX_INT_DIGITS = 309


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _Refused(f"a number has more than {_MAX_INT_DIGITS} digits")
    value = int(text)
    try:
        float(value)
    except OverflowError:
        raise _Refused("a number is too large") from None
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Refused(f"the number {text[:40]} is out of range")
    return value


def _parse_constant(name: str) -> t.NoReturn:
    raise _Refused(f"{name} is not a JSON number")


def _limit_violation(value: t.Any, max_depth: int, max_items: int, max_string: int) -> str | None:
    """What makes a parsed body too big or unstorable, or None: nesting, array length, string length
    (member names too), NUL characters and unpaired surrogates."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > max_depth:
            return f"JSON nested deeper than {max_depth} levels"
        if isinstance(current, dict):
            for key, member in current.items():
                if len(key) > max_string:
                    return f"a member name is longer than {max_string} characters"
                if _unstorable(key):
                    return f"{_unstorable(key)} are not allowed in member names"
                stack.append((member, depth + 1))
        elif isinstance(current, list):
            if len(current) > max_items:
                return f"an array has more than {max_items} items"
            stack.extend((v, depth + 1) for v in current)
        elif isinstance(current, str):
            if len(current) > max_string:
                return f"a string is longer than {max_string} characters"
            if _unstorable(current):
                return f"{_unstorable(current)} are not allowed in strings"
    return None


def _without_member_nulls(value: t.Any) -> t.Any:
    """A JSON Merge Patch without its `null` members (RFC 7386: they remove keys, they are not values).

    Arrays are taken whole by a merge patch, so nothing inside them is touched."""
    if isinstance(value, dict):
        return {k: _without_member_nulls(v) for k, v in value.items() if v is not None}
    return value


# Why: docs/decisions/0009-own-json-body-validators.md
class TmfJsonBodyValidator(JSONRequestBodyValidator):
    """Connexion's JSON validator, plus: invalid UTF-8, over-deep nesting, over-long arrays and strings,
    NUL characters, NaN/Infinity and out-of-range numbers are 400s, not 500s;
    a PATCH body (a merge patch) is validated without its `null` members; messages name the place in the
    body (client_messages.py), never the parser's exception or the schema."""

    max_depth = 32
    max_items = 1000
    max_string = 10_000
    schemas = CompiledSchemas()  # validator_map gives each API its own
    _is_patch = False

    def _validate(self, body: t.Any) -> dict | None:
        """Connexion's check, with a message naming the place in the body instead of jsonschema's text.

        The schema's compiled validator answers first; only a body it does not vouch for goes through
        jsonschema (compiled_schemas.py), which decides and words the refusal."""
        if self._is_patch:
            body = _without_member_nulls(body)
        if body is None and not self._nullable:
            raise BadRequestProblem(detail="the request body must not be empty")
        # Why: docs/decisions/0042-compiled-body-validation.md
        schema = self.schemas(self._schema)
        if schema.surely_valid(body):
            return None
        try:
            schema.reference.validate(body)
        except ValidationError as exc:
            raise BadRequestProblem(detail=body_problem(exc)) from None
        return None

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
            body = json.loads(
                text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_parse_constant
            )
        except _Refused as exc:
            raise BadRequestProblem(detail=f"the request body is refused: {exc}") from None
        except json.JSONDecodeError as exc:
            if exc.msg.startswith("Unexpected UTF-8 BOM"):
                raise BadRequestProblem(detail="the request body starts with a byte order mark") from None
            where = f"line {exc.lineno}, column {exc.colno}"
            raise BadRequestProblem(
                detail=f"the request body is not valid JSON ({exc.msg} at {where})"
            ) from None
        except RecursionError:  # the parser's own nesting limit, far beyond max_depth
            raise BadRequestProblem(detail=f"JSON nested deeper than {self.max_depth} levels") from None
        except ValueError:
            raise BadRequestProblem(detail="the request body is not valid JSON") from None
        violation = _limit_violation(body, self.max_depth, self.max_items, self.max_string)
        if violation:
            raise BadRequestProblem(detail=violation)
        return body


class JsonPatchBodyValidator(TmfJsonBodyValidator):
    def __init__(self, *, schema: dict, **kwargs: t.Any) -> None:
        super().__init__(schema=JSON_PATCH_SCHEMA, **kwargs)


class TmfParameterValidator(ParameterValidator):
    """Connexion's parameter validator; a refusal says `query parameter 'limit' must be an integer` instead of
    jsonschema's text with a dump of the parameter's definition. Connexion builds this class for every
    request; the jsonschema validator of each parameter definition is built once, on its first use, and kept
    in `validators` (validator_map gives each API its own): Connexion passes the same definition object for
    every request of its operation. Building one per request was most of the cost of a parameter."""

    validators: dict[int, tuple[dict, Draft4Validator]] = {}

    @classmethod
    def validate_parameter(
        cls, parameter_type: str, value: t.Any, param: dict, param_name: str | None = None
    ) -> t.Any:
        if is_nullable(param) and is_null(value):
            return None
        name = str(param.get("name", param_name))
        if value is None:
            return f"{parameter_type} parameter '{name}' is required" if param.get("required") else None
        found = cls.validators.get(id(param))
        if found is None or found[0] is not param:  # the definition is held: its id() is not reused
            schema = param.get("schema", param)
            validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
            found = cls.validators[id(param)] = (param, validator)
        try:
            found[1].validate(value)
        except ValidationError as exc:
            return parameter_problem(parameter_type, name, exc)
        return None


def validator_map(max_depth: int, max_items: int, max_string: int) -> dict:
    """The validators of one API (one `add_api`): its own caches of compiled schemas and parameter
    validators, built on first use and dropped with the app."""
    limits = {"max_depth": max_depth, "max_items": max_items, "max_string": max_string}
    schemas = CompiledSchemas()
    json_validator = type("JsonBody", (TmfJsonBodyValidator,), {**limits, "schemas": schemas})
    patch_validator = type("JsonPatchBody", (JsonPatchBodyValidator,), {**limits, "schemas": schemas})
    parameter_validator = type("Parameters", (TmfParameterValidator,), {"validators": {}})
    return {
        **VALIDATOR_MAP,
        "parameter": parameter_validator,
        "body": MediaTypeDict(
            {
                "*/*json": json_validator,
                "application/json-patch+json": patch_validator,
                "application/json-patch-query+json": patch_validator,
            }
        ),
    }


def document_validator(document: dict, definition: str) -> Draft4Validator:
    """A validator for one definition of a served (Swagger 2) document, its $refs resolved in that document."""
    schema = {"definitions": document["definitions"], "$ref": f"#/definitions/{definition}"}
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
