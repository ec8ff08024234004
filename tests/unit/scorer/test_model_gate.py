"""``streamml models evaluate --against ARTIFACT``: the retrainer's gate offline, no broker.

The data come from fixed seeds. The verdicts do not hang on them: the candidates are
a model of the rule that labels the rows and one trained on shuffled labels, whose
log losses on 2,000 fresh rows differ by far more than the paired test's margin.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from scorer.datasets import TrainingRow
from streamml.cli.main import main
from tests.signing_keys import OTHER_PRIVATE_KEY, PRIVATE_KEY
from tests.unit.scorer.csv_rows import write_csv

RowMaker = Callable[..., list[TrainingRow]]


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STREAMML_MODEL_PRIVATE_KEY_FILE", "STREAMML_MODEL_PUBLIC_KEYS",
                 "STREAMML_SETTINGS_FILE", "STREAMML_MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMML_MODEL_PRIVATE_KEY", PRIVATE_KEY)


def trained(tmp_path: Path, name: str, rows: list[TrainingRow]) -> Path:
    out = tmp_path / name
    data = write_csv(tmp_path / f"{name}.csv", rows)
    # One estimator: the gate judges whatever it is given, and auto would triple the time.
    assert main(["train", "--data", str(data), "--label", "converted", "--model", "logistic",
                 "--out", str(out)]) == 0
    return next(out.glob("*.artifact"))


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.unit.scorer.conftest import make_rows

    tmp = tmp_path_factory.mktemp("gate")
    rows = make_rows(1500, seed=3)
    labels = [row.label for row in rows]
    random.Random(3).shuffle(labels)
    shuffled = [row._replace(label=label) for row, label in zip(rows, labels, strict=True)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STREAMML_MODEL_PRIVATE_KEY", PRIVATE_KEY)
        return {"good": trained(tmp, "good", rows), "noise": trained(tmp, "noise", shuffled),
                "holdout": write_csv(tmp / "holdout.csv", make_rows(2000, seed=4))}


def evaluate(capsys: pytest.CaptureFixture[str], candidate: Path, *args: str) -> tuple[int, str]:
    code = main(["models", "evaluate", str(candidate), "--label", "converted", *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_a_model_of_the_rule_passes_against_one_of_shuffled_labels_and_not_the_reverse(
    artifacts: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    holdout = str(artifacts["holdout"])
    report = tmp_path / "verdict.json"

    passed, out = evaluate(capsys, artifacts["good"], "--data", holdout,
                           "--against", str(artifacts["noise"]), "--report", str(report))
    refused, out_refused = evaluate(capsys, artifacts["noise"], "--data", holdout,
                                    "--against", str(artifacts["good"]))

    assert passed == 0, out
    assert "PASSED: published" in out and "on 2000 rows" in out
    assert refused == 1, out_refused
    assert "REFUSED: not published: no skill over the base rate" in out_refused
    verdict = json.loads(report.read_text())
    assert verdict["passed"] is True and verdict["rows"] == 2000
    assert verdict["candidate"]["log_loss"] < verdict["champion"]["log_loss"]
    assert verdict["gain"]["lower_bound"] > 0


def test_an_artifact_signed_by_an_untrusted_key_is_refused_in_one_line(
    artifacts: dict[str, Path], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMML_MODEL_PRIVATE_KEY", OTHER_PRIVATE_KEY)

    code, out = evaluate(capsys, artifacts["good"], "--data", str(artifacts["holdout"]),
                         "--against", str(artifacts["noise"]))

    assert code == 2
    assert out.count("\n") == 1 and "is refused" in out


def test_a_tampered_artifact_is_refused(
    artifacts: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    tampered = tmp_path / "good.artifact"
    data = bytearray(artifacts["good"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    tampered.with_suffix(".json").write_bytes(artifacts["good"].with_suffix(".json").read_bytes())

    code, out = evaluate(capsys, tampered, "--data", str(artifacts["holdout"]),
                         "--against", str(artifacts["noise"]))

    assert code == 2 and "is refused" in out and out.count("\n") == 1


def test_without_its_metrics_file_the_artifact_cannot_be_checked(
    artifacts: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    alone = tmp_path / "alone.artifact"
    alone.write_bytes(artifacts["good"].read_bytes())

    code, out = evaluate(capsys, alone, "--data", str(artifacts["holdout"]),
                         "--against", str(artifacts["noise"]))

    assert code == 2 and "alone.json: no such file" in out


def test_data_the_models_cannot_score_is_said_so(
    artifacts: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lacking = tmp_path / "lacking.csv"
    lines = artifacts["holdout"].read_text().splitlines()
    lacking.write_text("\n".join(",".join(line.split(",")[:3] + line.split(",")[4:])
                                 for line in lines) + "\n")  # no `pages` column

    code, out = evaluate(capsys, artifacts["good"], "--data", str(lacking),
                         "--against", str(artifacts["noise"]))

    assert code == 2 and "cannot score the data" in out, out
