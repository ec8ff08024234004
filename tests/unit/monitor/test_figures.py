"""Prediction windows, feature windows and the core's routing of records to scopes."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from contracts.kafka_clients import KafkaRecord
from contracts.records import Prediction, UserEvent
from contracts.reference_stats import Histogram
from contracts.topics import Topics
from monitor.config import WindowConfig
from monitor.core import Monitor
from monitor.features import columns
from monitor.predictions import PredictionScope, bucket_quantile, bucket_quantiles
from monitor.report import Scope

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SCOPE = Scope("conversion", 1, "champion")


def prediction(i: int, *, version: int = 1, route: str = "champion", score: float = 0.3,
               model: str = "conversion", lag: float = 0.04) -> Prediction:
    ts = T0 + timedelta(seconds=i / 5)
    return Prediction(event_id=f"e{i}", user_id="u", ts=ts, model=model, version=version,
                      route=route, score=score, decision=int(score >= 0.5),  # type: ignore[arg-type]
                      scored_at=ts + timedelta(seconds=lag))


def test_prediction_windows_report_throughput_latency_and_score_drift() -> None:
    scope = PredictionScope(SCOPE, max_events=1000, max_seconds=1e9, min_events=100,
                            reference_scores=Histogram(edges=(0.5,), frequencies=(0.5, 0.5)))
    rng = np.random.default_rng(0)
    scores = rng.random(1000)

    [r] = scope.add(np.arange(1000) / 5.0, scores, (scores >= 0.5).astype(np.int64),
                    rng.uniform(0.02, 0.04, 1000))

    assert r.figures["throughput"] == pytest.approx(5.0, rel=0.01)
    assert r.figures["latency_p50"] == 0.05 and r.figures["latency_p95"] == 0.05
    assert r.figures["positive_rate"] == pytest.approx((scores >= 0.5).mean())
    assert r.figures["score_psi"] < 0.01
    assert "estimated_roc_auc" in r.figures


def test_bucket_quantiles_say_inf_beyond_the_last_bucket() -> None:
    assert bucket_quantile(np.array([0, 0, 5]), np.array([1.0, 2.0]), 0.5) == math.inf
    assert math.isnan(bucket_quantile(np.zeros(3, dtype=np.int64), np.array([1.0, 2.0]), 0.5))


def test_bucket_quantiles_of_many_windows_at_once_are_each_window_s() -> None:
    rng = np.random.default_rng(9)
    bounds = np.array([0.01, 0.1, 1.0, 10.0])
    counts = rng.poisson(rng.uniform(0, 3, (300, 1)), (300, 5))
    counts[:5] = 0
    for q in (0.0, 0.5, 0.95, 1.0):
        got = bucket_quantiles(counts, bounds, q)
        want = [bucket_quantile(row, bounds, q) for row in counts]
        assert [g == w or (math.isnan(g) and math.isnan(w)) for g, w in zip(got, want,
                                                                           strict=True)] \
            == [True] * 300


def test_feature_columns_treat_text_in_numbers_and_absent_features_as_missing() -> None:
    events = [UserEvent(event_id=str(i), user_id="u", ts=T0, features=f) for i, f in
              enumerate([{"x": 1.0, "c": "a"}, {"x": "oops", "c": 2.0}, {"c": None}])]

    cols = columns(events, ["x"], ["c"])

    assert cols.numeric["x"][0] == 1.0 and np.isnan(cols.numeric["x"][1:]).all()
    assert cols.categorical["c"] == ["a", "2", None]


def test_the_core_routes_predictions_by_version_and_route_and_counts_once() -> None:
    m = Monitor(model="conversion", windows=WindowConfig(prediction_events=100, min_events=10))

    reports = m.add_predictions(
        [prediction(i) for i in range(150)] + [prediction(i) for i in range(50)]
        + [prediction(i, version=2, route="canary") for i in range(100)]
        + [prediction(i, model="other") for i in range(10)])

    assert sorted((r.scope.version, r.scope.route, r.n) for r in reports) == [
        (1, "champion", 100), (2, "canary", 100)]
    assert m.counts[("predictions", "duplicate")] == 50
    assert m.counts[("predictions", "other-model")] == 10


def test_the_core_keeps_a_bounded_number_of_scopes() -> None:
    m = Monitor(model="conversion", windows=WindowConfig(max_scopes=2))

    for version in (1, 2, 3):
        m.add_predictions([prediction(version * 1000 + i, version=version) for i in range(5)])

    assert [s.version for s in m.predictions] == [2, 3]
    assert [s.version for s in m.take_retired()] == [1]


def test_bad_records_are_counted_by_reason_not_raised() -> None:
    topics = Topics()
    m = Monitor(model="conversion", windows=WindowConfig())

    m.ingest([KafkaRecord(topics.predictions, 0, 0, None, b"{oops", 0),
              KafkaRecord(topics.user_events, 0, 1, None, b"[]", 0),
              KafkaRecord("elsewhere", 0, 2, None, b"{}", 0)])

    assert m.counts[("predictions", "not-json")] == 1
    assert m.counts[("events", "not-an-object")] == 1


def _stream(rng: np.random.Generator, n: int, shift_at: int | None = None) \
        -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    scores = rng.beta(2, 5, n)
    if shift_at is not None:
        scores[shift_at:] = rng.beta(5, 2, n - shift_at)
    return (np.arange(n) / 5.0, scores, (scores >= 0.5).astype(np.int64),
            rng.uniform(0.0, 2.0, n))


REFERENCE = Histogram(edges=(0.1, 0.2, 0.3, 0.5, 0.7),
                      frequencies=(0.11, 0.23, 0.24, 0.31, 0.10, 0.01))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_sliding_judgement_equals_a_fresh_window_of_the_last_predictions(
        seed: int) -> None:
    rng = np.random.default_rng(seed)
    ts, scores, decisions, latency = _stream(rng, 5_003, shift_at=2_600)
    sliding = PredictionScope(SCOPE, max_events=1000, stride=250, max_seconds=1e9,
                              min_events=100, reference_scores=REFERENCE)
    reports = []
    for lo in range(0, ts.size, 377):  # batches off the stride's grid
        part = slice(lo, lo + 377)
        reports += sliding.add(ts[part], scores[part], decisions[part], latency[part])

    assert [r.n for r in reports] == [250, 500, 750] + [1000] * 17
    assert [r.judged for r in reports] == [False] * 3 + [True] * 17
    for i, report in enumerate(reports):
        last = slice(max(0, 250 * (i + 1) - 1000), 250 * (i + 1))
        fresh = PredictionScope(SCOPE, max_events=last.stop - last.start, max_seconds=1e9,
                                min_events=1, reference_scores=REFERENCE)
        [expected] = fresh.add(ts[last], scores[last], decisions[last], latency[last])
        assert (report.start, report.end) == (expected.start, expected.end)
        for name in ("positive_rate", "score_mean", "score_psi", "latency_p50", "latency_p95",
                     "estimated_roc_auc", "throughput"):
            assert report.figures[name] == pytest.approx(expected.figures[name]), name


def test_a_score_shift_is_judged_within_a_stride_of_a_window_fills_with_it() -> None:
    """Over ten seeds: sliding windows see a shift in the scores sooner than tumbling
    windows of the same size (500-750 predictions sooner when written), never before it."""
    gains = []
    for seed in range(10):
        shift_at = 4_000 + 37 * seed
        first = {}
        for stride in (250, 1000):
            rng = np.random.default_rng(seed)
            ts, scores, decisions, latency = _stream(rng, 8_000, shift_at=shift_at)
            scope = PredictionScope(SCOPE, max_events=1000, stride=stride, max_seconds=1e9,
                                    min_events=100, reference_scores=REFERENCE)
            ends = []
            for lo in range(0, ts.size, 500):
                for r in scope.add(ts[lo:lo + 500], scores[lo:lo + 500],
                                   decisions[lo:lo + 500], latency[lo:lo + 500]):
                    if r.judged and r.figures["score_psi"] > 0.2:
                        ends.append(int(r.end * 5) + 1)  # predictions up to the window's end
            first[stride] = min(ends)
            assert first[stride] > shift_at
        gains.append(first[1000] - first[250])
    assert all(gain >= 0 for gain in gains) and sum(gains) / len(gains) >= 250, gains
