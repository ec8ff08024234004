"""The sliding data-drift window: each judgement equals a fresh sketch of the last
``max_events`` events, whatever the batches it arrived in."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import numpy as np
import pytest
from msgspec.structs import asdict

from contracts.reference_stats import Reference
from contracts.sketches import NumericFigures
from monitor.features import FeatureWindow
from monitor.reference import version_info
from monitor.report import Scope
from producers.simulator import Simulator
from scorer.artifact import sign_bundle
from scorer.bundle import ModelBundle
from scorer.publishing import model_version_record
from tests.signing_keys import SIGNER
from tests.unit.monitor.conftest import START

SCOPE = Scope("conversion", 1, "champion")


def reference_of(bundle: ModelBundle) -> Reference:
    reference = version_info(model_version_record(sign_bundle(bundle, SIGNER))).reference
    assert reference is not None
    return reference


def numbers(figures: NumericFigures) -> dict[str, float]:
    return {k: v for k, v in asdict(figures).items() if isinstance(v, float | int)}


@pytest.mark.parametrize("batch", [1, 37, 500, 4000])
def test_every_judgement_equals_a_fresh_sketch_of_the_last_window(
        bundle: ModelBundle, batch: int) -> None:
    events = [i.event for i in Simulator(seed=5, scenario="covariate-shift", start=START,
                                         drift_at=1500).events(3000)]
    reference = reference_of(bundle)
    sliding = FeatureWindow(SCOPE, reference, max_events=500, stride=100, max_seconds=3600,
                            min_events=200)
    reports = []
    for i in range(0, len(events), batch):
        reports += sliding.add(sliding.columns(events[i:i + batch]))
    assert len(reports) == 30
    for k, report in enumerate(reports):
        last = events[max(0, (k + 1) * 100 - 500):(k + 1) * 100]
        fresh = FeatureWindow(SCOPE, reference, max_events=len(last), stride=len(last),
                              max_seconds=3600, min_events=1)
        [expected] = fresh.add(fresh.columns(last))
        assert report.n == len(last) and report.judged == (len(last) == 500)
        assert report.start == expected.start and report.end == expected.end
        for name, figures in expected.features.items():
            got = report.features[name]
            if isinstance(figures, NumericFigures):  # a running sum: equal to rounding
                assert numbers(got) == pytest.approx(numbers(figures), rel=1e-9, nan_ok=True)
                assert got.edges == figures.edges
                assert got.share == pytest.approx(figures.share, rel=1e-9)
            else:
                assert got == figures, (k, name)


def test_a_stream_too_slow_to_fill_the_window_is_judged_on_what_its_span_holds(
        bundle: ModelBundle) -> None:
    # 60 events an hour: 500 events would span eight hours, the window one.
    events = [i.event for i in Simulator(seed=5, start=START).events(600)]
    events = [msgspec.structs.replace(e, ts=START + timedelta(minutes=i))
              for i, e in enumerate(events)]
    window = FeatureWindow(SCOPE, reference_of(bundle), max_events=500, stride=100,
                           max_seconds=3600, min_events=50)
    reports = window.add(window.columns(events))
    judged = [r for r in reports if r.judged]
    assert judged, [r.n for r in reports]
    assert all(r.end - r.start <= 3600 for r in reports)
    assert max(r.n for r in reports) < 500


def test_blocks_are_reused_so_memory_stays_flat(bundle: ModelBundle) -> None:
    events = [i.event for i in Simulator(seed=5, start=START).events(20_000)]
    window = FeatureWindow(SCOPE, reference_of(bundle), max_events=500, stride=100,
                           max_seconds=3600, min_events=200)
    for i in range(0, len(events), 1000):
        window.add(window.columns(events[i:i + 1000]))
    assert len(window.blocks) == 5 and len(window._spare) <= 1  # noqa: SLF001
    assert window.count == 500
    assert int(np.sum(next(iter(window.numeric.values())).fine)) <= 500
