"""The audit trail on model-versions: its keys, its history, and readers that skip it."""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import MagicMock

import msgspec

from contracts.records import Deployment
from contracts.settings import Settings
from retrainer.audit import audit_key, fold_history, is_audit_key
from scorer.registry import fold_records
from stream_processors.metrics import ScoringMetrics
from stream_processors.model_watcher import ModelWatcher
from tests.signing_keys import KEYS, SIGNER
from tests.unit.retrainer.conftest import T0, deployment


def encoded(d: Deployment) -> bytes:
    return msgspec.json.encode(SIGNER.sign(d))


def test_audit_keys_are_unique_and_sort_by_time() -> None:
    keys = [audit_key("conversion", T0 + timedelta(microseconds=i)) for i in range(3)]
    assert len(set(keys)) == 3 and keys == sorted(keys)
    assert audit_key("conversion", T0) != audit_key("conversion", T0)
    assert all(is_audit_key(k, "conversion") for k in keys)
    assert not is_audit_key(keys[0], "conv")


def test_history_keeps_every_change_once_in_topic_order() -> None:
    changes = [deployment(1, at=T0), deployment(1, canary=2, fraction=0.1, at=T0 + timedelta(1)),
               deployment(2, at=T0 + timedelta(2))]
    records = []
    for d in changes:  # pointer and audit record, as one transaction writes them
        records += [(b"conversion/deployment", encoded(d)),
                    (audit_key("conversion", d.decided_at), encoded(d))]
    records += [(b"conversion/3", b"{}"), (b"other/deployment", encoded(deployment(9))),
                (audit_key("conversion", T0), b"not json"), (b"conversion/deployment", None)]
    assert fold_history(records, "conversion", KEYS) == [SIGNER.sign(c) for c in changes]


def test_pointer_records_without_an_audit_copy_are_in_the_history_too() -> None:
    first = deployment(1, reason="streamml train --publish")
    second = deployment(2, at=T0 + timedelta(hours=1))
    records = [(b"conversion/deployment", encoded(first)),
               (b"conversion/deployment", encoded(second)),
               (audit_key("conversion", second.decided_at), encoded(second))]
    assert [d.champion for d in fold_history(records, "conversion", KEYS)] == [1, 2]


def test_the_registry_reader_ignores_audit_records() -> None:
    records = [(b"conversion/deployment", encoded(deployment(1))),
               (audit_key("conversion", T0), encoded(deployment(5)))]
    state = fold_records(records, "conversion", KEYS)
    assert state.deployment is not None and state.deployment.champion == 1
    assert state.versions == {}


def test_the_model_watcher_of_a_processor_skips_audit_records_without_an_alert() -> None:
    loader = MagicMock(spec_set=lambda record, state: None)
    watcher = ModelWatcher(Settings(), loader, MagicMock(spec_set=ScoringMetrics), KEYS)
    assert watcher.apply(audit_key("conversion", T0), encoded(deployment(1))) is None
    assert watcher.state.deployment is None
    loader.assert_not_called()
