"""The served documents are the spec build's output, and the build refuses what it must refuse."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.e2e._support import CART_API, ORDER_API
from tmfserver import specbuild, specdiff
from tmfserver.bootstrap import document_path
from tmfserver.registry import SERVED, find_document

CART_V5_API = "/tmf-api/shoppingCart/v5"
BASE_PATHS = {"TMF652": ORDER_API, "TMF663": CART_API, "TMF663-v5": CART_V5_API}
FILES = {"TMF652": "swagger.json", "TMF663": "swagger.json", "TMF663-v5": "openapi.json"}


@pytest.mark.parametrize("name", sorted(BASE_PATHS))
def test_served_document_is_the_build_output(client, name: str) -> None:
    response = client.get(f"{BASE_PATHS[name]}/{FILES[name]}")
    assert response.status_code == 200
    assert response.content == specbuild.served_document_path(name).read_bytes()


def test_extension_document_is_served_beside_the_official_one(client) -> None:
    response = client.get(f"{BASE_PATHS['TMF652']}/extensions.json")
    assert response.status_code == 200
    assert response.content == document_path(find_document("TMF652-extensions")).read_bytes()


@pytest.mark.parametrize("name", sorted(BASE_PATHS))
def test_swagger_ui_is_served(client, name: str) -> None:
    response = client.get(f"{BASE_PATHS[name]}/ui/")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_build_applies_every_patch(tmp_path: Path) -> None:
    for pin in specbuild.pins():
        built = json.loads(specbuild.build(pin, out_dir=tmp_path).read_text())
        if specdiff.is_openapi3(built):
            assert built["servers"] == [{"url": CART_V5_API}]  # no serverRoot placeholder
            continue
        assert "host" not in built
        assert built["consumes"] == ["application/json"]
        patch_paths = [p for p in built["paths"] if p.endswith("/{id}") and "patch" in built["paths"][p]]
        for path in patch_paths:
            assert "application/json-patch+json" in built["paths"][path]["patch"]["consumes"]


def test_checksum_mismatch_is_refused(tmp_path: Path) -> None:
    pin = specbuild.pins()[0]
    tampered = tmp_path / pin.file
    tampered.write_bytes(specbuild.fetch(pin) + b" ")
    with pytest.raises(specbuild.SpecBuildError, match="does not match the pin"):
        specbuild.fetch(pin, mirror=tmp_path)


def test_a_patch_that_no_longer_applies_is_reported(tmp_path: Path) -> None:
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"why": "test", "operations": [{"op": "remove", "path": "/nowhere"}]}))
    pin = replace(specbuild.pins()[0], patches=(stale,))
    with pytest.raises(specbuild.SpecBuildError, match=r"stale\.json no longer applies"):
        specbuild.build(pin, out_dir=tmp_path)


def test_every_document_in_the_app_exists() -> None:
    for spec in (spec for api in SERVED for spec in api.documents):
        assert document_path(spec).is_file()
