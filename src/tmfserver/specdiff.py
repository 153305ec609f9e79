"""What changed between two versions of an API document: the review report of `tmfserver spec-upgrade` and
`tmfserver spec-diff`. Pure: two parsed documents in, a `Report` out (Swagger 2.0 and OpenAPI 3 alike).

- operations by method and path (relative to each document's base path): added, removed, changed
  (operationId, parameters, request and response media types, response statuses);
- the schemas of the served resources, walked property by property from the resource's definition in each
  document (so a renamed definition, e.g. RelatedParty → RelatedPartyOrPartyRole, is followed by the
  property that holds it): properties added, removed, renamed (case only: ItemTotalPrice → itemTotalPrice),
  newly required or no longer required, and changed types;
- the media types the documents declare.

Which operationIds have no handler yet is the CLI's part (it knows the handler modules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MAX_DEPTH = 4  # property levels walked below a resource (recursive schemas stop at a repeated pair anyway)


@dataclass
class Report:
    old: str
    new: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    schemas: dict[str, list[str]] = field(default_factory=dict)  # resource → lines
    media_types: list[str] = field(default_factory=list)
    unhandled: list[str] | None = None  # filled by the CLI

    def render(self) -> str:
        lines = [f"# {self.old} → {self.new}", ""]

        def section(title: str, items: list[str]) -> None:
            lines.append(f"## {title} ({len(items)})")
            lines.extend(f"- {item}" for item in items) if items else lines.append("- none")
            lines.append("")

        section("Operations added", self.added)
        section("Operations removed", self.removed)
        section("Operations changed", self.changed)
        for resource, items in self.schemas.items():
            section(f"Schema of {resource}", items)
        section("Media types", self.media_types)
        if self.unhandled is not None:
            section("OperationIds with no handler yet", self.unhandled)
        return "\n".join(lines).rstrip() + "\n"


# --- documents ------------------------------------------------------------------------------------------


def is_openapi3(document: dict) -> bool:
    return str(document.get("openapi", "")).startswith("3")


def base_path(document: dict) -> str:
    if is_openapi3(document):
        url = (document.get("servers") or [{"url": "/"}])[0].get("url", "/")
        return urlsplit(url).path.rstrip("/")
    return str(document.get("basePath", "")).rstrip("/")


def schemas(document: dict) -> dict[str, Any]:
    if is_openapi3(document):
        return document.get("components", {}).get("schemas", {})
    return document.get("definitions", {})


def _deref(document: dict, node: Any) -> Any:
    seen = 0
    while isinstance(node, dict) and "$ref" in node and seen < 20:
        parts = node["$ref"].lstrip("#/").split("/")
        target: Any = document
        for part in parts:
            key = part.replace("~1", "/").replace("~0", "~")
            target = target.get(key, {}) if isinstance(target, dict) else {}
        node, seen = target, seen + 1
    return node


@dataclass(frozen=True)
class Operation:
    operation_id: str
    parameters: tuple[str, ...]  # "in:name", required marked with *
    request_types: tuple[str, ...]
    responses: tuple[str, ...]  # statuses
    response_types: tuple[str, ...]


def operations(document: dict) -> dict[str, Operation]:
    """`METHOD /path` → its operation."""
    found: dict[str, Operation] = {}
    v3 = is_openapi3(document)
    for path, item in document.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            params = []
            request_types: list[str] = []
            for raw in [*shared, *op.get("parameters", [])]:
                param = _deref(document, raw)
                if not v3 and param.get("in") == "body":
                    request_types = list(op.get("consumes", document.get("consumes", [])))
                    continue
                if param.get("in") == "header" and param.get("name", "").lower() in ("content-type", "accept"):
                    continue
                params.append(f"{param.get('in')}:{param.get('name')}{'*' if param.get('required') else ''}")
            if v3 and "requestBody" in op:
                request_types = list(_deref(document, op["requestBody"]).get("content", {}))
            if not v3 and op.get("consumes") and not request_types and method in ("post", "put", "patch"):
                request_types = list(op["consumes"])
            response_types: set[str] = set()
            for response in op.get("responses", {}).values():
                response = _deref(document, response)
                if v3:
                    response_types.update(response.get("content", {}))
                elif "schema" in response:
                    response_types.update(op.get("produces", document.get("produces", [])))
            found[f"{method.upper()} {path}"] = Operation(
                op.get("operationId", ""),
                tuple(sorted(params)),
                tuple(sorted(request_types)),
                tuple(sorted(op.get("responses", {}))),
                tuple(sorted(response_types)),
            )
    return found


# --- schemas --------------------------------------------------------------------------------------------


@dataclass
class Flat:
    """A schema with $ref, allOf and anyOf/oneOf branches merged: its properties, required and a label."""

    label: str
    properties: dict[str, Any]
    required: set[str]


def flatten(document: dict, node: Any, depth: int = 0) -> Flat:
    label = describe(node)
    node = _deref(document, node)
    if not isinstance(node, dict) or depth > 12:
        return Flat(label, {}, set())
    if node.get("type") == "array" and "items" in node:
        inner = flatten(document, node["items"], depth + 1)
        return Flat(f"[{inner.label}]", inner.properties, inner.required)
    properties: dict[str, Any] = {}
    required: set[str] = set(node.get("required", []))
    for part in node.get("allOf", []):
        flat = flatten(document, part, depth + 1)
        properties.update(flat.properties)
        required |= flat.required
    for key in ("anyOf", "oneOf"):
        for part in node.get(key, []):
            flat = flatten(document, part, depth + 1)
            for name, schema in flat.properties.items():
                properties.setdefault(name, schema)
    properties.update(node.get("properties", {}))
    return Flat(label, properties, required)


def describe(node: Any) -> str:
    if not isinstance(node, dict):
        return "?"
    if "$ref" in node:
        return node["$ref"].rsplit("/", 1)[-1]
    if node.get("type") == "array":
        return f"[{describe(node.get('items', {}))}]"
    for key in ("anyOf", "oneOf"):
        if key in node:
            return " | ".join(describe(part) for part in node[key])
    if "allOf" in node:
        return " & ".join(describe(part) for part in node["allOf"])
    kind = str(node.get("type", "object"))
    if "format" in node:
        kind += f" ({node['format']})"
    if "enum" in node:
        kind += " enum"
    return kind


def _comparable(label: str) -> str:
    return label.removesuffix(" (uri)")


def subtypes(document: dict, node: Any) -> tuple[str, ...]:
    """The @type values a discriminated schema names besides itself (ContactMedium → EmailContactMedium, …)."""
    name = describe(node).strip("[]")
    target = schemas(document).get(name, {})
    mapping = target.get("discriminator", {}).get("mapping", {}) if isinstance(target, dict) else {}
    return tuple(sorted(k for k in mapping if k != name))


def diff_schema(old_doc: dict, new_doc: dict, old_root: Any, new_root: Any) -> list[str]:
    """Property by property from two roots, breadth first (each pair of schemas is reported once, at the
    shortest path that reaches it), down to MAX_DEPTH levels."""
    lines: list[str] = []
    seen: set[tuple[str, str]] = set()
    queue: list[tuple[Any, Any, str, int]] = [(old_root, new_root, "", 0)]
    while queue:
        old_node, new_node, where, depth = queue.pop(0)
        key = (describe(old_node), describe(new_node))
        if key in seen or depth > MAX_DEPTH:
            continue
        seen.add(key)
        old, new = flatten(old_doc, old_node), flatten(new_doc, new_node)
        prefix = f"{where}." if where else ""
        old_names, new_names = set(old.properties), set(new.properties)
        renamed = {o: n for o in old_names - new_names for n in new_names - old_names if o.lower() == n.lower()}
        for o, n in sorted(renamed.items()):
            lines.append(f"renamed {prefix}{o} → {prefix}{n}")
        for name in sorted(old_names - new_names - set(renamed)):
            lines.append(f"removed {prefix}{name}")
        for name in sorted(new_names - old_names - set(renamed.values())):
            lines.append(f"added {prefix}{name}: {describe(new.properties[name])}")
        for name in sorted(new.required - old.required):
            lines.append(f"newly required {prefix}{name}")
        for name in sorted(old.required - new.required):
            lines.append(f"no longer required {prefix}{name}")
        old_subtypes, new_subtypes = subtypes(old_doc, old_node), subtypes(new_doc, new_node)
        if new_subtypes != old_subtypes and where:
            lines.append(f"subtypes of {where} by @type: {', '.join(new_subtypes) or 'none'}")
        pairs = [(n, n) for n in sorted(old_names & new_names)] + sorted(renamed.items())
        for old_name, new_name in pairs:
            old_label = describe(old.properties[old_name])
            new_label = describe(new.properties[new_name])
            if _comparable(old_label) != _comparable(new_label):
                lines.append(f"type of {prefix}{new_name}: {old_label} → {new_label}")
            queue.append((old.properties[old_name], new.properties[new_name], f"{prefix}{new_name}", depth + 1))
    return lines


# --- the report -----------------------------------------------------------------------------------------


def _media_types(document: dict) -> set[str]:
    found: set[str] = set(document.get("consumes", [])) | set(document.get("produces", []))
    for op in operations(document).values():
        found.update(op.request_types)
        found.update(op.response_types)
    return found


def compare(
    old_doc: dict, new_doc: dict, resources: tuple[str, ...], old: str = "old", new: str = "new"
) -> Report:
    """The review report from `old_doc` to `new_doc`; `resources` are the definitions of the served
    resources (e.g. ("ShoppingCart",)), looked up by the same name in both documents."""
    report = Report(old, new)
    before, after = operations(old_doc), operations(new_doc)
    for key in sorted(after.keys() - before.keys()):
        report.added.append(f"{key} ({after[key].operation_id})")
    for key in sorted(before.keys() - after.keys()):
        report.removed.append(f"{key} ({before[key].operation_id})")
    for key in sorted(before.keys() & after.keys()):
        a, b = before[key], after[key]
        changes = []
        if a.operation_id != b.operation_id:
            changes.append(f"operationId {a.operation_id} → {b.operation_id}")
        for what, x, y in (
            ("parameters", a.parameters, b.parameters),
            ("request media types", a.request_types, b.request_types),
            ("responses", a.responses, b.responses),
            ("response media types", a.response_types, b.response_types),
        ):
            gone, new_items = sorted(set(x) - set(y)), sorted(set(y) - set(x))
            if gone or new_items:
                parts = ([f"+{', +'.join(new_items)}"] if new_items else []) + (
                    [f"-{', -'.join(gone)}"] if gone else []
                )
                changes.append(f"{what} {' '.join(parts)}")
        if changes:
            report.changed.append(f"{key} ({b.operation_id}): " + "; ".join(changes))
    old_schemas, new_schemas = schemas(old_doc), schemas(new_doc)
    old_prefix = "#/components/schemas/" if is_openapi3(old_doc) else "#/definitions/"
    new_prefix = "#/components/schemas/" if is_openapi3(new_doc) else "#/definitions/"
    for resource in resources:
        if resource not in old_schemas or resource not in new_schemas:
            side = old if resource not in old_schemas else new
            report.schemas[resource] = [f"{resource} is not defined in {side}"]
            continue
        report.schemas[resource] = diff_schema(
            old_doc, new_doc, {"$ref": old_prefix + resource}, {"$ref": new_prefix + resource}
        )
    old_types, new_types = _media_types(old_doc), _media_types(new_doc)
    report.media_types = [f"added {t}" for t in sorted(new_types - old_types)] + [
        f"removed {t}" for t in sorted(old_types - new_types)
    ]
    if base_path(old_doc) != base_path(new_doc):
        report.media_types.insert(0, f"base path {base_path(old_doc) or '/'} → {base_path(new_doc) or '/'}")
    return report


def served_resources(document: dict) -> tuple[str, ...]:
    """The definitions a document serves as resources: what its collection GETs return."""
    found: list[str] = []
    for key, op in operations(document).items():
        method, path = key.split(" ", 1)
        if method != "GET" or "{" in path or op.operation_id.lower().startswith("listen"):
            continue
        raw = document["paths"][path]["get"].get("responses", {}).get("200", {})
        response = _deref(document, raw)
        schema = response.get("schema") or next(iter(response.get("content", {}).values()), {}).get("schema")
        label = describe(schema or {})
        if label.startswith("[") and label[1:-1] in schemas(document):
            found.append(label[1:-1])
    return tuple(dict.fromkeys(found))
