"""Windows bounded by count and event time; rolling river metrics over them."""

from __future__ import annotations

import numpy as np
import pytest
from river import metrics

from monitor.dedup import SeenIds
from monitor.windows import BoundedRolling, WindowClock


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


def test_bounded_rolling_equals_the_metric_over_the_last_n_records() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    p = rng.random(500)
    mae = metrics.MAE()
    rolling = BoundedRolling([(mae.update, mae.revert)], window_size=100, period_s=1e9)

    for t, (yi, pi) in enumerate(zip(y.tolist(), p.tolist(), strict=True)):
        rolling.update(float(t), yi, pi)

    assert mae.get() == pytest.approx(np.abs(y[-100:] - p[-100:]).mean())


def test_bounded_rolling_forgets_records_older_than_its_period() -> None:
    mean = metrics.MAE()
    rolling = BoundedRolling([(mean.update, mean.revert)], window_size=100, period_s=10.0)

    for t in range(20):
        rolling.update(float(t), 1, 0.0 if t < 15 else 1.0)

    assert len(rolling) == 10  # t = 10..19
    assert mean.get() == pytest.approx(0.5)


def test_bounded_rolling_keeps_a_self_windowed_metric_in_step() -> None:
    auc = metrics.RollingROCAUC(window_size=4)
    rolling = BoundedRolling([], extra=[(auc.update, auc.revert)], window_size=4,
                             period_s=5.0)

    for t, (yi, pi) in enumerate([(0, 0.9), (1, 0.1), (0, 0.2), (1, 0.8), (0, 0.3), (1, 0.7)]):
        rolling.update(float(t), yi, pi)

    assert auc.get() == pytest.approx(1.0)  # the last four: 0.2, 0.8, 0.3, 0.7


def test_seen_ids_count_a_redelivery_once_and_stay_bounded() -> None:
    seen = SeenIds(capacity=1000)

    fresh = [seen.first_time(f"e{i % 1500}") for i in range(3000)]

    assert fresh[:1500] == [True] * 1500
    assert sum(fresh[1500:]) == 1500  # the first 500 were forgotten, so they count again
    assert len(seen) == 1000


def test_seen_ids_refuse_a_useless_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SeenIds(capacity=0)
