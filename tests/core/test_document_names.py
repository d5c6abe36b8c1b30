"""The external API documents are named by their titles (the Salloq Marketing API, the Salloq
Ecommerce API, SALESmanago API v3, Splio Data API 1.9), never by the number of the seed document
they came in: nothing in the repository resolves such a number, so a reader meeting it learns nothing.

The scan is multi-line aware (the word at a line's end and the number on the next still count) and
catches the identifier spellings too (an underscore or a dash between them). This file is skipped:
its examples are the thing it looks for.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = {".py", ".md", ".html", ".toml"}
SKIPPED_DIRS = {".venv", ".git", "node_modules", "__pycache__"}
DOCUMENT_NUMBER = re.compile(r"seed[\s_/#-]*0\d\d", re.IGNORECASE)


def _repository_files() -> list[Path]:
    return [
        path
        for path in sorted(ROOT.rglob("*"))
        if path.suffix in SUFFIXES
        and path.is_file()
        and not SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)
        and path != Path(__file__).resolve()
    ]


def _document_numbers(text: str) -> list[int]:
    """The line numbers where a document number starts."""
    return [text.count("\n", 0, match.start()) + 1 for match in DOCUMENT_NUMBER.finditer(text)]


@pytest.mark.parametrize(
    "text, lines",
    [
        ("see seed 000 for the body", [1]),
        ("what an integrator reading seed\n  000 alone sends", [1]),
        ("def test_the_seed_003_body():", [1]),
        ("SEED/004 and\nseed #002", [1, 2]),
        ("seed_demo_data(company)\nrandom.seed(0)", []),
    ],
)
def test_the_scan_finds_document_numbers_across_line_breaks(text, lines):
    assert _document_numbers(text) == lines


def test_no_file_names_an_external_api_by_document_number():
    files = _repository_files()
    assert any(path.name == "README.md" for path in files)  # the scan reaches the repository
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in files
        for line in _document_numbers(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not found, "name the API document by its title, not its number: " + ", ".join(found)
