"""The releaser: loads the compared models, re-scores the other side, writes verdicts."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from unittest.mock import MagicMock

import msgspec
import numpy as np

from producers.simulator import SimulatedEvent
from retrainer.registry_io import RegistryWriter
from retrainer.release import ReleasePolicy
from retrainer.releaser import KEPT_RECORDS, Releaser
from scorer.artifact import sign_bundle
from scorer.bundle import ModelBundle
from scorer.publishing import model_version_record
from tests.unit.retrainer.conftest import T0, alert, as_labeled, deployment

KEY = b"unit-key"


def value(bundle: ModelBundle, version: int, key: bytes = KEY) -> bytes:
    record = model_version_record(sign_bundle(dataclasses.replace(bundle, version=version), key))
    return msgspec.json.encode(record)


def releaser(bundle: ModelBundle, **policy: object) -> Releaser:
    r = Releaser(ReleasePolicy(**{"min_labels": 50, **policy}),  # type: ignore[arg-type]
                 model="conversion", key=KEY)
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


def test_a_verdict_is_written_with_its_audit_and_info_alert(
    pre_drift_champion: ModelBundle
) -> None:
    r = releaser(pre_drift_champion)
    current = deployment(1, canary=2, fraction=0.5, at=T0)
    r.on_deployment(current)
    r.on_alert(alert(kind="data-drift", version=2))
    writer = MagicMock(spec_set=RegistryWriter)
    r.tick(writer, "log_loss", 0.01)
    change = writer.write.call_args.kwargs["deployment"]
    (notice,) = writer.write.call_args.kwargs["alerts"]
    assert (change.champion, change.canary) == (1, None)
    assert change.decided_by == "retrainer (release controller)"
    assert notice.kind == "release-rollback" and notice.severity == "info"
    r.tick(writer, "log_loss", 0.01)
    assert writer.write.call_count == 1


def test_a_candidate_that_cannot_be_loaded_is_left_to_an_operator(
    pre_drift_champion: ModelBundle
) -> None:
    r = Releaser(ReleasePolicy(), model="conversion", key=KEY)
    r.on_version(1, value(pre_drift_champion, 1))
    r.on_version(2, value(pre_drift_champion, 2, key=b"another key"))
    r.on_deployment(deployment(1, canary=2, fraction=0.5))
    assert r.controller.candidate is None


def test_only_the_newest_version_records_are_kept(pre_drift_champion: ModelBundle) -> None:
    r = Releaser(ReleasePolicy(), model="conversion", key=KEY)
    record = value(pre_drift_champion, 1)
    for version in range(1, KEPT_RECORDS + 3):
        r.on_version(version, record)
    r.on_deployment(deployment(1, canary=KEPT_RECORDS + 2, fraction=0.5))
    assert r.controller.candidate is None, "version 1 was forgotten"
