"""``streamml monitor`` on the command line, before it touches Kafka."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamml.cli.main import main


def test_check_rules_lists_the_shipped_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["monitor", "--check-rules"]) == 0

    out = capsys.readouterr().out
    assert "(defaults)" in out and "feature-drift: feature_psi above 0.2 for 2, clear 3" in out


def test_a_bad_rules_file_stops_the_command_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rules]]\nname = "x"\nmetric = "auc"\nbelow = 1\n')

    assert main(["monitor", "--rules", str(rules), "--check-rules"]) == 2

    assert "unknown metric 'auc'" in capsys.readouterr().err
