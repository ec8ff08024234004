"""ADWIN fed blocks of errors: the same detector as river's, judged between blocks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from river import drift as river_drift

from monitor.block_adwin import BlockADWIN, _merged, _removed
from monitor.concept import ErrorWatch, make_detector

drift: Any = river_drift
CHANGE = 5_000


def stream(seed: int, rise: float) -> np.ndarray:
    """Exponential errors, mean 0.35, rising by ``rise`` at CHANGE."""
    rng = np.random.default_rng(seed)
    return np.r_[rng.exponential(0.35, CHANGE), rng.exponential(0.35 + rise, 5_000)]


def found(detector: Any, errors: np.ndarray, k: int = 1) -> list[int]:
    """Errors fed up to each detection, ``k`` a block."""
    out = []
    for lo in range(0, errors.size, k):
        block = errors[lo:lo + k]
        if k == 1:
            detector.update(float(block[0]))
        else:
            detector.update_block(block.size, float(block.sum()),
                                  float(np.square(block - block.mean()).sum()))
        if detector.drift_detected:
            out.append(lo + block.size)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_fed_one_item_at_a_time_it_detects_where_rivers_adwin_does(seed: int) -> None:
    errors = stream(seed, rise=(0.0, 0.1, 0.3)[seed % 3])

    assert found(BlockADWIN(), errors) == found(drift.ADWIN(), errors)


@pytest.mark.parametrize("seed", range(10))
def test_blocks_of_a_hundred_find_a_rise_soon_and_nothing_in_a_stable_stream(seed: int) -> None:
    assert found(BlockADWIN(), stream(seed, rise=0.0), k=100) == []
    hits = found(BlockADWIN(), stream(seed, rise=0.2), k=100)
    assert hits and CHANGE < hits[0] <= CHANGE + 3_000


def test_buckets_merge_and_part_exactly() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(1.0, 2.0, 37), rng.normal(-3.0, 0.5, 12)

    def stats(x: np.ndarray) -> tuple[int, float, float]:
        return x.size, float(x.sum()), float(np.square(x - x.mean()).sum())

    both = np.r_[a, b]
    assert np.allclose(_merged(stats(a), stats(b)), stats(both))
    assert np.allclose(_removed(stats(both), stats(a)), stats(b))


def test_it_starts_afresh_after_a_detection() -> None:
    detector = BlockADWIN()
    errors = stream(3, rise=0.5)
    first = found(BlockADWIN(), errors, k=100)[0]
    found(detector, errors[:first], k=100)
    assert detector.drift_detected
    detector.update_block(100, 35.0, 12.0)
    assert not detector.drift_detected and detector.width == 100


def test_the_watch_feeds_a_call_as_one_block_and_cuts_before_the_change() -> None:
    watch = ErrorWatch({"adwin_blocks": make_detector("adwin_blocks")})
    errors = stream(5, rise=0.4)
    for lo in range(0, errors.size, 250):
        watch.update_many(errors[lo:lo + 250])

    assert watch.take_fired() == ["adwin_blocks"]
    assert (watch.last_detection["adwin_blocks"] + 1) % 250 == 0  # a block's last event
    assert 0 <= watch.take_cuts()["adwin_blocks"] <= CHANGE < watch.last_detection["adwin_blocks"]


def test_empty_blocks_change_nothing() -> None:
    detector = BlockADWIN()
    detector.update_block(0, 0.0, 0.0)
    assert (detector.width, detector.drift_detected) == (0, False)
