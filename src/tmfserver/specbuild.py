"""Build the served OpenAPI documents from pinned official files plus reviewed patches.

The official TM Forum documents are third-party files the project does not commit. Each is pinned in
`openapi/<NAME>.pin.toml` (official URL + sha256 + ordered list of patch files; the API and version it
documents). `build_all` fetches each pinned file (from a local mirror directory when it holds it, else from
the URL), refuses it when the checksum differs, parses it (JSON, or YAML for OpenAPI 3 documents published as
YAML), applies the RFC 6902 patches in order, validates the result with openapi-spec-validator (Swagger 2.0
and OpenAPI 3) and writes `build/openapi/<NAME>.json` (always JSON: parsed once here, not at every start).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import jsonpatch
import yaml
from openapi_spec_validator import validate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OPENAPI_DIR = PROJECT_ROOT / "openapi"
BUILD_DIR = PROJECT_ROOT / "build" / "openapi"
DEFAULT_MIRROR = PROJECT_ROOT.parent / "shared" / "specs"
# Sources handed to `tmfserver spec-upgrade --source FILE` (git-ignored, like the build): looked up after the
# mirror, before the URL.
SOURCES_DIR = PROJECT_ROOT / "build" / "sources"


class SpecBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
# Why: docs/decisions/0001-official-documents-are-the-route-table.md
class Pin:
    name: str  # "TMF663", "TMF663-v5": the built file's name and the registry's document name
    file: str
    url: str
    sha256: str
    patches: tuple[Path, ...]
    api: str = ""  # "TMF663": the API the document describes (default: the name)
    version: str = ""  # "5.0.0": the document's version (default: from `file`)

    @classmethod
    def load(cls, path: Path) -> Pin:
        data = tomllib.loads(path.read_text())
        return cls(
            name=data["name"],
            file=data["file"],
            url=data["url"],
            sha256=data["sha256"],
            patches=tuple(path.parent / p for p in data.get("patches", [])),
            api=data.get("api", data["name"]),
            version=data.get("version") or version_in(data["file"]),
        )

    @property
    def label(self) -> str:
        """`TMF663@5.0.0`, as `tmfserver spec-diff` names pinned documents."""
        return f"{self.api}@{self.version}"


def version_in(file_name: str) -> str:
    """`TMF663-Shopping_Cart-v5.0.0.oas.yaml` → `5.0.0` ("" when the name carries none)."""
    found = re.search(r"v(\d+\.\d+\.\d+)", file_name)
    return found.group(1) if found else ""


def pins(openapi_dir: Path = OPENAPI_DIR) -> list[Pin]:
    return [Pin.load(p) for p in sorted(openapi_dir.glob("*.pin.toml"))]


def find_pin(label: str, openapi_dir: Path = OPENAPI_DIR) -> Pin:
    """A pin by its name (`TMF663-v5`) or by `API@VERSION` (`TMF663@5.0.0`)."""
    for pin in pins(openapi_dir):
        if label in (pin.name, pin.label):
            return pin
    known = ", ".join(f"{p.name} ({p.label})" for p in pins(openapi_dir))
    raise SpecBuildError(f"no pinned document {label}; pinned: {known}")


def parse(raw: bytes, file_name: str) -> dict:
    """A document's bytes: JSON, or YAML when the file says so (`.yaml`/`.yml`)."""
    if file_name.endswith((".yaml", ".yml")):
        document = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    else:
        document = json.loads(raw)
    if not isinstance(document, dict):
        raise SpecBuildError(f"{file_name} is not an OpenAPI document (not an object)")
    return document


def fetch(pin: Pin, mirror: Path = DEFAULT_MIRROR) -> bytes:
    local = mirror / pin.file
    if not local.is_file() and (SOURCES_DIR / pin.file).is_file():
        local = SOURCES_DIR / pin.file
    if local.is_file():
        raw = local.read_bytes()
        origin = str(local)
    else:
        with urllib.request.urlopen(pin.url, timeout=30) as response:
            raw = response.read()
        origin = pin.url
    digest = hashlib.sha256(raw).hexdigest()
    if digest != pin.sha256:
        raise SpecBuildError(f"{origin}: sha256 {digest} does not match the pin {pin.sha256}")
    return raw


