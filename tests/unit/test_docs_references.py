"""Pointers into docs/ stay valid: every ``docs/<page>.md, "Heading"`` that code, tests or the
README cite names a page and a heading that exist, and nothing cites notes outside the
repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CITED = re.compile(r'docs/([\w-]+\.md)(?:, "([^"]+)")?')
OUTSIDE = re.compile(r"design\.md|infobip-api\.md|\.\./shared")
# Tests may read Infobip's published OpenAPI specs, which are kept beside the repository.
SPECS = re.compile(r"\.\./shared/infobip-openapi")
SEARCHED = (
    "models",
    "storage",
    "flows",
    "recvault",
    "auditor",
    "simulator",
    "deployments",
    "tests",
    "bench",
)


def _files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "pyproject.toml"]
    for folder in SEARCHED:
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


def _headings(page: Path) -> set[str]:
    return {
        line.lstrip("#").strip() for line in page.read_text().splitlines() if line.startswith("#")
    }


def test_cited_docs_pages_and_headings_exist() -> None:
    problems = []
    for path in _files():
        for line_no, line in enumerate(path.read_text().splitlines(), start=1):
            for page, heading in CITED.findall(line):
                target = ROOT / "docs" / page
                where = f"{path.relative_to(ROOT)}:{line_no}"
                if not target.exists():
                    problems.append(f"{where}: no docs/{page}")
                elif heading and heading not in _headings(target):
                    problems.append(f'{where}: docs/{page} has no heading "{heading}"')
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", ["architecture.md", "infobip.md", "auditor.md"])
def test_docs_cite_nothing_outside_the_repository(page: str) -> None:
    assert not OUTSIDE.search((ROOT / "docs" / page).read_text())


def _reads_specs(path: Path, line: str) -> bool:
    in_tests = path.relative_to(ROOT).parts[0] == "tests"
    return in_tests and bool(SPECS.search(line)) and not OUTSIDE.search(SPECS.sub("", line))


def test_code_cites_no_notes_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _files()
        if path.resolve() != this
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if OUTSIDE.search(line) and not _reads_specs(path, line)
    ]
    assert not offenders, offenders
