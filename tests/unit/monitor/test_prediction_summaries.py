"""Prediction summaries, as the processor folds them, read by the monitor: they add up to
what the predictions themselves give, a repeat after a crash is counted once, and a
summary the monitor cannot check is refused and counted, never added."""

from __future__ import annotations

import random
from dataclasses import dataclass

import msgspec
import numpy as np
import pytest
from numpy.typing import NDArray

from contracts.feature_summary import SUMMARY_EVENTS, runs_of
from contracts.prediction_summary import summarise_predictions
from contracts.records import PredictionSummary, ScoreCells, TermTally
from contracts.topics import Topics
from monitor.predictions import PredictionScope
from monitor.report import Scope, WindowReport
from scorer.bundle import ModelBundle
from tests.unit.monitor.test_feature_summaries import PARTITIONS, monitor_of, stream

SCOPE_KEY = (1, "champion")
TOPIC = Topics().prediction_summaries


@dataclass
class Scored:
    """Simulated events scored by the test model: what a prediction record holds."""

    ts: NDArray[np.float64]
    scores: NDArray[np.float64]
    decisions: NDArray[np.int64]
    latency: NDArray[np.float64]
    explained: list[dict[str, float]]

    def __len__(self) -> int:
        return int(self.ts.size)

    def part(self, index: list[int]) -> Scored:
        at = np.asarray(index, dtype=np.intp)
        return Scored(self.ts[at], self.scores[at], self.decisions[at], self.latency[at],
                      [self.explained[i] for i in index])


def scored(bundle: ModelBundle, n: int, seed: int = 5) -> Scored:
    events = stream(n, seed=seed)
    scores, decisions = bundle.score_batch([e.features for e in events])
    rng = np.random.default_rng(seed)
    names = list(events[0].features)
    return Scored(np.array([e.ts.timestamp() for e in events]), scores,
                  np.asarray(decisions, dtype=np.int64), rng.exponential(0.3, n),
                  [{names[int(rng.integers(len(names)))]: float(rng.normal())}
                   for _ in range(n)])


def summaries_of(bundle: ModelBundle, s: Scored, partitions: list[int], offsets: list[int],
                 explain: bool = False) -> list[PredictionSummary]:
    """The processor's summaries of one batch of predictions."""
    return summarise_predictions(
        model="conversion", version=1, route="champion", scores=s.scores,
        decisions=s.decisions, ts=s.ts, latency=s.latency,
        layout=runs_of(partitions, offsets.__getitem__), reference_scores=bundle.reference.scores,
        explained=s.explained if explain else None)


