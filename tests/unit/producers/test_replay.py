"""Replaying files: good rows become records, bad rows are counted by reason, nothing crashes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from producers import (
    ColumnMap,
    ReplayError,
    ReplayRecord,
    ReplayReport,
    Simulator,
    read_records,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def replay(path: Path, **kwargs: object) -> tuple[list[ReplayRecord], ReplayReport]:
    report = ReplayReport()
    records = list(read_records(path, report=report, now=NOW, **kwargs))  # type: ignore[arg-type]
    return records, report


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


CSV = (
    "customer,when,cart,device,converted\n"
    "c1,2026-01-01T00:00:00Z,12.5,mobile,1\n"        # line 2: good, labelled
    "c2,2026-01-01T00:00:00+01:00,,desktop,\n"       # line 3: good, no label yet
    "c3,not a time,1,tablet,0\n"                     # line 4: bad ts
    "c4,2026-01-01T00:00:00Z,inf,mobile,0\n"         # line 5: non-finite number
    "c5,2026-01-01T00:00:00Z,1\n"                    # line 6: too few cells
    ",2026-01-01T00:00:00Z,1,mobile,0\n"             # line 7: empty user
    "c7,2026-01-01T00:00:00Z,2,mobile,maybe\n"       # line 8: bad label
    "c8,2026-01-01T00:00:00Z,3,mobile,0\n"           # line 9: good
    "c9,1990-01-01T00:00:00Z,3,mobile,0\n"           # line 10: too old for the contract
)
MAPPING = ColumnMap.parse(["user_id=customer", "ts=when", "label=converted"])


def test_csv_good_rows_are_kept_and_bad_rows_counted_with_their_reasons(tmp_path: Path) -> None:
    records, report = replay(write(tmp_path, "shop.csv", CSV), columns=MAPPING)

    assert [r.row for r in records] == [2, 3, 9]
    assert (report.rows, report.events, report.labels, report.rejected_rows) == (9, 3, 2, 6)
    assert {reason: entry.first_rows for reason, entry in report.rejected.items()} == {
        "bad-timestamp": [4, 10],
        "non-finite-number": [5],
        "bad-row": [6],
        "empty-value": [7],
        "out-of-range": [8],
    }
    assert "leave the cell empty" in report.rejected["non-finite-number"].example


def test_csv_cells_become_floats_nulls_and_texts(tmp_path: Path) -> None:
    records, _ = replay(write(tmp_path, "shop.csv", CSV), columns=MAPPING)

    first, second = records[0], records[1]
    assert first.event.features == {"cart": 12.5, "device": "mobile"}
    assert second.event.features == {"cart": None, "device": "desktop"}
    assert second.event.ts == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert first.label is not None and first.label.label == 1 and first.label.ts == first.event.ts
    assert second.label is None


def test_without_an_event_id_column_ids_are_file_stem_and_line(tmp_path: Path) -> None:
    records, _ = replay(write(tmp_path, "shop.csv", CSV), columns=MAPPING)

    assert [r.event.event_id for r in records] == ["shop-2", "shop-3", "shop-9"]


def test_default_roles_and_missing_ts_use_the_time_of_reading(tmp_path: Path) -> None:
    path = write(tmp_path, "plain.csv", "event_id,user_id,label,score\ne1,u1,0,0.5\n")

    (record,), _ = replay(path)

    assert record.event.event_id == "e1" and record.event.ts == NOW
    assert record.event.features == {"score": 0.5} and record.label is not None


def test_a_missing_user_column_or_mapped_column_stops_before_any_row(tmp_path: Path) -> None:
    path = write(tmp_path, "shop.csv", CSV)

    with pytest.raises(ReplayError, match="no column user_id"):
        replay(path)
    with pytest.raises(ReplayError, match="no column label_col"):
        replay(path, columns=ColumnMap.parse(["user_id=customer", "label=label_col"]))


def test_a_bad_map_lists_the_roles() -> None:
    with pytest.raises(ReplayError, match="event_id, user_id, ts, label"):
        ColumnMap.parse(["customer"])


def test_naive_times_are_refused_unless_assumed_utc(tmp_path: Path) -> None:
    path = write(tmp_path, "n.csv", "user_id,ts\nu1,2026-01-01 10:00:00\n")

    assert replay(path)[1].rejected["bad-timestamp"].count == 1
    (record,), _ = replay(path, assume_utc=True)
    assert record.event.ts == datetime(2026, 1, 1, 10, tzinfo=UTC)


def test_a_row_that_is_not_utf8_is_refused_and_the_others_kept(tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", b"user_id,city\nu1,K\xf6ln\nu2,Bonn\n")

    records, report = replay(path)

    assert [r.event.user_id for r in records] == ["u2"]
    assert report.rejected["not-utf8"].first_rows == [2]


JSONL = "\n".join([
    '{"event_id": "e1", "user_id": "u1", "ts": "2026-01-01T00:00:00Z", "pages": 3, "label": 1}',
    'not json',
    '[1, 2]',
    '{"user_id": "u2", "ts": "2026-01-01T00:00:00Z", "cart": NaN}',
    '{"user_id": "u3", "ts": "2026-01-01T00:00:00Z", "flag": true}',
    '{"ts": "2026-01-01T00:00:00Z", "pages": 1}',
    '{"schema_version": 2, "user_id": "u4", "ts": "2026-01-01T00:00:00Z"}',
    '',
    '{"user_id": 42, "ts": 1767225600, "device": "mobile", "coupon": null}',
])


def test_jsonl_good_rows_are_kept_and_bad_rows_counted_with_their_reasons(tmp_path: Path) -> None:
    records, report = replay(write(tmp_path, "events.jsonl", JSONL))

    assert [r.row for r in records] == [1, 9]
    assert {reason: entry.first_rows for reason, entry in report.rejected.items()} == {
        "not-json": [2],
        "not-an-object": [3],
        "non-finite-number": [4],
        "wrong-type": [5],
        "missing-field": [6],
        "bad-schema-version": [7],
    }
    last = records[1].event
    assert (last.user_id, last.event_id, last.ts) == ("42", "events-9", datetime(2026, 1, 1,
                                                                               tzinfo=UTC))
    assert last.features == {"device": "mobile", "coupon": None}


def test_a_simulated_training_file_replays_to_the_same_events(tmp_path: Path) -> None:
    items = list(Simulator(seed=2).events(500))
    path = write(tmp_path, "train.jsonl", b"".join(i.training_line() for i in items))

    records, report = replay(path)

    assert report.rejected == {}
    assert [r.event for r in records] == [i.event for i in items]
    assert [r.label.label for r in records if r.label] == [i.label for i in items]


def test_an_unknown_suffix_asks_for_the_format(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="--format"):
        replay(write(tmp_path, "data.txt", "user_id\nu1\n"))
    records, _ = replay(write(tmp_path, "data.txt", "user_id\nu1\n"), fmt="csv")
    assert len(records) == 1
