"""Rows of CSV and JSON Lines files, each a mapping or the reason it cannot be one.

A file that cannot be read at all (no header, a column the mapping needs is
missing) raises :class:`~producers.exceptions.ReplayError`; a bad row is yielded as
a :class:`~contracts.decoding.Rejection` with its line number, and reading goes on.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec

from contracts.decoding import Rejection
from producers.exceptions import ReplayError

if TYPE_CHECKING:
    from producers.replay import ColumnMap

Row = dict[str, object]
_SURROGATE: Final = re.compile("[\udc80-\udcff]")
_NON_FINITE: Final = re.compile(rb"(?<![\"\w])-?(NaN|Infinity)(?![\"\w])")


def csv_rows(path: Path, columns: ColumnMap) -> Iterator[tuple[int, Row | Rejection]]:
    # Undecodable bytes become lone surrogates, so one bad row is refused, not the file.
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as stream:
        reader = csv.reader(stream)
        header = [name.strip() for name in next(reader, [])]
        _check_header(path, header, columns)
        for cells_ in reader:
            if not any(cell.strip() for cell in cells_):
                continue
            if len(cells_) != len(header):
                yield reader.line_num, Rejection(
                    "bad-row", f"the row has {len(cells_)} cells; the header has {len(header)}"
                )
            elif any(_undecodable(cell) for cell in cells_):
                yield reader.line_num, Rejection("not-utf8", "the row is not valid UTF-8")
            else:
                yield reader.line_num, dict(zip(header, cells_, strict=True))


def _check_header(path: Path, header: list[str], columns: ColumnMap) -> None:
    if not header:
        raise ReplayError(f"{path}: empty file; expected a header row naming the columns")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ReplayError(f"{path}: columns {', '.join(duplicates)} appear more than once")
    needed = {columns.user_id} | {getattr(columns, role) for role in columns.explicit}
    missing = sorted(needed - set(header))
    if missing:
        raise ReplayError(
            f"{path}: no column {', '.join(missing)}; the header has {', '.join(header)} "
            "(map columns with --map ROLE=COLUMN)"
        )


def jsonl_rows(path: Path) -> Iterator[tuple[int, Row | Rejection]]:
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                value = msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                yield number, _malformed(line, exc)
                continue
            if isinstance(value, dict):
                yield number, value
            else:
                yield number, Rejection(
                    "not-an-object", f"expected a JSON object, got {type(value).__name__}"
                )


def _malformed(line: bytes, exc: msgspec.DecodeError) -> Rejection:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return Rejection("not-utf8", "the line is not valid UTF-8")
    if _NON_FINITE.search(line):
        return Rejection(
            "non-finite-number",
            "NaN and Infinity are not numbers in JSON; write null for a missing value",
        )
    return Rejection("not-json", f"the line is not JSON: {exc}")


def _undecodable(text: str) -> bool:
    return _SURROGATE.search(text) is not None