def processed(bundle: ModelBundle, s: Scored, rng: random.Random, start: int = 0,
              ends: dict[int, int] | None = None, explain: bool = False) \
        -> list[PredictionSummary]:
    """What the processor writes of predictions ``start`` on (event i on partition i % 3,
    at offset i // 3), in batches of random sizes; the batches it ends at go in ``ends``."""
    out: list[PredictionSummary] = []
    i = start
    while i < len(s):
        batch = list(range(i, min(len(s), i + rng.choice([1, 7, 150, 400, 2000]))))
        out += summaries_of(bundle, s.part(batch), [j % PARTITIONS for j in batch],
                            [j // PARTITIONS for j in batch], explain)
        i = batch[-1] + 1
        if ends is not None:
            ends[i] = len(out)
    return out


def scope_of(bundle: ModelBundle, max_events: int, stride: int) -> PredictionScope:
    return PredictionScope(Scope("conversion", 1, "champion"), max_events=max_events,
                           stride=stride, max_seconds=10 ** 9, min_events=1,
                           reference_scores=bundle.reference.scores)


def assert_same_window(got: PredictionScope, expected: PredictionScope) -> None:
    a, b = got.window, expected.window
    assert a.count == b.count
    assert a.latency.tolist() == b.latency.tolist()
    assert a.table.counts.tolist() == b.table.counts.tolist()
    assert a.table.sums == pytest.approx(b.table.sums, rel=1e-9)
    assert a.scores is not None and b.scores is not None
    assert a.scores.counts.tolist() == b.scores.counts.tolist()
    assert got.total == expected.total
    assert got.total_latency.tolist() == expected.total_latency.tolist()
    assert got.latency_sum == pytest.approx(expected.latency_sum, rel=1e-9)


def every_prediction(bundle: ModelBundle, s: Scored) -> PredictionScope:
    whole = scope_of(bundle, len(s), len(s))  # one block, closed by the last prediction
    whole.add(s.ts, s.scores, s.decisions, s.latency)
    return whole


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summaries_add_up_to_every_prediction(bundle: ModelBundle, seed: int) -> None:
    s = scored(bundle, 6000)
    summaries = processed(bundle, s, random.Random(seed), explain=True)
    assert all(1 <= x.events <= SUMMARY_EVENTS for x in summaries)
    monitor = monitor_of(bundle, prediction_events=10 ** 6, prediction_stride=1)
    monitor.ingest_values({TOPIC: [msgspec.json.encode(x) for x in summaries]})
    assert_same_window(monitor.predictions[next(iter(monitor.predictions))],
                       every_prediction(bundle, s))
    assert monitor.counts[("predictions", "counted")] == len(s)
    drivers = next(iter(monitor.drivers.values()))
    assert drivers.explained == len(s)
    for name, count in drivers.counts.items():
        terms = [t[name] for t in s.explained if name in t]
        assert count == len(terms)
        assert drivers.sizes[name] == pytest.approx(sum(abs(t) for t in terms), rel=1e-9)


@pytest.mark.parametrize("together", [1, 7])
def test_summaries_of_a_stride_each_judge_as_the_predictions_do(bundle: ModelBundle,
                                                                together: int) -> None:
    """One partition, batches of exactly the stride: the same blocks, so the same reports,
    whether the summaries are added one at a time or seven at a time."""
    s = scored(bundle, 3000)
    from_predictions, from_summaries = scope_of(bundle, 1000, 100), scope_of(bundle, 1000, 100)
    expected: list[WindowReport] = []
    got: list[WindowReport] = []
    held = []
    for lo in range(0, len(s), 100):
        batch = list(range(lo, lo + 100))
        part = s.part(batch)
        expected += from_predictions.add(part.ts, part.scores, part.decisions, part.latency)
        held += summaries_of(bundle, part, [0] * 100, batch)
        if len(held) == together:
            got += from_summaries.add_summaries(held)[0]
            held = []
    got += from_summaries.add_summaries(held)[0]
    assert len(got) == len(expected) == 30
    for a, b in zip(got, expected, strict=True):
        assert (a.n, a.judged, a.start, a.end) == (b.n, b.judged, b.start, b.end)
        assert a.figures == pytest.approx(b.figures, rel=1e-9, nan_ok=True)


def test_a_window_holding_predictions_takes_summaries_after_them(bundle: ModelBundle) -> None:
    """The source switched from predictions to summaries mid-stream: the window judges as
    if it had read every prediction."""
    s = scored(bundle, 2000)
    every, switched = scope_of(bundle, 500, 100), scope_of(bundle, 500, 100)
    expected = every.add(s.ts, s.scores, s.decisions, s.latency)
    first = s.part(list(range(700)))
    got = switched.add(first.ts, first.scores, first.decisions, first.latency)
    rest = list(range(700, 2000))
    got += switched.add_summaries(summaries_of(bundle, s.part(rest), [0] * len(rest), rest))[0]

    assert [(r.n, r.end, r.judged) for r in got] == [(r.n, r.end, r.judged) for r in expected]
    for a, b in zip(got, expected, strict=True):
        assert a.figures == pytest.approx(b.figures, rel=1e-9, nan_ok=True)


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_predictions_made_again_after_a_crash_are_counted_once(bundle: ModelBundle,
                                                               seed: int) -> None:
    """The processor's summaries up to a crash, then those of a worker that scores again
    from the last commit (a batch end some batches back), in other batches."""
    rng = random.Random(seed)
    s = scored(bundle, 9000, seed=seed)
    ends: dict[int, int] = {}
    before = processed(bundle, s.part(list(range(6000))), rng, ends=ends, explain=True)
    boundaries = sorted(e for e in ends if 0 < e < 6000)
    committed = rng.choice(boundaries[:-1]) if len(boundaries) > 1 else 0
    again = processed(bundle, s, rng, start=committed, explain=True)
    monitor = monitor_of(bundle, prediction_events=10 ** 6, prediction_stride=1)
    monitor.add_prediction_summaries(before + again)
    assert_same_window(next(iter(monitor.predictions.values())), every_prediction(bundle, s))
    repeated = 6000 - committed
    assert monitor.counts[("predictions", "duplicate")] == repeated
    assert monitor.counts[("predictions", "counted")] - repeated == len(s)
    assert monitor.counts[("prediction-summaries", "straddled")] == 0
    assert next(iter(monitor.drivers.values())).explained == len(s)


def test_a_repeat_leaves_the_sliding_window_as_without_it(bundle: ModelBundle) -> None:
    """A window of 1,000 holding part of the repeated predictions: what is in it is taken
    back, so every window judged from the repeat on is the clean run's window."""
    s = scored(bundle, 5000)

    def on_one_partition(lo: int, hi: int) -> list[PredictionSummary]:
        return [x for b in range(lo, hi, 100)
                for x in summaries_of(bundle, s.part(list(range(b, b + 100))), [0] * 100,
                                      list(range(b, b + 100)))]

    clean = monitor_of(bundle, prediction_events=1000, prediction_stride=100)
    clean_reports = {r.end: r for r in clean.add_prediction_summaries(on_one_partition(0, 5000))}
    crashed = monitor_of(bundle, prediction_events=1000, prediction_stride=100)
    crashed.add_prediction_summaries(on_one_partition(0, 3300))
    after = crashed.add_prediction_summaries(on_one_partition(2600, 5000))
    assert crashed.counts[("predictions", "duplicate")] == 700
    assert len(after) == 24
    # Until the window has taken in as many predictions again as were taken back, it
    # holds fewer than it needs, and is not judged.
    refilling = [a for a in after if a.end < s.ts[3299]]
    assert [a.n for a in refilling] == [300 + 100 * k for k in range(1, 7)]
    assert not any(a.judged for a in refilling)
    for a in after[6:]:
        b = clean_reports[a.end]
        assert (a.n, a.start, a.end, a.judged) == (b.n, b.start, b.end, b.judged)
        assert a.figures == pytest.approx(b.figures, rel=1e-9, nan_ok=True)


def tampered(summary: PredictionSummary, **changes: object) -> bytes:
    return msgspec.json.encode(msgspec.structs.replace(summary, **changes))


def test_summaries_the_monitor_cannot_check_are_refused_and_counted(
        bundle: ModelBundle) -> None:
    s = scored(bundle, 100)
    [good] = summaries_of(bundle, s, [0] * 100, list(range(100)), explain=True)
    table = good.table
    name = next(iter(good.terms))
    cases = {
        "summary-out-of-range": [tampered(good, events=SUMMARY_EVENTS + 1),
                                 tampered(good, last_offset=good.first_offset + 5),
                                 tampered(good, end=good.start.replace(year=2000)),
                                 tampered(good, explained=101)],
        "summary-bins-differ": [tampered(good, latency=[*good.latency, 0]),
                                tampered(good, scores=[*good.scores, 0]),
                                tampered(good, table=ScoreCells(table.cells, table.counts,
                                                                table.sums[:-1]))],
        "summary-cells-invalid": [
            tampered(good, table=ScoreCells(table.cells[::-1], table.counts[::-1],
                                            table.sums[::-1])),
            tampered(good, table=ScoreCells([*table.cells[:-1], 200], table.counts,
                                            table.sums)),
            tampered(good, table=ScoreCells(table.cells, table.counts,
                                            [t + 2 for t in table.sums])),
            tampered(good, table=ScoreCells([*table.cells[:-1], 2**64 - 1], table.counts,
                                            table.sums))],
        "summary-counts-disagree": [
            tampered(good, latency=[c * 2 for c in good.latency]),
            # Beyond 64 bits; and counts whose 64-bit sum would wrap round to the right one.
            tampered(good, latency=[2**64 - 1, *good.latency[1:]]),
            tampered(good, latency=[2**63 - 1, 2**63 - 1, sum(good.latency[:3]) + 2,
                                    *good.latency[3:]]),
            tampered(good, scores=[c * 2 for c in good.scores]),
            tampered(good, table=ScoreCells(table.cells, [c * 2 for c in table.counts],
                                            table.sums)),
            tampered(good, terms={**good.terms, name: TermTally(500, 1.0)})],
        "other-model": [tampered(good, model="other")],
        "not-json": [b'{"schema_version": 1, "model": "conversion"'],
    }
    monitor = monitor_of(bundle, prediction_events=100, prediction_stride=100)
    for values in cases.values():
        assert monitor.ingest_values({TOPIC: list(values)}) == []
    refused = {reason: n for (kind, reason), n in monitor.counts.items()
               if kind == "prediction-summaries"}
    assert refused == {reason: len(v) for reason, v in cases.items()}
    # The good one fills its block alone: nothing refused went into it.
    [report] = monitor.ingest_values({TOPIC: [msgspec.json.encode(good)]})
    assert report.n == 100 and monitor.predictions[report.scope].total == 100


def test_random_bytes_on_prediction_summaries_never_raise(bundle: ModelBundle) -> None:
    s = scored(bundle, 300)
    good = [msgspec.json.encode(x) for x in summaries_of(
        bundle, s, [0] * 300, list(range(300)), explain=True)]
    rng = random.Random(3)
    monitor = monitor_of(bundle)
    for _ in range(3000):
        raw = bytearray(rng.choice(good))
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        monitor.ingest_values({TOPIC: [bytes(raw)]})
    for scope in monitor.predictions.values():
        # Whatever was admitted was checked: the counts still add up.
        assert scope._current.latency.sum() == scope._current.count
        assert scope._current.table.counts.sum() == scope._current.count
        assert scope._current.table.counts.min() >= 0


def test_a_refused_summary_of_a_new_scope_takes_no_watched_scopes_place(
        bundle: ModelBundle) -> None:
    """Scopes are bounded in number and the least recently fed leaves: a summary the
    monitor refuses must not take a place, or a writer could push watched scopes out."""
    s = scored(bundle, 100)
    [good] = summaries_of(bundle, s, [0] * 100, list(range(100)))
    monitor = monitor_of(bundle, prediction_events=100, prediction_stride=100, max_scopes=2)
    monitor.ingest_values({TOPIC: [msgspec.json.encode(good),
                                   tampered(good, route="canary", first_offset=200,
                                            last_offset=299)]})
    watched = list(monitor.predictions)
    assert len(watched) == 2

    monitor.ingest_values({TOPIC: [tampered(good, version=7, latency=[*good.latency, 0]),
                                   tampered(good, route="shadow", events=SUMMARY_EVENTS + 1)]})

    assert list(monitor.predictions) == watched and monitor.take_retired() == []
    assert monitor.counts[("prediction-summaries", "summary-bins-differ")] == 1
    assert monitor.counts[("prediction-summaries", "summary-out-of-range")] == 1


def test_a_summary_spanning_more_than_a_window_is_held_alone(bundle: ModelBundle) -> None:
    """Predictions two minutes apart: each summary of a hundred spans more than the
    window's hour, and the window holds it alone, where predictions are cut an hour at
    a time."""
    s = scored(bundle, 300)
    s.ts = s.ts[0] + 120.0 * np.arange(300)
    by_summaries, by_predictions = (
        PredictionScope(Scope("conversion", 1, "champion"), max_events=1000, stride=100,
                        max_seconds=3600.0, min_events=1,
                        reference_scores=bundle.reference.scores) for _ in range(2))

    read, _ = by_summaries.add_summaries(summaries_of(bundle, s, [0] * 300, list(range(300))))
    seen = by_predictions.add(s.ts, s.scores, s.decisions, s.latency)

    assert [r.n for r in read] == [SUMMARY_EVENTS] * 3
    assert [r.n for r in seen] == [30] * 9  # an hour's events a window
