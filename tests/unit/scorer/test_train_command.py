"""``streamml train`` without --publish: needs no broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from scorer.artifact import load_artifact
from scorer.datasets import TrainingRow
from streamml.cli.main import main
from tests.signing_keys import KEYS, PRIVATE_KEY
from tests.unit.scorer.csv_rows import write_csv

RowMaker = Callable[..., list[TrainingRow]]


@pytest.fixture
def data_file(tmp_path: Path, rows_maker: RowMaker) -> Path:
    return write_csv(tmp_path / "events.csv", rows_maker(300))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STREAMML_MODEL_PRIVATE_KEY", "STREAMML_MODEL_PRIVATE_KEY_FILE",
                 "STREAMML_MODEL_PUBLIC_KEYS", "STREAMML_SETTINGS_FILE", "STREAMML_MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)


def test_without_a_signing_key_one_line_says_what_to_set(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", "--data", str(data_file), "--label", "converted",
                 "--out", str(tmp_path / "out")])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "set STREAMML_MODEL_PRIVATE_KEY" in err
    assert not (tmp_path / "out").exists()


def test_training_prints_the_evaluation_and_saves_a_loadable_signed_artifact(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMML_MODEL_PRIVATE_KEY", PRIVATE_KEY)
    out = tmp_path / "out"

    code = main(["train", "--data", str(data_file), "--label", "converted", "--out", str(out)])

    assert code == 0
    printed = capsys.readouterr().out
    assert "roc_auc" in printed and "pr_auc" in printed and "time-ordered" in printed
    metrics = json.loads((out / "conversion-v1.json").read_text())
    assert set(metrics["metrics"]) >= {"accuracy", "precision", "recall", "f1", "roc_auc",
                                       "pr_auc", "log_loss", "brier"}
    assert metrics["threshold_rule"] == "f1" and metrics["validation_rows"] > 0
    assert f"decision threshold {metrics['threshold']:.4f} (f1, on" in printed
    data = (out / metrics["artifact"]).read_bytes()
    bundle = load_artifact(data, metrics["sha256"], metrics["signature"], KEYS,
                           key_id=metrics["key_id"])
    assert "user_id" not in bundle.schema.names
    assert bundle.threshold == metrics["threshold"]


def test_each_stage_is_told_on_stderr_as_it_begins_with_the_number_of_fits(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMML_MODEL_PRIVATE_KEY", PRIVATE_KEY)

    assert main(["train", "--data", str(data_file), "--label", "converted",
                 "--out", str(tmp_path)]) == 0

    lines = capsys.readouterr().err.splitlines()
    stages = [line.split("] ", 1)[1] for line in lines if line.startswith("[")]
    assert stages[0] == f"loading {data_file}"
    # --model auto searches each estimator's grid on three time-ordered folds.
    assert stages[1].startswith("searching logistic (of 3 estimators): 3 settings x 3 folds "
                                "= 9 fits on ")
    assert stages[2].startswith("searching hgb (of 3 estimators): 4 settings x 3 folds")
    assert stages[3].startswith("searching mlp (of 3 estimators): 4 settings x 3 folds")
    assert stages[4].startswith("choosing the decision threshold")
    assert stages[5].startswith("evaluating on ") and stages[5].endswith(" held-out rows")
    assert stages[6] == f"signing version 1 and writing it to {tmp_path}"
    seconds = [float(line[1:].split(" s]")[0]) for line in lines if line.startswith("[")]
    assert seconds == sorted(seconds)


def test_the_threshold_rule_comes_from_the_option_or_the_setting(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMML_MODEL_PRIVATE_KEY", PRIVATE_KEY)
    monkeypatch.setenv("STREAMML_DECISION_THRESHOLD_RULE", "cost:3")
    base = ["train", "--data", str(data_file), "--label", "converted", "--model", "logistic",
            "--out", str(tmp_path)]

    assert main(base) == 0
    assert json.loads((tmp_path / "conversion-v1.json").read_text())["threshold_rule"] == "cost:3"
    assert main([*base, "--threshold-rule", "positive-rate:0.3"]) == 0
    saved = json.loads((tmp_path / "conversion-v1.json").read_text())
    assert saved["threshold_rule"] == "positive-rate:0.3"
    capsys.readouterr()

    with pytest.raises(SystemExit):
        main([*base, "--threshold-rule", "precision"])
    assert "expected f1, positive-rate:R with 0 < R < 1, or cost:C" in capsys.readouterr().err


def test_a_bad_label_column_is_named(
    data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMML_MODEL_PRIVATE_KEY", PRIVATE_KEY)

    code = main(["train", "--data", str(data_file), "--label", "bought", "--out", str(tmp_path)])

    assert code == 2
    assert "events.csv has no column `bought`" in capsys.readouterr().err
