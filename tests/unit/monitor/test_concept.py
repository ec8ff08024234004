"""Concept-drift detectors: one contract over each, on seeded streams with a known change."""

from __future__ import annotations

import numpy as np
import pytest
from river import drift

from monitor.concept import ErrorWatch, RiverADWIN, Strided, make_detector
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


def rivers_detections(stream: list[float]) -> list[tuple[int, int]]:
    """Where river's ADWIN, fed one error at a time, detects, and the window it keeps."""
    detector = drift.ADWIN()
    hits = []
    for i, x in enumerate(stream):
        detector.update(x)
        if detector.drift_detected:
            hits.append((i, detector.width))
    return hits


@pytest.mark.parametrize("seed", range(6))
def test_adwin_fed_blocks_of_errors_detects_where_river_does_one_at_a_time(seed: int) -> None:
    # Rises and falls, so it detects several times and resets between; blocks of random
    # sizes, so detections fall at a block's first, inner and last errors.
    rng = np.random.default_rng(seed)
    stream = np.concatenate([rng.exponential(m, 3000) for m in (0.3, 0.6, 0.3, 0.9)]).tolist()
    detector = make_detector("adwin")
    assert isinstance(detector, RiverADWIN)
    hits, at = [], 0
    while at < len(stream):
        k = int(rng.integers(1, 400))
        hits += [(at + i, width) for i, width in detector.update_many(stream[at:at + k])]
        at += k

    expected = rivers_detections(stream)
    assert len(expected) >= 3
    assert hits == expected


def test_adwin_fed_one_error_and_then_blocks_resets_once_after_a_detection() -> None:
    stream = [0.1] * 2000 + [0.9] * 20 + [0.9] * 3000
    detector = RiverADWIN()
    [(first, _)] = detector.update_many(stream[:2016])
    assert first == 2015 and detector.drift_detected
    detector.update(stream[2016])  # river's update resets first
    later = [(2017 + i, w) for i, w in detector.update_many(stream[2017:])]

    river = rivers_detections(stream)
    assert river[0][0] == first
    assert later == river[1:]
