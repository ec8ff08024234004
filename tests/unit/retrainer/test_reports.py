"""What ``streamml models`` prints: versions with status, one version in full, the history."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from contracts.records import ModelVersion, TopicRange
from retrainer.reports import artifact_metadata, history_lines, show_lines, version_lines
from scorer.artifact import sign_bundle
from scorer.bundle import ModelBundle
from scorer.publishing import model_version_record
from scorer.registry import RegistryState
from tests.signing_keys import SIGNER
from tests.unit.retrainer.conftest import T0, deployment


def record(bundle: ModelBundle, version: int, **params: object) -> ModelVersion:
    b = dataclasses.replace(bundle, version=version, params={**bundle.params, **params},
                            lineage=(TopicRange(topic="le", partition=0, first=3, last=99),))
    return model_version_record(sign_bundle(b, SIGNER), trigger=f"labels: v{version}")


def test_the_list_shows_status_metrics_and_trigger(pre_drift_champion: ModelBundle) -> None:
    versions = {v: record(pre_drift_champion, v) for v in (1, 2, 3)}
    history = [deployment(1), deployment(1, canary=2, fraction=0.1), deployment(2)]
    state = RegistryState(model="conversion", versions=versions,
                          deployment=deployment(2, canary=3, fraction=0.1))
    lines = version_lines(state, history)
    assert lines[0].split()[:4] == ["version", "created", "(UTC)", "status"]
    by_version = {int(line.split()[0]): line for line in lines[1:]}
    assert "retired" in by_version[1] and "champion" in by_version[2]
    assert "canary" in by_version[3] and by_version[3].endswith("labels: v3")
    assert f"{pre_drift_champion.metrics['log_loss']:.4f}" in by_version[1]
    header = lines[0].split()
    for name in ("roc_auc", "pr_auc", "precision", "recall", "f1"):
        column = header.index(name)  # "created (UTC)" is two words, as is the time
        assert by_version[1].split()[column] == f"{pre_drift_champion.metrics[name]:.4f}"
    assert by_version[1].split()[header.index("threshold")] \
        == f"{pre_drift_champion.threshold:.4f}"


def test_show_prints_lineage_and_the_decision_from_the_artifact(
    pre_drift_champion: ModelBundle
) -> None:
    r = record(pre_drift_champion, 2, decision="published: beats the champion")
    text = "\n".join(show_lines(r, "canary"))
    assert "conversion version 2 (canary)" in text
    assert "le[0] offsets 3-99" in text
    assert 'decision:  "published: beats the champion"' in text
    assert f"threshold: {pre_drift_champion.threshold:.4f}" in text
    assert "pr_auc=" in text
    assert artifact_metadata(r) is not None


def test_history_shows_each_change_who_decided_and_why() -> None:
    lines = history_lines([
        deployment(1, reason="bootstrap"),
        deployment(1, canary=2, fraction=0.1, at=T0 + timedelta(hours=1), reason="beats v1"),
        deployment(2, at=T0 + timedelta(hours=2), reason="canary not worse"),
    ])
    assert lines[1].endswith("champion v1  | by test | bootstrap")
    assert "canary v2 at 10%  | by test | beats v1" in lines[2]
    assert "champion v1 -> v2  | by test | canary not worse" in lines[3]
    assert history_lines([]) == ["no deployment changes recorded"]
