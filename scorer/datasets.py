"""Read labelled training rows from CSV or JSONL files, with errors naming the line or column.

JSONL lines may be user events with ``features`` nested and the label beside them
(as the simulator writes them) or flat objects; CSV files have flat columns.
Identifier and envelope columns (``event_id``, ``user_id``, ``schema_version``) are
never features; ``ts`` (ISO 8601, or epoch seconds) orders the rows in time.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, NamedTuple

import msgspec

from scorer.exceptions import TrainingDataError
from scorer.feature_schema import Features, FeatureValue

META_COLUMNS: Final = frozenset({"schema_version", "event_id", "user_id"})
MISSING_TEXT: Final = frozenset({"", "na", "n/a", "nan", "null", "none"})
JSONL_SUFFIXES: Final = (".jsonl", ".ndjson", ".json")


class TrainingRow(NamedTuple):
    """One labelled example: features, label 0/1, and its time when known."""

    features: Features
    label: int
    ts: datetime | None = None


def load_rows(
    path: Path | str, *, label: str = "label", time_column: str = "ts"
) -> list[TrainingRow]:
    """All rows of a ``.csv`` or ``.jsonl`` file, or a :class:`TrainingDataError`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = f.write_text("x,device,y\\n1.5,ios,1\\n,web,0\\n")
    >>> load_rows(f, label="y")[1]
    TrainingRow(features={'x': None, 'device': 'web'}, label=0, ts=None)
    >>> _ = f.write_text("x,device\\n1.5,ios\\n")
    >>> load_rows(f, label="y")
    Traceback (most recent call last):
    ...
    scorer.exceptions.TrainingDataError: d.csv has no column `y`; its columns are: x, device
    """
    path = Path(path)
    if not path.is_file():
        raise TrainingDataError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        rows = list(_csv_rows(path, label, time_column))
    elif path.suffix.lower() in JSONL_SUFFIXES:
        rows = list(_jsonl_rows(path, label, time_column))
    else:
        raise TrainingDataError(
            f"{path.name}: unknown format; expected a .csv or {'/'.join(JSONL_SUFFIXES)} file"
        )
    if not rows:
        raise TrainingDataError(f"{path.name} holds no rows")
    return rows


def parse_label(value: object, where: str, label: str) -> int:
    """0 or 1 from a number, a boolean or their text, else an error naming ``where``."""
    number: object = value
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            number = {"true": 1, "false": 0}[text] if text in ("true", "false") else float(text)
        except ValueError:
            pass
    if isinstance(number, int | float) and number in (0, 1):
        return int(number)
    raise TrainingDataError(f"{where}: label `{label}` is {value!r}; expected 0 or 1")


def parse_time(value: object, where: str) -> datetime | None:
    """An aware datetime from ISO 8601 text (naive is read as UTC) or epoch seconds."""
    if value is None or (isinstance(value, str) and value.strip().lower() in MISSING_TEXT):
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, tz=UTC)
        if isinstance(value, str):
            ts = datetime.fromisoformat(value.strip())
            return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise TrainingDataError(
        f"{where}: timestamp {value!r} is not ISO 8601 (e.g. 2026-01-01T12:00:00Z) "
        "nor epoch seconds"
    )


def _csv_rows(path: Path, label: str, time_column: str) -> Iterator[TrainingRow]:
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.reader(stream)
        header = next(reader, None)
        if not header:
            raise TrainingDataError(f"{path.name} is empty; expected a header line")
        if label not in header:
            raise TrainingDataError(
                f"{path.name} has no column `{label}`; its columns are: {', '.join(header)}"
            )
        lines = []
        for cells in reader:
            if len(cells) != len(header):
                raise TrainingDataError(
                    f"{path.name} line {reader.line_num}: {len(cells)} cells; "
                    f"the header has {len(header)}"
                )
            lines.append((reader.line_num, cells))
    at = {n: i for i, n in enumerate(header)}
    features = [n for n in header if n not in META_COLUMNS | {label, time_column}]
    columns = {n: _typed_column(path.name, n, [c[at[n]] for _, c in lines], lines)
               for n in features}
    for row, (line, cells) in enumerate(lines):
        where = f"{path.name} line {line}"
        yield TrainingRow(
            features={n: columns[n][row] for n in features},
            label=parse_label(cells[at[label]], where, label),
            ts=parse_time(cells[at[time_column]], where) if time_column in at else None,
        )


def _typed_column(
    file: str, name: str, cells: list[str], lines: list[tuple[int, list[str]]]
) -> list[FeatureValue]:
    """Numbers if every present cell reads as one, else text; missing cells are None."""
    texts: list[str | None] = [None if c.strip().lower() in MISSING_TEXT else c for c in cells]
    try:
        numbers = [None if t is None else float(t) for t in texts]
    except ValueError:
        return list(texts)
    for (line, _), number in zip(lines, numbers, strict=True):
        if number is not None and math.isinf(number):
            raise TrainingDataError(f"{file} line {line}: column `{name}` is infinite")
    return list(numbers)


def _jsonl_rows(path: Path, label: str, time_column: str) -> Iterator[TrainingRow]:
    decoder = msgspec.json.Decoder()
    with path.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            if not raw.strip():
                continue
            where = f"{path.name} line {number}"
            try:
                record = decoder.decode(raw)
            except msgspec.DecodeError as exc:
                raise TrainingDataError(f"{where}: not valid JSON ({exc})") from None
            if not isinstance(record, dict):
                raise TrainingDataError(f"{where}: expected a JSON object")
            yield _json_row(record, where, label, time_column)


def _json_row(record: dict[str, object], where: str, label: str, time_column: str) -> TrainingRow:
    nested = record.get("features")
    if isinstance(nested, dict):
        features = dict(nested)
        label_value = record[label] if label in record else features.pop(label, None)
    else:
        skip = META_COLUMNS | {label, time_column}
        features = {k: v for k, v in record.items() if k not in skip}
        label_value = record.get(label)
    if label_value is None:
        raise TrainingDataError(
            f"{where} has no label `{label}`; its fields are: {', '.join(record)}"
        )
    return TrainingRow(
        features=_checked_features(features, where),
        label=parse_label(label_value, where, label),
        ts=parse_time(record.get(time_column), where),
    )


def _checked_features(features: Mapping[str, object], where: str) -> dict[str, FeatureValue]:
    checked: dict[str, FeatureValue] = {}
    for name, value in features.items():
        if isinstance(value, bool) or not isinstance(value, int | float | str | None):
            raise TrainingDataError(
                f"{where}: feature `{name}` is {type(value).__name__} {value!r}; "
                "expected a number, a text or null"
            )
        if isinstance(value, float) and math.isinf(value):
            raise TrainingDataError(f"{where}: feature `{name}` is infinite")
        checked[name] = value
    return checked


__all__ = ["META_COLUMNS", "TrainingRow", "load_rows", "parse_label", "parse_time"]
