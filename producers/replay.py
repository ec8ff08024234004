"""Replay a CSV or JSON Lines file as contract records. Pure: reading and checking only.

Columns are given roles by a :class:`ColumnMap`: ``user_id`` is required; ``event_id``,
``ts`` and ``label`` are used when the file has them. Every other column is a
feature. Without an ``event_id`` column, ids are ``<file stem>-<line number>``, so
replaying the same file again sends the same ids (downstream sees duplicates, not new
events); without a ``ts`` column the time of reading is used. A JSONL object may also
hold its features in a nested ``features`` object, as ``streamml simulate --out``
writes them. A label is sent only when its cell is filled (empty: not known yet),
stamped with the event's time. A row that fails is rejected with its reason and
counted in the :class:`ReplayReport`; the run goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from contracts.decoding import Rejection
from contracts.records import SCHEMA_VERSION, Label, UserEvent
from producers import cells
from producers.exceptions import ReplayError
from producers.readers import csv_rows, jsonl_rows
from producers.validation import FeatureValue, check_event, check_label

FORMATS: Final = ("csv", "jsonl")
SUFFIXES: Final = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}
ROLES: Final = ("event_id", "user_id", "ts", "label")
FIRST_ROWS_KEPT: Final = 5



@dataclass(frozen=True, slots=True)
class ColumnMap:
    """Which column plays which role; ``explicit`` roles must exist in the file.

    >>> ColumnMap.parse(["user_id=customer", "label=converted"]).user_id
    'customer'
    """

    event_id: str = "event_id"
    user_id: str = "user_id"
    ts: str = "ts"
    label: str = "label"
    explicit: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, pairs: Iterable[str]) -> ColumnMap:
        """From ``ROLE=COLUMN`` pairs, as ``--map`` gives them."""
        values: dict[str, str] = {}
        for pair in pairs:
            role, sep, column = (part.strip() for part in pair.partition("="))
            if not sep or role not in ROLES or not column:
                raise ReplayError(
                    f"--map {pair!r}: expected ROLE=COLUMN with ROLE one of {', '.join(ROLES)}"
                )
            values[role] = column
        return cls(**values, explicit=frozenset(values))

    @property
    def columns(self) -> frozenset[str]:
        return frozenset(getattr(self, role) for role in ROLES)


@dataclass
class RejectedRows:
    """Rows refused for one reason: how many, the first line numbers, one message."""

    count: int = 0
    first_rows: list[int] = field(default_factory=list)
    example: str = ""


@dataclass
class ReplayReport:
    """What a replay read, accepted and refused (by reason code)."""

    rows: int = 0
    events: int = 0
    labels: int = 0
    rejected: dict[str, RejectedRows] = field(default_factory=dict)

    def reject(self, row: int, rejection: Rejection) -> None:
        entry = self.rejected.setdefault(rejection.code, RejectedRows(example=rejection.message))
        entry.count += 1
        if len(entry.first_rows) < FIRST_ROWS_KEPT:
            entry.first_rows.append(row)

    @property
    def rejected_rows(self) -> int:
        return sum(entry.count for entry in self.rejected.values())


@dataclass(frozen=True, slots=True)
class ReplayRecord:
    """A valid row: its line number, its event and its label when the file has one."""

    row: int
    event: UserEvent
    label: Label | None


def detect_format(path: Path) -> str:
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise ReplayError(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
            f"pass --format ({' | '.join(FORMATS)})"
        )
    return fmt


def read_records(
    path: Path,
    *,
    fmt: str | None = None,
    columns: ColumnMap | None = None,
    assume_utc: bool = False,
    report: ReplayReport | None = None,
    now: datetime | None = None,
) -> Iterator[ReplayRecord]:
    """The valid rows of ``path`` as records; refused rows go to ``report``.

    Parameters
    ----------
    path : Path
        A CSV file with a header row, or JSON Lines (one object per line).
    fmt : {"csv", "jsonl"} or None
        Default: from the suffix (``.csv``; ``.jsonl``, ``.ndjson``, ``.json``).
    columns : ColumnMap or None
        Roles of columns; default the columns named after the roles.
    assume_utc : bool
        Read times without a timezone as UTC instead of refusing the row.
    report : ReplayReport or None
        Filled as rows are read: counts, and refused rows by reason.
    now : datetime or None
        Time stamped on rows without ``ts``, and the clock of the contract's checks.

    Raises
    ------
    ReplayError
        When the file as a whole cannot be read (format, header, a mapped column).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "visits.csv"
    >>> _ = path.write_text("user_id,ts,cart_value,label\\n"
    ...                     "u1,2026-01-01T00:00:00Z,12.5,1\\n"
    ...                     "u2,yesterday,3,0\\n")
    >>> report = ReplayReport()
    >>> [(r.event.event_id, r.event.features, r.label.label) for r in read_records(path,
    ...                                                                report=report)]
    [('visits-2', {'cart_value': 12.5}, 1)]
    >>> report.rejected["bad-timestamp"].first_rows
    [3]
    """
    fmt = fmt or detect_format(path)
    columns = columns or ColumnMap()
    if fmt not in FORMATS:
        raise ReplayError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    report = report if report is not None else ReplayReport()
    rows = csv_rows(path, columns) if fmt == "csv" else jsonl_rows(path)
    prefix = path.stem[:64] or "row"
    for number, row in rows:
        report.rows += 1
        result = row if isinstance(row, Rejection) else to_record(
            row, number, columns=columns, text_cells=fmt == "csv", id_prefix=prefix,
            assume_utc=assume_utc, now=now,
        )
        if isinstance(result, Rejection):
            report.reject(number, result)
            continue
        report.events += 1
        report.labels += result.label is not None
        yield result


def to_record(
    row: Mapping[str, object],
    number: int,
    *,
    columns: ColumnMap,
    text_cells: bool,
    id_prefix: str,
    assume_utc: bool = False,
    now: datetime | None = None,
) -> ReplayRecord | Rejection:
    """One row as a checked event (and label), or the first reason it cannot be."""
    fields = _roles(row, columns)
    if isinstance(fields, Rejection):
        return fields
    user_id = cells.identifier("user_id", fields["user_id"])
    if isinstance(user_id, Rejection):
        return user_id
    event_id = cells.identifier("event_id", fields.get("event_id", f"{id_prefix}-{number}"))
    if isinstance(event_id, Rejection):
        return event_id
    ts = cells.timestamp(fields["ts"], assume_utc=assume_utc) if "ts" in fields \
        else now or datetime.now(UTC)
    if isinstance(ts, Rejection):
        return ts
    label = cells.label(fields.get("label"))
    if isinstance(label, Rejection):
        return label
    features = _features(row, columns, text_cells)
    if isinstance(features, Rejection):
        return features
    event = UserEvent(event_id=event_id, user_id=user_id, ts=ts, features=features)
    checked = check_event(event, now=now.timestamp() if now else None)
    if isinstance(checked, Rejection):
        return checked
    if not isinstance(label, int):
        return ReplayRecord(number, event, None)
    record = Label(event_id=event_id, user_id=user_id, ts=ts, label=label)
    checked = check_label(record, now=now.timestamp() if now else None)
    return checked if isinstance(checked, Rejection) else ReplayRecord(number, event, record)


def _roles(row: Mapping[str, object], columns: ColumnMap) -> dict[str, object] | Rejection:
    found: dict[str, object] = {}
    for role in ROLES:
        column = getattr(columns, role)
        if column in row:
            found[role] = row[column]
        elif role == "user_id" or role in columns.explicit:
            return Rejection("missing-field", f"column `{column}` ({role}) is missing from the row")
    version = row.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION and version != str(SCHEMA_VERSION):
        return Rejection("bad-schema-version", f"schema_version must be {SCHEMA_VERSION}, "
                                               f"got {version!r}")
    return found


def _features(
    row: Mapping[str, object], columns: ColumnMap, text_cells: bool
) -> dict[str, FeatureValue] | Rejection:
    skip = columns.columns | {"schema_version", "features"}
    raw = {name: value for name, value in row.items() if name not in skip}
    nested = row.get("features")
    if isinstance(nested, dict):
        raw.update(nested)
    elif nested is not None:
        raw["features"] = nested
    features: dict[str, FeatureValue] = {}
    for name, value in raw.items():
        parsed = cells.text_feature(name, value) if text_cells and isinstance(value, str) \
            else cells.json_feature(name, value)
        if isinstance(parsed, Rejection):
            return parsed
        features[name] = parsed
    return features
