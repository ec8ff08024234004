"""The releaser: loads the compared models, re-scores the other side, makes the records."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import msgspec
import numpy as np

from producers.simulator import SimulatedEvent
from retrainer.release import ReleasePolicy
from retrainer.releaser import KEPT_RECORDS, Releaser
from scorer.artifact import sign_bundle
from scorer.bundle import ModelBundle
from scorer.publishing import model_version_record
from scorer.signing import Signer
from tests.signing_keys import KEYS, OTHER_SIGNER, SIGNER
from tests.unit.retrainer.conftest import T0, alert, as_labeled, deployment


def value(bundle: ModelBundle, version: int, signer: Signer = SIGNER) -> bytes:
    record = model_version_record(sign_bundle(dataclasses.replace(bundle, version=version), signer))
    return msgspec.json.encode(signer.sign(record))


def releaser(bundle: ModelBundle, **policy: object) -> Releaser:
    r = Releaser(ReleasePolicy(**{"min_labels": 50, **policy}),  # type: ignore[arg-type]
                 model="conversion", key=KEYS)
    r.on_version(1, value(bundle, 1))
    r.on_version(2, value(bundle, 2))
    return r


def test_events_are_paired_with_the_other_models_score(
    pre_drift_champion: ModelBundle, drift_items: list[SimulatedEvent]
) -> None:
    r = releaser(pre_drift_champion)
    r.on_deployment(deployment(1, canary=2, fraction=0.5, at=T0))
    events = [msgspec.structs.replace(e, version=1 + n % 2, score=0.123,
                                      ts=T0 + timedelta(seconds=n))
              for n, e in enumerate(as_labeled(drift_items[:40]))]
    r.on_labeled(events)
    y, new, old = r.controller.pairs.arrays()
    expected = pre_drift_champion.score_batch([e.features for e in events])[0]
    served_by_2 = np.array([e.version == 2 for e in events])
    assert len(y) == 40
    np.testing.assert_allclose(new[served_by_2], 0.123)
    np.testing.assert_allclose(new[~served_by_2], expected[~served_by_2])
    np.testing.assert_allclose(old[~served_by_2], 0.123)
    np.testing.assert_allclose(old[served_by_2], expected[served_by_2])


def test_a_verdict_becomes_a_deployment_and_an_info_alert_once(
    pre_drift_champion: ModelBundle
) -> None:
    r = releaser(pre_drift_champion)
    current = deployment(1, canary=2, fraction=0.5, at=T0)
    r.on_deployment(current)
    r.on_alert(alert(kind="data-drift", version=2))
    change = r.decide(T0)
    assert change is not None
    assert (change.deployment.champion, change.deployment.canary) == (1, None)
    assert change.deployment.decided_by == "retrainer (release controller)"
    assert change.alert.kind == "release-rollback" and change.alert.severity == "info"
    assert r.decide(T0) is None
    r.failed()
    assert r.decide(T0) is not None, "decided again when the change was not written"


def test_a_candidate_that_cannot_be_loaded_ends_its_trial_and_leaves_its_route(
    pre_drift_champion: ModelBundle
) -> None:
    r = Releaser(ReleasePolicy(), model="conversion", key=KEYS)
    r.on_version(1, value(pre_drift_champion, 1))
    r.on_version(2, value(pre_drift_champion, 2, OTHER_SIGNER))
    r.on_deployment(deployment(1, canary=2, fraction=0.5))
    change = r.decide(T0)
    assert change is not None and change.decision.action == "expire"
    assert change.deployment.canary is None and change.deployment.canary_fraction == 0.0
    assert change.deployment.champion == 1
    assert change.alert.kind == "trial-expired" and change.alert.severity == "warning"
    assert "cannot load canary version 2" in change.decision.reason


def test_a_champion_that_cannot_be_loaded_leaves_the_trial_to_its_deadline(
    pre_drift_champion: ModelBundle, drift_items: list[SimulatedEvent]
) -> None:
    r = Releaser(ReleasePolicy(deadline_labels=30), model="conversion", key=KEYS)
    record = value(pre_drift_champion, 1)
    for version in range(1, KEPT_RECORDS + 3):
        r.on_version(version, record)
    r.on_deployment(deployment(1, canary=KEPT_RECORDS + 2, fraction=0.5, at=T0))
    assert r.controller.candidate is not None and r.decide(T0) is None
    r.on_labeled(as_labeled(drift_items[:30]))
    change = r.decide(T0)
    assert change is not None and change.decision.action == "expire"
    assert change.decision.reason.startswith("trial expired: 0 labels of 200")
