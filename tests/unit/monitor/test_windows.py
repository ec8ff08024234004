"""Windows bounded by count and event time, and the labeled window's running counts."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.bounded_ids import RecentIds
from monitor.estimate import Calibration
from monitor.labeled_window import LabeledBlock, LabeledWindow, calibrations
from monitor.windows import WindowClock


def test_a_window_closes_at_its_count() -> None:
    clock = WindowClock(max_events=1000, max_seconds=1e9)

    segments = clock.segments(np.arange(2500.0))

    assert [(s.lo, s.hi, s.closes, s.count) for s in segments] == [
        (0, 1000, True, 1000), (1000, 2000, True, 1000), (2000, 2500, False, 500)]


def test_a_window_closes_when_it_spans_its_event_time() -> None:
    clock = WindowClock(max_events=1000, max_seconds=60.0)

    first = clock.segments(np.array([0.0, 10.0, 59.0]))
    second = clock.segments(np.array([61.0, 62.0]))

    assert [s.closes for s in first] == [False]
    assert [(s.lo, s.hi, s.closes, s.count, s.start, s.end) for s in second] == [
        (0, 0, True, 3, 0.0, 59.0), (0, 2, False, 2, 61.0, 62.0)]


def test_windows_carry_across_batches() -> None:
    clock = WindowClock(max_events=3, max_seconds=100.0)

    closes = [s.closes for b in range(4) for s in clock.segments(np.array([b, b + 0.5]))]

    assert closes.count(True) == 2


def block(ts: np.ndarray, seed: int = 0, threshold: float = 0.5) -> LabeledBlock:
    rng = np.random.default_rng(seed)
    scores = rng.random(ts.size)
    labels = (rng.random(ts.size) < scores).astype(np.int64)
    return LabeledBlock.of(ts, labels, scores, np.zeros(ts.size), np.zeros(ts.size), threshold)


def test_a_labeled_window_slides_by_whole_blocks_and_holds_at_least_its_size() -> None:
    window = LabeledWindow(size=1000, max_seconds=1e9, threshold=0.5)
    held = []

    for k in range(8):
        window.add(block(np.arange(250.0 * k, 250.0 * (k + 1)), seed=k))
        held.append(window.events)

    assert held == [250, 500, 750, 1000, 1000, 1000, 1000, 1000]
    assert window.oldest == 1000.0
    counts = window.counts()
    assert counts.ranks.sum() == calibrations([counts])[0][0].counts.sum() == 1000


def test_the_calibration_of_many_windows_at_once_is_each_window_s_own() -> None:
    """Each window's bands, counted from its events afresh, and its calibration error;
    a window with no events has none."""
    window = LabeledWindow(size=600, max_seconds=1e9, threshold=0.5)
    held: list[LabeledBlock] = []
    closed, fresh = [window.counts()], [Calibration()]
    for k in range(12):
        b = block(np.arange(200.0 * k, 200.0 * (k + 1)), seed=k)
        window.add(b)
        held = [*held, b][-3:]
        closed.append(window.counts())
        fresh.append(Calibration())
        fresh[-1].add(np.concatenate([h.scores for h in held]),
                      np.concatenate([h.labels for h in held]))

    bands, errors = calibrations(closed)

    assert np.isnan(errors[0]) and bands[0].counts.sum() == 0
    for got, error, want in zip(bands[1:], errors[1:], fresh[1:], strict=True):
        assert got.counts.tolist() == want.counts.tolist()
        assert got.labels.tolist() == want.labels.tolist()
        assert got.scores == pytest.approx(want.scores, rel=1e-12)
        assert error == pytest.approx(want.error(), rel=1e-12) and error > 0


def test_a_labeled_window_forgets_blocks_older_than_its_span() -> None:
    window = LabeledWindow(size=1000, max_seconds=100.0, threshold=0.5)

    for lo in range(0, 600, 100):
        window.add(block(np.arange(lo, lo + 100.0)))

    assert (window.events, window.oldest) == (100, 500.0)


def test_a_labeled_window_counts_its_events_decisions_again_at_a_new_threshold() -> None:
    blocks = [block(np.arange(10.0 * k, 10.0 * k + 10), seed=k) for k in range(3)]
    window = LabeledWindow(size=100, max_seconds=1e9, threshold=0.5)
    for b in blocks:
        window.add(b)

    window.decide_at(0.2)
    scores = np.concatenate([b.scores for b in blocks])
    labels = np.concatenate([b.labels for b in blocks])

    hits, chosen, actual, correct = window.counts().confusion.tolist()
    decided = scores >= 0.2
    assert (hits, chosen, actual) == (int(np.sum(decided & (labels == 1))),
                                      int(decided.sum()), int(labels.sum()))
    assert correct == int(np.sum(decided == (labels == 1)))


def test_seen_ids_count_a_redelivery_once_and_stay_bounded() -> None:
    seen = RecentIds(capacity=1000)

    fresh = [seen.add(f"e{i % 1500}") for i in range(3000)]

    assert fresh[:1500] == [True] * 1500
    assert sum(fresh[1500:]) == 1500  # the first 500 were forgotten, so they count again
    assert len(seen) == 1000


def test_seen_ids_refuse_a_useless_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RecentIds(capacity=0)


@pytest.mark.parametrize("seed", range(20))
def test_a_batch_of_ids_counts_as_the_same_ids_one_at_a_time(seed: int) -> None:
    # Batches all new, with repeats inside, with ids seen before and past the capacity.
    rng = np.random.default_rng(seed)
    batched, single = RecentIds(capacity=50), RecentIds(capacity=50)
    for _ in range(40):
        high = int(rng.choice([30, 200, 10_000]))
        batch = [f"e{i}" for i in rng.integers(0, high, size=int(rng.integers(0, 80)))]

        assert list(batched.add_new(batch)) == [k for k, i in enumerate(batch) if single.add(i)]
        assert len(batched) == len(single)
        assert all((i in batched) == (i in single) for i in batch)
