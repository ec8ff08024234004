"""``streamml models`` on a real broker and a real processor: changes, history, fast rollback."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts.settings import Settings
from scorer.bundle import ModelBundle
from scorer.publishing import model_version_record
from streamml.broker.single_node import free_port
from streamml.cli.main import main
from tests.integration.processes import http_get, settings_env, streamml_child, wait_for_health
from tests.integration.scoring_fixtures import (
    publish_champion,
    publish_record,
    signed,
    trained_bundle,
)
from tests.integration.test_retrainer_support import registry, signed_settings, wait_for
from tests.unit.scorer.band_rule import band_rows


@pytest.fixture(scope="module")
def bundles() -> dict[int, ModelBundle]:
    return {v: trained_bundle(v, seed=v, rows=1500) for v in (1, 2, 3)}


@pytest.fixture
def settings(kafka_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = signed_settings(kafka_settings)
    for name, value in settings_env(settings).items():
        if name.startswith(("STREAMML_", "KAFKA_")):
            monkeypatch.setenv(name, value)
    return settings


def models(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["models", *args])
    out, err = capsys.readouterr()
    return code, out, err


def champion_at(port: int) -> int | None:
    return json.loads(http_get(f"http://127.0.0.1:{port}/health")[1]).get("champion")


def test_a_canary_cycle_by_hand_is_in_the_history_and_rollback_serves_within_2s(
    settings: Settings, bundles: dict[int, ModelBundle], tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    publish_champion(settings, signed(bundles[1]))
    for version in (2, 3):
        publish_record(settings, model_version_record(signed(bundles[version])), None)
    port = free_port()
    env = settings_env(settings, STREAMML_SCORING_PORT=str(port))
    with streamml_child(["process", "--data-dir", str(tmp_path / "w")], env,
                        tmp_path / "process.log") as processor:
        wait_for_health(processor, port)
        wait_for(lambda: champion_at(port) == 1, timeout=30, what="v1 serving", child=processor)

        assert models(capsys, "canary", "2", "--fraction", "0.3",
                      "--reason", "try v2 on 30% of users")[1].startswith("canary v2 at 30%")
        assert models(capsys, "promote", "2", "--reason", "canary looks good")[1] \
            .startswith("champion v1 -> v2")
        assert models(capsys, "shadow", "3", "--reason", "watch v3 quietly")[0] == 0
        wait_for(lambda: champion_at(port) == 2, timeout=10, what="v2 serving",
                 child=processor)

        began = time.monotonic()
        code, out, _ = models(capsys, "rollback", "--reason", "v2 misbehaves")
        wait_for(lambda: champion_at(port) == 1, timeout=10, what="v1 serving again",
                 child=processor, every=0.02)
        seconds = time.monotonic() - began
        with capsys.disabled():
            print(f"\nrollback: command to processor serving v1 in {seconds:.2f}s")
        assert code == 0 and out.startswith("champion v2 -> v1, shadow ended")
        assert seconds < 2.0
        assert "refused" not in processor.output()

    code, out, _ = models(capsys, "history")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 6, out
    assert lines[1].endswith("champion v1  | by test | test")
    expected = [("canary v2 at 30%", "canary", "try v2 on 30% of users"),
                ("champion v1 -> v2", "promote", "canary looks good"),
                ("shadow v3", "shadow", "watch v3 quietly"),
                ("champion v2 -> v1, shadow ended", "rollback", "v2 misbehaves")]
    for line, (change, verb, reason) in zip(lines[2:], expected, strict=True):
        assert f"  {change}  | by streamml models {verb} (" in line and line.endswith(reason)

    listed = subprocess.run([sys.executable, "-m", "streamml", "models", "list"],
                            env=settings_env(settings), capture_output=True, text=True,
                            check=True, timeout=60).stdout.splitlines()
    status = {int(line.split()[0]): line.split()[3] for line in listed[1:]}
    assert status == {1: "champion", 2: "retired", 3: "retired"}
    header = listed[0].split()  # "created (UTC)" is two words, as the date and time are
    for line in listed[1:]:
        values = line.split()
        for name in ("precision", "recall", "f1", "pr_auc"):
            assert float(values[header.index(name)]) > 0, line
        assert 0 < float(values[header.index("threshold")]) < 0.5, line  # ~14% positives

    code, out, _ = models(capsys, "show", "2")
    assert code == 0 and "conversion version 2 (retired)" in out
    assert "lineage:   none (trained on a file)" in out and "features:" in out


def test_changes_that_cannot_be_made_are_refused_with_the_reason(
    settings: Settings, bundles: dict[int, ModelBundle], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = models(capsys, "canary", "1", "--fraction", "0.1")
    assert code == 2 and "no deployment yet" in err
    publish_champion(settings, signed(bundles[1]))
    code, _, err = models(capsys, "promote", "9")
    assert code == 2 and "version 9 is not in the registry (known: 1)" in err
    code, _, err = models(capsys, "rollback")
    assert code == 2 and "nothing to roll back to" in err
    code, out, _ = models(capsys, "show", "4")
    assert code == 1 and "not in the registry" in out
    assert [d.champion for d in registry(settings).history] == [1]


def test_train_publishes_a_model_no_better_than_the_base_rate_only_when_forced(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A band rule no straight line fits (fixed seed; the linear model's held-out skill
    is about 0 whatever the seed, see tests/unit/scorer/band_rule.py)."""
    data = tmp_path / "band.csv"
    data.write_text("ts,x,c,label\n" + "".join(
        f"{row.ts.isoformat() if row.ts else ''},{row.features['x']},{row.features['c']},"
        f"{row.label}\n" for row in band_rows(2000, seed=5)))
    train = ["train", "--data", str(data), "--label", "label", "--model", "logistic",
             "--publish", "--out", str(tmp_path / "out")]

    refused = main(train)
    out = capsys.readouterr().out
    assert refused == 1
    assert "no better than predicting the base rate" in out and "not published" in out
    assert registry(settings).state.versions == {}

    assert main([*train, "--force"]) == 0
    assert sorted(registry(settings).state.versions) == [1]
