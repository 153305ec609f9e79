"""docs/development.md matches the code: each arrow of its layer picture is a real import, and its layout table
names exactly the modules of the package."""

from __future__ import annotations

import re
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "tmfserver"
DOC = (ROOT / "docs" / "development.md").read_text()


def section(title: str) -> str:
    found = re.search(rf"^## {title}\n(.*?)(?=^## )", DOC, re.S | re.M)
    assert found, f"docs/development.md has no '## {title}' section"
    return found.group(1)


def arrows() -> list[tuple[str, str]]:
    diagram = re.search(r"```mermaid\n(.*?)```", section("Architecture"), re.S)
    assert diagram, "the Architecture section has no mermaid diagram"
    found = re.findall(r"^\s*(\w+) --> (\w+)\s*$", diagram.group(1), re.M)
    assert len(found) >= 10, "the layer picture lost its arrows"
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("tmfserver")


@pytest.mark.parametrize(("importer", "imported"), arrows())
def test_each_arrow_is_a_real_import(graph: grimp.ImportGraph, importer: str, imported: str) -> None:
    assert graph.direct_import_exists(
        importer=f"tmfserver.{importer}", imported=f"tmfserver.{imported}", as_packages=True
    ), f"docs/development.md draws {importer} --> {imported}, but no module of {importer} imports {imported}"


def test_the_layout_table_names_every_module_and_no_other() -> None:
    named = set(re.findall(r"^\| `([\w/]+\.py)` \|", section("Layout"), re.M))
    actual = {
        path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"
    }
    assert named - actual == set(), "the layout names modules that do not exist"
    assert actual - named == set(), "modules missing from the layout table in docs/development.md"
