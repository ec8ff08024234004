from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from scorer.datasets import TrainingRow, load_rows, parse_label, parse_time
from scorer.exceptions import TrainingDataError


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_csv_file_reads_numbers_text_gaps_and_times(tmp_path: Path) -> None:
    path = write(tmp_path, "d.csv", "event_id,user_id,ts,cart,code,converted\n"
                 "e1,u1,2026-01-01T00:00:00Z,12.5,007,1\n"
                 "e2,u2,2026-01-01T00:01:00,NA,x1,0\n")

    rows = load_rows(path, label="converted")

    assert rows == [
        TrainingRow({"cart": 12.5, "code": "007"}, 1, datetime(2026, 1, 1, tzinfo=UTC)),
        TrainingRow({"cart": None, "code": "x1"}, 0, datetime(2026, 1, 1, 0, 1, tzinfo=UTC)),
    ]


def test_user_event_lines_with_nested_features_and_a_label_are_read(tmp_path: Path) -> None:
    events = [
        {"schema_version": 1, "event_id": f"e{i}", "user_id": "u", "ts": f"2026-01-01T00:0{i}:00Z",
         "features": {"cart": 1.0 * i, "device": "ios", "coupon": None}, "label": i % 2}
        for i in range(3)
    ]
    path = write(tmp_path, "events.jsonl", "\n".join(json.dumps(e) for e in events) + "\n\n")

    rows = load_rows(path)

    assert [r.label for r in rows] == [0, 1, 0]
    assert rows[1].features == {"cart": 1.0, "device": "ios", "coupon": None}
    assert rows[2].ts == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)


def test_a_label_nested_among_the_features_is_taken_out_of_them(tmp_path: Path) -> None:
    path = write(tmp_path, "e.jsonl", json.dumps({"features": {"x": 1.0, "y": 1}}) + "\n")

    assert load_rows(path, label="y") == [TrainingRow({"x": 1.0}, 1, None)]


def test_flat_json_lines_are_read_like_csv_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "e.ndjson", json.dumps({"user_id": "u", "x": 2, "y": True}) + "\n")

    assert load_rows(path, label="y") == [TrainingRow({"x": 2}, 1, None)]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("d.csv", "a,b\n1,2\n", "d.csv has no column `y`; its columns are: a, b"),
        ("d.csv", "a,y\n1,0\n2,yes\n", "d.csv line 3: label `y` is 'yes'; expected 0 or 1"),
        ("d.csv", "a,y\n1,2\n", "d.csv line 2: label `y` is '2'; expected 0 or 1"),
        ("d.csv", "a,y\n1,0\n1,2,3\n", "d.csv line 3: 3 cells; the header has 2"),
        ("d.csv", "a,y\ninf,0\n", "d.csv line 2: column `a` is infinite"),
        ("d.csv", "", "d.csv is empty"),
        ("d.csv", "a,y\n", "d.csv holds no rows"),
        ("d.csv", "a,ts,y\n1,yesterday,0\n", "d.csv line 2: timestamp 'yesterday' is not ISO 8601"),
        ("e.jsonl", '{"a": 1, "y": 0}\n{"a": 1,\n', "e.jsonl line 2: not valid JSON"),
        ("e.jsonl", "[1, 2]\n", "e.jsonl line 1: expected a JSON object"),
        ("e.jsonl", '{"a": 1}\n', "e.jsonl line 1 has no label `y`; its fields are: a"),
        ("e.jsonl", '{"a": [1], "y": 0}\n', "e.jsonl line 1: feature `a` is list"),
        ("e.jsonl", '{"a": true, "y": 0}\n', "e.jsonl line 1: feature `a` is bool"),
        ("d.parquet", "", "d.parquet: unknown format; expected a .csv or .jsonl"),
    ],
)
def test_a_bad_file_is_refused_with_the_line_or_column_named(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = write(tmp_path, name, text)

    with pytest.raises(TrainingDataError) as info:
        load_rows(path, label="y")

    assert message in str(info.value)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TrainingDataError, match="no such file"):
        load_rows(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("value", "label"), [(0, 0), (1.0, 1), ("1", 1), (" TRUE ", 1), (False, 0)]
)
def test_labels_are_read_from_numbers_booleans_and_their_text(value: object, label: int) -> None:
    assert parse_label(value, "here", "y") == label


def test_times_are_read_from_epoch_seconds_and_naive_text_as_utc() -> None:
    assert parse_time(0, "here") == datetime(1970, 1, 1, tzinfo=UTC)
    assert parse_time("2026-01-01 10:00", "here") == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_time("", "here") is None
