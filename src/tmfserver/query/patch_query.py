"""TMF630 JSON Patch Query (`application/json-patch-query+json`) → plain RFC 6902 JSON Patch. Pure, no eval.

A JSON Patch Query operation is an RFC 6902 operation whose `path` (and `from`) may select array elements by
a condition instead of an index. Two spellings are accepted:

- JSONPath filters, as TMF630 Part 5 shows them: `/cartItem[?(@.id=='2')]/quantity`; a condition is
  `@.<dotted path> <op> <literal>` with op `==` or `!=`, conditions joined by `&&`; literals are quoted
  strings ('…' or "…"), numbers, `true`, `false`, `null`. Filters may follow each other down the path:
  `/cartItem[?(@.id=='1')]/cartItem[?(@.id=='2')]/quantity`.
- The query-string form of the TMF663 v5 examples: `/cartItem?cartItem.id=='2'` or `/cartItem?id=2`
  (the attribute path may repeat the array's name; `&&` or `&` joins conditions; the value may be quoted).

Each selected element becomes one plain operation at its index; several matches give several operations
(`remove`s from the highest index down, so each index is still right when it applies). A query selecting
nothing raises PatchQueryError(no_match=True). The result is applied as an ordinary, atomic JSON Patch.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any


class PatchQueryError(ValueError):
    def __init__(self, message: str, *, no_match: bool = False) -> None:
        super().__init__(message)
        self.no_match = no_match


@dataclass(frozen=True)
class Condition:
    path: tuple[str, ...]
    negated: bool
    value: Any


@dataclass(frozen=True)
class Step:
    key: str  # a member name (unescaped)
    conditions: tuple[Condition, ...] | None = None  # a filter on the array at `key`


_FILTER = re.compile(r"^(?P<key>[^\[]*)\[\?\((?P<expr>.*)\)\]$", re.DOTALL)
_CONDITION = re.compile(
    r"""^\s*(?:@\.)?(?P<path>[A-Za-z0-9_@$\-]+(?:\.[A-Za-z0-9_@$\-]+)*)\s*(?P<op>==|!=|=)\s*(?P<value>.+?)\s*$""",
    re.DOTALL,
)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][+-]?\d+)?$")
MAX_MATCHES = 1000


def _literal(text: str, quoted_only: bool) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if not quoted_only:
        return text  # the query-string form is untyped (?id=2, ?quantity=2): compared as text
    if text == "true":
        return True
    if text == "false":
        return False
    if text == "null":
        return None
    if _NUMBER.match(text):
        return float(text) if any(c in text for c in ".eE") else int(text)
    raise PatchQueryError(f"'{text}' is not a literal (quote strings)")


def _split_conditions(expression: str) -> list[str]:
    """Split on `&&` (or `&`) outside quotes."""
    parts, current, quote, index = [], [], "", 0
    while index < len(expression):
        char = expression[index]
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == "&":
            parts.append("".join(current))
            current = []
            if expression[index : index + 2] == "&&":
                index += 1
        elif char == "|":
            raise PatchQueryError("'||' is not supported: send one operation per alternative")
        else:
            current.append(char)
        index += 1
    if quote:
        raise PatchQueryError("an unterminated quote in a patch query")
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def _conditions(expression: str, array_key: str, query_string: bool) -> tuple[Condition, ...]:
    found = []
    for text in _split_conditions(expression):
        matched = _CONDITION.match(text)
        if not matched:
            raise PatchQueryError(f"'{text.strip()}' is not a condition (use @.attribute=='value')")
        path = tuple(matched.group("path").split("."))
        if query_string and len(path) > 1 and path[0] == array_key:
            path = path[1:]
        op = matched.group("op")
        if op == "=" and not query_string:
            raise PatchQueryError("use == in a filter expression")
        found.append(Condition(path, op == "!=", _literal(matched.group("value"), not query_string)))
    if not found:
        raise PatchQueryError("an empty patch query")
    return tuple(found)


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def parse_path(path: str) -> list[Step]:
    """A query path → steps. Plain pointers come back as steps without conditions."""
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchQueryError(f"'{path}' is not a JSON Pointer (must start with /)")
    query_string = None
    if "?" in path and "[?" not in path:
        path, query_string = path.split("?", 1)
    steps: list[Step] = []
    # split on '/' outside [...] (a filter's quoted value may hold a '/')
    tokens, current, depth, quote = [], [], 0, ""
    for char in path[1:]:
        if quote:
            current.append(char)
            if char == quote:
                quote = ""
            continue
        if char in "'\"" and depth:
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "/" and depth == 0:
            tokens.append("".join(current))
            current = []
            continue
        current.append(char)
    tokens.append("".join(current))
    for token in tokens:
        matched = _FILTER.match(token)
        if matched:
            key = _unescape(matched.group("key"))
            steps.append(Step(key, _conditions(matched.group("expr"), key, query_string=False)))
        else:
            steps.append(Step(_unescape(token)))
    if query_string is not None:
        if not steps:
            raise PatchQueryError("a patch query needs an array to select from")
        last = steps[-1]
        steps[-1] = Step(last.key, _conditions(query_string, last.key, query_string=True))
    return steps


def _value_at(element: Any, path: tuple[str, ...]) -> list[Any]:
    """The values at a dotted path (into arrays too: any element may match)."""
    values = [element]
    for segment in path:
        following = []
        for value in values:
            if isinstance(value, dict) and segment in value:
                inner = value[segment]
                following.extend(inner if isinstance(inner, list) else [inner])
            elif isinstance(value, list):
                following.extend(v[segment] for v in value if isinstance(v, dict) and segment in v)
        values = following
    return values


def _equal(value: Any, wanted: Any) -> bool:
    if isinstance(value, bool) or isinstance(wanted, bool):
        return value is wanted
    if isinstance(value, int | float) and isinstance(wanted, int | float):
        return value == wanted
    if isinstance(value, int | float | bool) and isinstance(wanted, str):
        return json.dumps(value) == wanted  # the query-string form has no types: ?quantity=2
    return value == wanted


def _selects(element: Any, conditions: tuple[Condition, ...]) -> bool:
    for condition in conditions:
        hit = any(_equal(v, condition.value) for v in _value_at(element, condition.path))
        if hit == condition.negated:
            return False
    return True


def resolve(path: str, document: Any) -> list[str]:
    """Every concrete JSON Pointer a query path selects in `document` (a plain pointer: itself)."""
    steps = parse_path(path)
    if all(step.conditions is None for step in steps):
        return [path]
    pointers: list[tuple[str, Any]] = [("", document)]
    for step in steps:
        following: list[tuple[str, Any]] = []
        for pointer, value in pointers:
            here = f"{pointer}/{_escape(step.key)}"
            inner = value.get(step.key) if isinstance(value, dict) else None
            if step.conditions is None:
                if isinstance(value, list) and step.key.isdigit() and int(step.key) < len(value):
                    inner = value[int(step.key)]
                following.append((here, inner))
                continue
            if not isinstance(inner, list):
                continue
            for index, element in enumerate(inner):
                if _selects(element, step.conditions):
                    following.append((f"{here}/{index}", element))
        pointers = following
        if len(pointers) > MAX_MATCHES:
            raise PatchQueryError(f"the query selects more than {MAX_MATCHES} elements")
    if not pointers:
        raise PatchQueryError(f"'{path}' selects nothing in the resource", no_match=True)
    return [pointer for pointer, _value in pointers]


def _index_key(pointer: str) -> tuple:
    return tuple(int(p) if p.isdigit() else -1 for p in pointer.split("/")[1:])


def translate(operations: list[dict], document: Any) -> list[dict]:
    """JSON Patch Query operations → plain JSON Patch operations on `document` (each query resolved against
    the document as the preceding operations leave it, as a patch applies in order)."""
    import jsonpatch  # local: the translation itself needs none of it

    plain: list[dict] = []
    current = document
    for operation in operations:
        if not isinstance(operation, dict) or not isinstance(operation.get("path"), str):
            raise PatchQueryError("each operation needs a string 'path'")
        targets = resolve(operation["path"], current)
        source = operation.get("from")
        if isinstance(source, str):
            sources = resolve(source, current)
            if len(sources) != 1:
                raise PatchQueryError(f"'from' must select exactly one element, it selects {len(sources)}")
            source = sources[0]
        if operation.get("op") == "remove":
            targets = sorted(targets, key=_index_key, reverse=True)
        step = []
        for target in targets:
            translated = {**operation, "path": target}
            if source is not None:
                translated["from"] = source
            step.append(translated)
        # applying it for real reports any error, with the right status
        with contextlib.suppress(
            jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, ValueError, KeyError
        ):
            current = jsonpatch.apply_patch(current, step, in_place=False)
        plain.extend(step)
    return plain
