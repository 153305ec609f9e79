"""The documentation stays navigable: a short README, and no relative link that leads nowhere."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
README_LIMIT = 6144  # bytes: what the product is, how to start, the walk-through, where to read on

FENCED_BLOCK = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
CODE_SPAN = re.compile(r"(`+).+?\1", re.S)
INLINE_LINK = re.compile(r"""!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+(?:"[^"]*"|'[^']*'))?\s*\)""")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.M)
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//|#)", re.I)


def markdown_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").rglob("*.md"))]


def relative_targets(text: str) -> list[str]:
    """Link targets that name a file of the repository (no URL, no same-page anchor), outside code."""
    prose = CODE_SPAN.sub("", FENCED_BLOCK.sub("", text))
    targets = INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)
    return [target for target in targets if not EXTERNAL.match(target)]


def test_readme_is_short() -> None:
    size = len(README.read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes; move detail into docs/ (limit {README_LIMIT})"


def test_the_documents_exist() -> None:
    assert (ROOT / "docs").is_dir()
    assert len(markdown_files()) > 1


@pytest.mark.parametrize("document", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(document: Path) -> None:
    broken = []
    for target in relative_targets(document.read_text(encoding="utf-8")):
        path = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if not (document.parent / path).resolve().exists():
            broken.append(target)
    assert not broken, f"{document.relative_to(ROOT)} links to missing files: {broken}"


def test_link_extraction_skips_code_and_urls() -> None:
    text = (
        "[a](docs/a.md) [b](https://example.com) [c](#here) ![d](img/d.png 'x') `[e](no.md)`\n"
        "```sh\n[f](no.md)\n```\n[g]: ../g.md\n"
    )
    assert relative_targets(text) == ["docs/a.md", "img/d.png", "../g.md"]
