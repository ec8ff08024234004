"""Windows bounded by count and event time, and the rolling window of recent records."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.bounded_ids import RecentIds
from monitor.windows import RecentWindow, WindowClock


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


def test_recent_window_keeps_the_last_n_records() -> None:
    window = RecentWindow(size=100, period_s=1e9, width=1)
    values = np.random.default_rng(0).random(500)

    for lo in range(0, 500, 37):  # batches that straddle the ring's end
        window.extend(np.arange(lo, min(lo + 37, 500), dtype=float), values[None, lo:lo + 37])

    assert sorted(window.columns()[0].tolist()) == sorted(values[-100:].tolist())


def test_recent_window_forgets_records_older_than_its_period() -> None:
    window = RecentWindow(size=100, period_s=10.0, width=1)

    window.extend(np.arange(20.0), np.arange(20.0)[None, :])

    assert len(window) == 10
    assert sorted(window.columns()[0].tolist()) == [float(t) for t in range(10, 20)]


def test_recent_window_takes_a_batch_larger_than_itself() -> None:
    window = RecentWindow(size=4, period_s=1e9, width=2)

    window.extend(np.arange(10.0), np.vstack((np.arange(10.0), -np.arange(10.0))))

    assert sorted(window.columns()[0].tolist()) == [6.0, 7.0, 8.0, 9.0]


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

        assert batched.add_all(batch) == [single.add(i) for i in batch]
        assert len(batched) == len(single)
        assert all((i in batched) == (i in single) for i in batch)
