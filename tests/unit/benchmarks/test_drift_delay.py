"""`python -m benchmarks drift_delay` prints, per change, where the first data alert came."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.drift_delay import CHANGES, main


def test_one_seed_prints_every_change_its_first_rule_and_the_targets(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "drift.json"
    code = main(["--seeds", "1", "--stable-events", "4000", "--json", str(out)])
    printed = capsys.readouterr().out
    figures = json.loads(out.read_text())
    assert [row["scenario"] for row in figures["changes"]] == list(CHANGES)
    # Every change was alerted, after it and not before.
    assert all(row["delays"][0] and row["delays"][0] > 0 and row["before_change"] == 0
               for row in figures["changes"])
    assert figures["changes"][1]["first_rules"] == {"unseen-categories": 1}
    assert figures["stable_alerts"] == [0]
    assert "target: covariate shift alerted within 500 events" in printed
    assert code == (0 if "MISSED" not in printed else 1)
