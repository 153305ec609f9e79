"""Build the served OpenAPI documents from pinned official files plus reviewed patches.

The official TM Forum documents are third-party files the project does not commit. Each is pinned in
`openapi/<NAME>.pin.toml` (official URL + sha256 + ordered list of patch files). `build_all` fetches each
pinned file (from a local mirror directory when it holds it, else from the URL), refuses it when the
checksum differs, applies the RFC 6902 patches in order, validates the result with
openapi-spec-validator and writes `build/openapi/<NAME>.json`.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import jsonpatch
from openapi_spec_validator import validate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
OPENAPI_DIR = PROJECT_ROOT / "openapi"
BUILD_DIR = PROJECT_ROOT / "build" / "openapi"
DEFAULT_MIRROR = PROJECT_ROOT.parent / "shared" / "specs"


class SpecBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
# Why: docs/decisions/0001-official-documents-are-the-route-table.md
class Pin:
    name: str
    file: str
    url: str
    sha256: str
    patches: tuple[Path, ...]

    @classmethod
    def load(cls, path: Path) -> Pin:
        data = tomllib.loads(path.read_text())
        return cls(
            name=data["name"],
            file=data["file"],
            url=data["url"],
            sha256=data["sha256"],
            patches=tuple(path.parent / p for p in data.get("patches", [])),
        )


def pins(openapi_dir: Path = OPENAPI_DIR) -> list[Pin]:
    return [Pin.load(p) for p in sorted(openapi_dir.glob("*.pin.toml"))]


def fetch(pin: Pin, mirror: Path = DEFAULT_MIRROR) -> bytes:
    local = mirror / pin.file
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


def build(pin: Pin, mirror: Path = DEFAULT_MIRROR, out_dir: Path = BUILD_DIR) -> Path:
    document = apply_patches(json.loads(fetch(pin, mirror)), pin.patches)
    validate(document)
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
