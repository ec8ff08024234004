"""ADWIN fed block means, as ``python -m benchmarks concept_blocks`` measures it."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.concept_blocks import detections

CHANGE = 5_000


def first_after(found: list[int]) -> int | None:
    return next((t - CHANGE for t in found if t > CHANGE), None)


@pytest.mark.parametrize("seed", range(10))
def test_block_means_hide_a_rise_each_event_shows(seed: int) -> None:
    """The mean error rises by half: ADWIN on every error finds it within a few hundred
    events, with no detection before it; on means of 100 errors it does not find it at
    all, with river's clock in items or in blocks. Fed each block's count, sum and
    spread, ADWIN finds it, still with no detection before it."""
    rng = np.random.default_rng(seed)
    errors = np.r_[rng.exponential(0.3, CHANGE), rng.exponential(0.45, CHANGE)]
    every = detections(errors, 1)
    assert not [t for t in every if t <= CHANGE]
    delay = first_after(every)
    assert delay is not None and delay <= 1_000
    assert first_after(detections(errors, 100)) is None
    assert first_after(detections(errors, 100, "scaled")) is None
    blocks = detections(errors, 100, "blocks")
    assert not [t for t in blocks if t <= CHANGE]
    found = first_after(blocks)
    assert found is not None and found <= 1_500


def test_a_stream_shorter_than_a_block_is_no_detection() -> None:
    assert detections(np.ones(50), 100) == []
