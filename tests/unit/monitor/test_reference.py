"""The monitor reads the scorer's reference and registry records without importing the scorer."""

from __future__ import annotations

import subprocess
import sys

import msgspec
import numpy as np

from contracts.records import LabeledEvent
from contracts.reference_stats import Reference
from monitor.records import LabeledOutcome
from monitor.reference import MAX_VERSIONS_KEPT, Registry
from monitor.report import Scope
from scorer.bundle import ModelBundle
from scorer.feature_schema import infer_schema
from scorer.reference import reference_stats
from tests.signing_keys import SIGNER
from tests.unit.monitor.conftest import make_pipeline, play, registry_records, simulator


def test_the_scorers_reference_decodes_into_the_monitors_structs() -> None:
    rows = [{"x": float(i), "c": "ab"[i % 2], "m": None if i % 5 else 1.0} for i in range(50)]
    ours = reference_stats(infer_schema(rows), rows, np.linspace(0, 1, 50))

    theirs = Reference.from_json(ours.to_json())

    assert msgspec.json.encode(theirs) == ours.to_json()


def test_registry_folds_versions_and_deployment(bundle: ModelBundle) -> None:
    registry = Registry(model="conversion")

    for key, value in registry_records(bundle):
        registry.apply(key, value)

    assert registry.served() == {"champion": 1}
    reference = registry.reference(1)
    assert reference is not None and "cart_value" in reference.numeric
    assert registry.metrics(1)["roc_auc"] > 0.5
    assert registry.threshold(1) == bundle.threshold != 0.5
    assert registry.threshold(2) is None


def test_a_version_record_without_a_threshold_decides_at_one_half(bundle: ModelBundle) -> None:
    registry = Registry(model="conversion")
    key, value = registry_records(bundle)[0]
    old = msgspec.json.decode(value)
    del old["threshold"]

    registry.apply(key, msgspec.json.encode(old))

    assert registry.threshold(1) == 0.5


def test_labeled_events_are_decided_at_their_versions_threshold(bundle: ModelBundle) -> None:
    pipeline = make_pipeline(bundle)

    play(pipeline, bundle, simulator(), 4000)

    scope = pipeline.monitor.labeled[Scope("conversion", 1, "champion")]
    assert scope.threshold == bundle.threshold
    assert scope.current()["recall"] > 0 and scope.current()["precision"] > 0


def test_registry_ignores_other_models_and_bad_records_and_obeys_tombstones() -> None:
    registry = Registry(model="conversion")

    assert not registry.apply(b"other/1", b"{}")
    assert registry.apply(b"conversion/1", b"not json")  # logged and skipped
    assert registry.apply(b"conversion/1", None)
    assert registry.versions == {} and registry.served() == {}


def test_registry_keeps_a_bounded_number_of_versions(bundle: ModelBundle) -> None:
    from scorer.artifact import sign_bundle
    from scorer.publishing import model_version_record

    registry = Registry(model="conversion")
    record = model_version_record(sign_bundle(bundle, SIGNER))
    for version in range(1, MAX_VERSIONS_KEPT + 5):
        registry.apply(f"conversion/{version}".encode(),
                       msgspec.json.encode(msgspec.structs.replace(record, version=version)))

    assert len(registry.versions) == MAX_VERSIONS_KEPT
    assert registry.served() == {"champion": MAX_VERSIONS_KEPT + 4}  # newest, no deployment


def test_labeled_outcome_mirrors_the_labeled_event_contract() -> None:
    assert LabeledOutcome.__struct_fields__ == LabeledEvent.__struct_fields__


def test_the_monitor_imports_no_kafka_client_and_no_other_role() -> None:
    code = ("import sys, monitor, monitor.pipeline, monitor.page; "
            "print(sorted({m.split('.')[0] for m in sys.modules}))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout

    # (river.drift itself imports scikit-learn; the scorer's stack stays out.)
    for name in ("confluent_kafka", "aiokafka", "faust", "scorer", "skops",
                 "stream_processors", "retrainer", "producers"):
        assert f"'{name}'" not in loaded
