"""``streamml simulate --out`` and ``streamml produce --dry-run``, without a broker."""

from __future__ import annotations

import argparse
from pathlib import Path

import msgspec
import pytest

from contracts.decoding import decode_event
from contracts.records import UserEvent
from contracts.settings import Settings
from producers import ReplayError
from streamml.cli.commands import produce, simulate


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers(required=True)
    simulate.register(subparsers)
    produce.register(subparsers)
    args = parser.parse_args(argv)
    code: int = args.handler(args, Settings())
    return code


def test_simulate_out_writes_one_labelled_event_per_line(tmp_path: Path) -> None:
    out = tmp_path / "train.jsonl"

    code = run("simulate", "--events", "3000", "--seed", "4", "--scenario", "label-shift",
               "--start", "2026-01-01T00:00:00Z", "--out", str(out))

    lines = out.read_bytes().splitlines()
    assert code == 0 and len(lines) == 3000
    for line in lines:
        row = msgspec.json.decode(line)
        assert row.pop("label") in (0, 1)
        assert isinstance(decode_event(msgspec.json.encode(row)), UserEvent)


def test_simulate_out_is_the_same_for_the_same_seed_and_start(tmp_path: Path) -> None:
    args = ("simulate", "--events", "500", "--seed", "8", "--start", "2026-01-01T00:00:00Z")

    run(*args, "--out", str(tmp_path / "a.jsonl"))
    run(*args, "--out", str(tmp_path / "b.jsonl"))

    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_produce_dry_run_reports_rejected_rows_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("user_id,cart\nu1,1.5\n,2\nu3,NaN\n", encoding="utf-8")

    code = run("produce", str(path), "--dry-run")

    output = capsys.readouterr().out
    assert code == 1
    assert "3 rows read: 1 events" in output
    assert "empty-value" in output and "non-finite-number" in output


def test_produce_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="no such file"):
        run("produce", str(tmp_path / "nope.csv"))
