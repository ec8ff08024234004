"""``streamml models import`` without --publish: needs no broker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import skops.io as sio

from scorer.artifact import load_artifact
from streamml.cli.main import main
from tests.signing_keys import KEYS, PRIVATE_KEY
from tests.unit.scorer.test_imported import TREE, fitted, frame


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv("STREAMML_MODEL_PRIVATE_KEY", PRIVATE_KEY)
    for name in ("STREAMML_MODEL_PUBLIC_KEYS", "STREAMML_SETTINGS_FILE", "STREAMML_MODEL_NAME"):
        monkeypatch.delenv(name, raising=False)
    model = tmp_path / "model.skops"
    sio.dump(fitted(), model)
    df, y = frame(seed=3)
    reference = tmp_path / "reference.csv"
    df.assign(converted=y).to_csv(reference, index=False)
    return model, reference


def test_an_unconfirmed_type_is_named_in_one_line_and_nothing_is_written(
        files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, reference = files

    code = main(["models", "import", str(model), "--reference", str(reference),
                 "--label", "converted", "--out", str(tmp_path / "out")])

    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines()[-1].endswith(f"--trust {TREE}")
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_confirmed_import_writes_a_signed_artifact_that_loads(
        files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, reference = files
    out = tmp_path / "out"

    code = main(["models", "import", str(model), "--reference", str(reference),
                 "--label", "converted", "--trust", TREE, "--out", str(out)])

    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "2 features (x, device)" in printed and f"trusted as confirmed: {TREE}" in printed
    meta = json.loads((out / "conversion-v1.json").read_text())
    assert meta["estimator"] == "imported" and meta["trusted_types"] == [TREE]
    bundle = load_artifact((out / "conversion-v1.artifact").read_bytes(), meta["sha256"],
                           meta["signature"], KEYS, key_id=meta["key_id"])
    assert bundle.params["source"] == "model.skops" and bundle.metrics["roc_auc"] > 0.9
