"""Which alerts the retrainer acts on: signed by the alert key, and about its own model.

No randomness: hand-made alerts and events, fixed keys (tests.signing_keys)."""

from __future__ import annotations

from typing import Any
from unittest.mock import MagicMock

import msgspec
import pytest

from contracts.records import Alert
from retrainer.config import RetrainerConfig
from retrainer.registry_io import RegistryWriter
from retrainer.service import RetrainerService
from scorer.bundle import ModelBundle
from tests.signing_keys import ALERT_KEYS, ALERT_SIGNER, OTHER_SIGNER, SIGNER
from tests.unit.retrainer.conftest import T0, alert, deployment
from tests.unit.retrainer.test_releaser import releaser
from tests.unit.retrainer.test_service import (
    ALERTS,
    SETTINGS,
    Message,
    eofs,
    feed,
    jobs,  # noqa: F401 - the fixture
    labeled_message,
    run_until_idle,
)


def started(service: RetrainerService) -> RetrainerService:
    service.loop.observe_deployment(deployment(1))
    service.unread = set()
    return service


def make_service() -> RetrainerService:
    config = RetrainerConfig(min_rows=3, window_size=100, every_labels=0, min_post_change=3)
    return started(RetrainerService(SETTINGS, config, b"key", alert_keys=ALERT_KEYS))  # type: ignore[arg-type]


def sent(a: Alert) -> Message:
    return Message(ALERTS, 0, 7, msgspec.json.encode(a))


@pytest.mark.parametrize(("forged", "reason"), [
    (alert(), "unsigned"),
    (OTHER_SIGNER.sign(alert()), "unknown-key"),
    (SIGNER.sign(alert()), "unknown-key"),
    (msgspec.structs.replace(ALERT_SIGNER.sign(alert(version=2)), version=1), "bad-signature"),
])
def test_an_alert_not_signed_by_the_alert_key_starts_no_round(
    jobs: list[tuple[Any, ...]], forged: Alert, reason: str  # noqa: F811
) -> None:
    service = make_service()
    consumer, writer = MagicMock(), MagicMock(spec_set=RegistryWriter)
    service._handle(sent(forged))
    service._handle(labeled_message(0, 0))
    for i in range(1, 10):
        service._handle(labeled_message(i, i))
    run_until_idle(service, consumer, writer)
    assert jobs == [] and service.loop.episodes.current is None
    assert service.alert_gate.refusals == {reason: 1}


def test_the_same_alert_signed_by_the_alert_key_starts_a_round(
    jobs: list[tuple[Any, ...]]  # noqa: F811
) -> None:
    service = make_service()
    consumer, writer = MagicMock(), MagicMock(spec_set=RegistryWriter)
    service._handle(sent(ALERT_SIGNER.sign(alert())))
    for i in range(10):
        service._handle(labeled_message(i, i))
    feed(service, eofs()[:1])
    run_until_idle(service, consumer, writer)
    assert len(jobs) == 1 and jobs[0][4].trigger.kind == "alert"
    assert service.alert_gate.refusals == {}


@pytest.mark.parametrize("model", ["another-model", ""])
def test_an_alert_about_the_same_version_number_of_another_model_keeps_the_canary(
    pre_drift_champion: ModelBundle, model: str
) -> None:
    r = releaser(pre_drift_champion)
    r.on_deployment(deployment(1, canary=2, fraction=0.5, at=T0))
    r.on_alert(alert(kind="data-drift", version=2, model=model))
    assert r.decide(T0) is None, "no verdict: the canary's trial goes on"
    r.on_alert(alert(kind="data-drift", version=2))
    change = r.decide(T0)
    assert change is not None and change.deployment.canary is None, "its own model's alert"
