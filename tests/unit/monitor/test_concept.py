"""Concept-drift detectors: one contract over each, on seeded streams with a known change."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.concept import ErrorWatch, Strided, make_detector
from monitor.exceptions import RulesError

CHANGE = 5000


def errors(seed: int, *, change: float) -> list[float]:
    """Log-loss-like errors: exponential, mean 0.35, rising by ``change`` at CHANGE."""
    rng = np.random.default_rng(seed)
    before = rng.exponential(0.35, CHANGE)
    after = rng.exponential(0.35 + change, 10_000)
    return np.concatenate([before, after]).tolist()


DETECTORS = {
    "adwin": {},
    "adwin_blocks": {},
    "page_hinkley": {"min_instances": 300, "delta": 0.05, "threshold": 60.0},
    "kswin": {"alpha": 0.0001, "window_size": 500, "stat_size": 150, "stride": 5, "seed": 1},
}


def detections(name: str, stream: list[float]) -> list[int]:
    detector = make_detector(name, DETECTORS[name])
    hits = []
    for i, x in enumerate(stream):
        detector.update(x)
        if detector.drift_detected:
            hits.append(i)
    return hits


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_a_stable_stream_triggers_nothing(name: str) -> None:
    assert detections(name, errors(1, change=0.0)) == []


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_a_change_is_detected_after_it_happens_and_soon(name: str) -> None:
    hits = detections(name, errors(2, change=0.2))

    assert hits, "the change was missed"
    assert CHANGE <= hits[0] <= CHANGE + 3000


def test_kswin_sees_one_value_in_its_stride() -> None:
    detector = make_detector("kswin", {"stride": 50})
    assert isinstance(detector, Strided)

    for x in errors(3, change=0.0)[:10_000]:
        detector.update(x)

    assert detector.fed == 200


def test_unknown_detectors_and_parameters_are_refused_with_the_choices() -> None:
    with pytest.raises(RulesError, match="adwin, adwin_blocks, page_hinkley, kswin"):
        make_detector("cusum")
    with pytest.raises(RulesError, match="adwin"):
        make_detector("adwin", {"no_such_parameter": 1})
    with pytest.raises(RulesError, match="adwin_blocks.*delta"):
        make_detector("adwin_blocks", {"delta": 2.0})


def test_error_watch_reports_each_detector_that_fired_once() -> None:
    watch = ErrorWatch({"adwin": make_detector("adwin")})

    watch.update_many(np.array(errors(4, change=0.0)[:CHANGE]))
    assert watch.take_fired() == []
    watch.update_many(np.array(errors(4, change=0.5)[CHANGE:]))
    assert watch.take_fired() == ["adwin"]
    assert watch.take_fired() == []
    assert watch.last_detection["adwin"] >= CHANGE