def apply_patches(document: dict, patch_files: tuple[Path, ...]) -> dict:
    for patch_file in patch_files:
        patch = json.loads(patch_file.read_text())
        try:
            document = jsonpatch.apply_patch(document, patch["operations"])
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise SpecBuildError(f"{patch_file.name} no longer applies: {exc}") from exc
    return document


def built_document(pin: Pin, mirror: Path = DEFAULT_MIRROR) -> dict:
    """The pinned document with its patches applied, validated (openapi-spec-validator)."""
    document = apply_patches(parse(fetch(pin, mirror), pin.file), pin.patches)
    try:
        validate(document)
    except Exception as exc:  # the validator's own error types differ between Swagger 2 and OpenAPI 3
        raise SpecBuildError(f"{pin.name}: the patched document is not valid: {exc}") from exc
    return document


def build(pin: Pin, mirror: Path = DEFAULT_MIRROR, out_dir: Path = BUILD_DIR) -> Path:
    document = built_document(pin, mirror)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{pin.name}.json"
    target.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return target


def build_all(mirror: Path = DEFAULT_MIRROR, out_dir: Path = BUILD_DIR) -> list[Path]:
    return [build(pin, mirror, out_dir) for pin in pins()]


def served_document_path(name: str, out_dir: Path = BUILD_DIR) -> Path:
    path = out_dir / f"{name}.json"
    if not path.is_file():
        raise SpecBuildError(f"{path} is missing: run `make openapi` first")
    return path


# --- spec-upgrade: a new pin beside the existing ones ----------------------------------------------------


def read_source(source: str) -> tuple[bytes, str]:
    """A document handed to spec-upgrade: a file path or a URL → (bytes, its file name)."""
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=30) as response:
            return response.read(), source.rstrip("/").rsplit("/", 1)[-1]
    path = Path(source)
    return path.read_bytes(), path.name


def official_url(previous: Pin | None, file_name: str, version: str, source: str) -> str:
    """The URL to pin: the source when it is one, else the previous pin's URL with the new tag and file."""
    if source.startswith(("https://", "http://")):
        return source
    if previous is None:
        raise SpecBuildError(f"{file_name}: no URL to pin; pass the official URL (URL=...)")
    folder = previous.url.rsplit("/", 1)[0].replace(f"v{previous.version}", f"v{version}")
    return f"{folder}/{file_name}"


def pin_text(pin: Pin, note: str) -> str:
    patches = "".join(f'    "{p.relative_to(OPENAPI_DIR).as_posix()}",\n' for p in pin.patches)
    return (
        f"# {note}\n"
        f'name = "{pin.name}"\napi = "{pin.api}"\nversion = "{pin.version}"\nfile = "{pin.file}"\n'
        f'url = "{pin.url}"\nsha256 = "{pin.sha256}"\npatches = [\n{patches}]\n'
    )


def upgrade_pin(
    api: str, version: str, source: str, url: str | None = None, openapi_dir: Path = OPENAPI_DIR
) -> tuple[Pin, Pin | None, Path]:
    """Pin `source` as `api` `version` beside the existing pins (never replacing another version's pin):
    `openapi/<API>-v<major>.pin.toml`, or the pin of the same major version when there is one (its name
    and patch list are kept). The source's bytes go to build/sources/ for the builds that follow.

    Returns (the new pin, the newest other pinned version of the API or None, the pin file)."""
    raw, file_name = read_source(source)
    same_api = sorted(
        (p for p in pins(openapi_dir) if p.api == api and p.version != version),
        key=lambda p: tuple(int(x) for x in p.version.split(".") if x.isdigit()),
    )
    previous = same_api[-1] if same_api else None
    major = version.split(".")[0]
    existing = next((p for p in pins(openapi_dir) if p.api == api and p.version.split(".")[0] == major), None)
    name = existing.name if existing else f"{api}-v{major}"
    pin = Pin(
        name=name,
        file=file_name,
        url=url or official_url(previous, file_name, version, source),
        sha256=hashlib.sha256(raw).hexdigest(),
        patches=existing.patches if existing else (),
        api=api,
        version=version,
    )
    SOURCES_DIR.mkdir(parents=True, exist_ok=True)
    (SOURCES_DIR / file_name).write_bytes(raw)
    target = openapi_dir / f"{name}.pin.toml"
    note = "Official TM Forum document, pinned by `tmfserver spec-upgrade` (see TMF652.pin.toml)."
    target.write_text(pin_text(pin, note))
    return Pin.load(target), previous, target
