"""ARCHITECTURE.md names only files and folders that exist, so it cannot point at code
that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "ARCHITECTURE.md").read_text()

# `something.py` or `dir/` in backticks; placeholders such as `unit/<package>/` are not names.
PATH_LIKE = re.compile(r"`(\w[\w./-]*(?:\.py|/))`")
# A row of the module map: names in it are relative to the package it begins with.
TABLE_ROW = re.compile(r"^\| `(\w+)/` \|")


def named_paths() -> list[tuple[int, str, list[Path]]]:
    """Each path-like name with its line number and the places it may refer to."""
    names = []
    for number, line in enumerate(DOC.splitlines(), start=1):
        row = TABLE_ROW.match(line)
        bases = [ROOT, ROOT / row.group(1)] if row else [ROOT]
        names += [(number, name, [base / name for base in bases])
                  for name in PATH_LIKE.findall(line)]
    return names


def test_the_architecture_names_many_paths():
    assert len(named_paths()) > 100


def test_every_path_the_architecture_names_exists():
    missing = [f"line {number}: {name}" for number, name, places in named_paths()
               if not any(place.is_dir() if name.endswith("/") else place.is_file()
                          for place in places)]
    assert not missing, f"ARCHITECTURE.md names paths that do not exist: {missing}"


def test_the_readme_links_the_architecture():
    assert "(ARCHITECTURE.md)" in (ROOT / "README.md").read_text()
