"""Feature summaries from the processor's step, read by the monitor: they add up to what
the events themselves give, a repeat after a crash is counted once, and a summary the
monitor cannot check is refused and counted, never added."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

import msgspec
import numpy as np
import pytest
from msgspec.structs import asdict

from contracts.feature_summary import SUMMARY_EVENTS, Summariser, columns, runs_of
from contracts.feature_summary import summarise as summarise_rows
from contracts.records import FeatureSummary, LabeledEvent, NumericCounts, Prediction, UserEvent
from contracts.sketches import CategoricalSketch, NumericSketch
from contracts.topics import Topics
from monitor.config import WindowConfig
from monitor.core import SOURCE_GAP_RECORDS, Monitor
from monitor.features import FeatureWindow
from monitor.windows import PASS_EVENTS
from producers.simulator import Simulator
from scorer.artifact import sign_bundle
from scorer.bundle import ModelBundle
from scorer.publishing import model_version_record
from tests.signing_keys import SIGNER
from tests.unit.monitor.conftest import START, registry_records
from tests.unit.monitor.test_feature_window import SCOPE, numbers, reference_of

PARTITIONS = 3


def summariser_of(bundle: ModelBundle) -> Summariser:
    summariser = Summariser.of(model_version_record(sign_bundle(bundle, SIGNER)))
    assert summariser is not None
    return summariser


def summarise(events: list[UserEvent], partitions: list[int], offset_of: Callable[[int], int],
              summarisers: list[Summariser]) -> list[FeatureSummary]:
    """The processor's summaries of a batch of ``events``."""
    return summarise_rows([e.features for e in events], [e.ts.timestamp() for e in events],
                          runs_of(partitions, offset_of), summarisers)


def stream(n: int, seed: int = 5) -> list[UserEvent]:
    return [i.event for i in Simulator(seed=seed, scenario="covariate-shift", start=START,
                                       drift_at=n // 2).events(n)]


def processed(events: list[UserEvent], summariser: Summariser, rng: random.Random,
              start: int = 0, ends: dict[int, int] | None = None) -> list[FeatureSummary]:
    """What the processor writes of ``events[start:]`` (event i on partition i % 3, at
    offset i // 3), in batches of random sizes: the batches it ends at are in ``ends``."""
    out = []
    i = start
    while i < len(events):
        size = rng.choice([1, 7, 150, 400, 2000])
        batch = list(range(i, min(len(events), i + size)))
        out += summarise([events[j] for j in batch], [j % PARTITIONS for j in batch],
                         lambda k, batch=batch: batch[k] // PARTITIONS, [summariser])
        i = batch[-1] + 1
        if ends is not None:
            ends[i] = len(out)
    return out


def monitor_of(bundle: ModelBundle, **windows: int) -> Monitor:
    monitor = Monitor(model="conversion", windows=WindowConfig(**windows))
    for key, value in registry_records(bundle):
        monitor.apply_registry(key, value)
    return monitor


def sketches_of(events: list[UserEvent], window: FeatureWindow) \
        -> tuple[dict[str, NumericSketch], dict[str, CategoricalSketch]]:
    cols = columns(events, window.numeric, window.categorical)
    numeric = {n: s.blank() for n, s in window.numeric.items()}
    categorical = {n: s.blank() for n, s in window.categorical.items()}
    for name, sketch in numeric.items():
        sketch.add(cols.numeric[name])
    for name, cat in categorical.items():
        cat.add(cols.categorical[name])
    return numeric, categorical


def assert_same_counts(window: FeatureWindow, events: list[UserEvent]) -> None:
    numeric, categorical = sketches_of(events, window)
    assert window.count == len(events)
    for name, expected in numeric.items():
        got = window.numeric[name]
        assert got.coarse.counts.tolist() == expected.coarse.counts.tolist(), name
        assert got.fine.tolist() == expected.fine.tolist(), name
        assert got.missing == expected.missing
        assert got.total == pytest.approx(expected.total, rel=1e-9)
    for name, expected_cat in categorical.items():
        got_cat = window.categorical[name]
        assert got_cat.counts.tolist() == expected_cat.counts.tolist(), name
        assert (got_cat.missing, got_cat.unseen_total) == (expected_cat.missing,
                                                           expected_cat.unseen_total)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summaries_add_up_to_the_counts_of_every_event(bundle: ModelBundle, seed: int) -> None:
    events = stream(6000)
    summaries = processed(events, summariser_of(bundle), random.Random(seed))
    assert all(1 <= s.events <= SUMMARY_EVENTS for s in summaries)
    assert sum(s.events for s in summaries) == len(events)
    # A block a summary: every summary is in the window as soon as it is added.
    monitor = monitor_of(bundle, feature_events=100_000, feature_stride=1)
    monitor.add_summaries(summaries)
    [window] = monitor.features.values()
    assert_same_counts(window, events)
    assert monitor.counts[("events", "counted")] == len(events)


def as_arrays(summary: FeatureSummary) -> FeatureSummary:
    """``summary`` as a processor that packs nothing writes it: counts as JSON arrays."""
    return msgspec.json.decode(msgspec.json.encode(msgspec.structs.replace(
        summary,
        numeric={n: msgspec.structs.replace(c, coarse=list(c.coarse), fine=list(c.fine))
                 for n, c in summary.numeric.items()},
        categorical={n: msgspec.structs.replace(c, counts=list(c.counts))
                     for n, c in summary.categorical.items()})), type=FeatureSummary)


@pytest.mark.parametrize("written", ["arrays", "mixed"])
def test_summaries_with_counts_as_arrays_add_up_as_packed_ones_do(bundle: ModelBundle,
                                                                  written: str) -> None:
    """Summaries already on a topic from a processor that wrote arrays stay readable, alone
    or in the same batch as packed ones."""
    events = stream(3000)
    packed = processed(events, summariser_of(bundle), random.Random(4))
    assert all(isinstance(s.numeric["cart_value"].fine, bytes) for s in packed)
    summaries = [as_arrays(s) if written == "arrays" or i % 2 else s
                 for i, s in enumerate(packed)]
    assert isinstance(summaries[1].numeric["cart_value"].fine, list)

    monitor = monitor_of(bundle, feature_events=100_000, feature_stride=1)
    monitor.add_summaries(summaries)
    [window] = monitor.features.values()
    assert_same_counts(window, events)


@pytest.mark.parametrize("together", [False, True])
def test_summaries_of_a_stride_each_judge_as_the_events_do(bundle: ModelBundle,
                                                          together: bool) -> None:
    """One partition, batches of exactly the stride: the same blocks, so the same reports,
    whether the summaries are added one at a time or seven at a time."""
    events = stream(3000)
    reference = reference_of(bundle)
    from_events = FeatureWindow(SCOPE, reference, max_events=500, stride=100,
                                max_seconds=3600, min_events=200)
    from_summaries = FeatureWindow(SCOPE, reference, max_events=500, stride=100,
                                   max_seconds=3600, min_events=200)
    summariser = summariser_of(bundle)
    expected, got, held = [], [], []
    for lo in range(0, len(events), 100):
        batch = events[lo:lo + 100]
        expected += from_events.add(from_events.columns(batch))
        [summary] = summarise(batch, [0] * len(batch), lambda k, lo=lo: lo + k, [summariser])
        if together:
            held.append(summary)
        else:
            from_summaries.add_summary(summary)
        if lo % 700 == 0:  # windows closed by several summaries are judged together
            from_summaries.add_summaries(held)
            held = []
            got += from_summaries.take_reports()
    from_summaries.add_summaries(held)
    got += from_summaries.take_reports()
    assert len(got) == len(expected) == 30
    for a, b in zip(got, expected, strict=True):
        assert (a.n, a.judged, a.start, a.end) == (b.n, b.judged, b.start, b.end)
        for name, figures in b.features.items():
            assert numbers(a.features[name]) == pytest.approx(numbers(figures), rel=1e-9,
                                                              nan_ok=True)
            assert asdict(a.features[name]).get("unseen") == asdict(figures).get("unseen")


def test_summaries_of_several_passes_in_one_batch_judge_as_in_small_batches(
        bundle: ModelBundle) -> None:
    """A replay's batch holds thousands of summaries, taken a pass at a time: the same
    reports as batches of seven."""
    events = stream(2 * PASS_EVENTS + 2345)
    summaries = [summary for lo in range(0, len(events), 2000) for summary in summarise(
        events[lo:lo + 2000], [i % PARTITIONS for i in range(lo, lo + 2000)][:len(
            events[lo:lo + 2000])], lambda k, lo=lo: (lo + k) // PARTITIONS,
        [summariser_of(bundle)])]
    reference = reference_of(bundle)
    whole, small = (FeatureWindow(SCOPE, reference, max_events=500, stride=100,
                                  max_seconds=3600, min_events=200) for _ in range(2))

    whole.add_summaries(summaries)
    together = whole.take_reports()
    apart = []
    for lo in range(0, len(summaries), 7):
        small.add_summaries(summaries[lo:lo + 7])
        apart += small.take_reports()

    assert len(summaries) > 2 * PASS_EVENTS // SUMMARY_EVENTS
    assert len(together) == len(apart) > 2 * PASS_EVENTS // 100
    for a, b in zip(together, apart, strict=True):
        assert (a.n, a.judged, a.start, a.end) == (b.n, b.judged, b.start, b.end)
        assert repr(a.figures) == repr(b.figures)
        for name, figures in b.features.items():  # sums of values added in other groups
            assert numbers(a.features[name]) == pytest.approx(numbers(figures), rel=1e-12,
                                                              nan_ok=True)


def test_a_window_holding_events_takes_summaries_after_them(bundle: ModelBundle) -> None:
    """The source switched from events to summaries mid-stream: the window judges as if
    it had read every event."""
    events = stream(1500)
    reference = reference_of(bundle)
    every, switched = (FeatureWindow(SCOPE, reference, max_events=500, stride=100,
                                     max_seconds=3600, min_events=200) for _ in range(2))
    expected = every.add(every.columns(events))
    got = switched.add(switched.columns(events[:700]))
    summaries = [summary for lo in range(700, 1500, 100) for summary in summarise(
        events[lo:lo + 100], [0] * 100, lambda k, lo=lo: lo + k, [summariser_of(bundle)])]
    switched.add_summaries(summaries)
    got += switched.take_reports()

    assert [(r.n, r.end) for r in got] == [(r.n, r.end) for r in expected]
    assert [r.figures["max_psi"] for r in got] == pytest.approx(
        [r.figures["max_psi"] for r in expected], rel=1e-9)


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_events_scored_again_after_a_crash_are_counted_once(bundle: ModelBundle,
                                                            seed: int) -> None:
    """The processor's summaries up to a crash, then those of a worker that scores again
    from the last commit (a batch end some batches back), in other batches."""
    rng = random.Random(seed)
    events = stream(9000, seed=seed)
    summariser = summariser_of(bundle)
    ends: dict[int, int] = {}
    before = processed(events[:6000], summariser, rng, ends=ends)
    boundaries = sorted(e for e in ends if 0 < e < 6000)
    committed = rng.choice(boundaries[:-1]) if len(boundaries) > 1 else 0
    again = processed(events, summariser, rng, start=committed)
    monitor = monitor_of(bundle, feature_events=100_000, feature_stride=1)
    monitor.add_summaries(before + again)
    [window] = monitor.features.values()
    assert_same_counts(window, events)
    repeated = 6000 - committed
    assert monitor.counts[("events", "duplicate")] == repeated
    assert monitor.counts[("events", "counted")] - repeated == len(events)
    assert monitor.counts[("summaries", "straddled")] == 0


def test_a_repeat_taken_back_from_the_window_leaves_the_window_as_without_it(
        bundle: ModelBundle) -> None:
    """A window of 500 that slid past part of the repeated events: what is still in the
    window is taken back, and the judgements after equal those of a clean run."""
    events = stream(4000)
    summariser = summariser_of(bundle)

    def on_one_partition(lo: int, hi: int, size: int) -> list[FeatureSummary]:
        out = []
        for b in range(lo, hi, size):
            batch = events[b:min(hi, b + size)]
            out += summarise(batch, [0] * len(batch), lambda k, b=b: b + k, [summariser])
        return out

    clean = monitor_of(bundle, feature_events=500, feature_stride=100)
    clean_reports = clean.add_summaries(on_one_partition(0, 4000, 100))
    crashed = monitor_of(bundle, feature_events=500, feature_stride=100)
    crashed.add_summaries(on_one_partition(0, 2600, 100))
    after = crashed.add_summaries(on_one_partition(2200, 4000, 100))
    assert crashed.counts[("events", "duplicate")] == 400
    # Once the window holds none of the repeated stretch, it judges as the clean one.
    tail = [r for r in after if r.start >= events[2600].ts.timestamp()]
    clean_tail = [r for r in clean_reports if r.start >= events[2600].ts.timestamp()]
    assert tail and len(tail) == len(clean_tail)
    for a, b in zip(tail, clean_tail, strict=True):
        assert (a.n, a.start, a.end) == (b.n, b.start, b.end)
        assert a.figures == pytest.approx(b.figures, nan_ok=True)


def tampered(summary: FeatureSummary, **changes: object) -> bytes:
    return msgspec.json.encode(msgspec.structs.replace(summary, **changes))


def test_summaries_the_monitor_cannot_check_are_refused_and_counted(bundle: ModelBundle) -> None:
    events = stream(200)
    [good, *_] = summarise(events[:100], [0] * 100, lambda k: k, [summariser_of(bundle)])
    name = next(iter(good.numeric))
    counts = good.numeric[name]
    wide = next(n for n, c in good.numeric.items() if len(c.coarse) >= 3)
    by_bin = good.numeric[wide]
    cases = {
        "summary-out-of-range": [tampered(good, events=SUMMARY_EVENTS + 1),
                                 tampered(good, last_offset=good.first_offset + 5),
                                 tampered(good, end=good.start.replace(year=2000))],
        "summary-features-differ": [tampered(good, numeric={**good.numeric, "extra": counts}),
                                    tampered(good, categorical={})],
        "summary-bins-differ": [tampered(good, numeric={**good.numeric, name: NumericCounts(
            [*counts.coarse, 0], counts.fine, counts.missing, counts.total)})],
        "summary-counts-disagree": [tampered(good, numeric={**good.numeric, name: NumericCounts(
            [c * 2 for c in counts.coarse], counts.fine, counts.missing, counts.total)}),
            # Beyond 64 bits; and counts whose 64-bit sum would wrap round to the right one.
            tampered(good, numeric={**good.numeric, name: NumericCounts(
                [2**64 - 1, *counts.coarse[1:]], counts.fine, counts.missing, counts.total)}),
            tampered(good, numeric={**good.numeric, wide: NumericCounts(
                [2**63 - 1, 2**63 - 1, sum(by_bin.coarse[:3]) + 2, *by_bin.coarse[3:]],
                by_bin.fine, by_bin.missing, by_bin.total)})],
        "other-model": [tampered(good, model="other")],
        "version-not-watched": [tampered(good, version=7)],
        "not-json": [b'{"schema_version": 1, "model": "conversion"'],
        "not-an-object": [b"[]"],
    }
    monitor = monitor_of(bundle)
    topic = Topics().feature_summaries
    for values in cases.values():
        assert monitor.ingest_values({topic: list(values)}) == []
    [window] = monitor.features.values()
    refused = {reason: n for (kind, reason), n in monitor.counts.items() if kind == "summaries"}
    assert refused == {reason: len(v) for reason, v in cases.items()}
    # The good one fills its block alone: nothing refused went into it.
    assert len(monitor.ingest_values({topic: [msgspec.json.encode(good)]})) == 1
    assert window.count == 100


def test_random_bytes_on_feature_summaries_never_raise(bundle: ModelBundle) -> None:
    events = stream(300)
    good = [msgspec.json.encode(s) for s in
            summarise(events, [0] * 300, lambda k: k, [summariser_of(bundle)])]
    rng = random.Random(3)
    monitor = monitor_of(bundle)
    topic = Topics().feature_summaries
    for _ in range(3000):
        raw = bytearray(rng.choice(good))
        for _ in range(rng.randint(1, 8)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        monitor.ingest_values({topic: [bytes(raw)]})
    [window] = monitor.features.values()
    # Whatever was admitted was checked: every block's counts still add up.
    for sketch in window.numeric.values():
        assert sketch.present + sketch.missing == window.count
    assert np.all([s.counts.min() >= 0 for s in window.categorical.values()])


def test_predictions_without_feature_data_are_said_once_enough_have_come(
        bundle: ModelBundle) -> None:
    events = stream(SOURCE_GAP_RECORDS)
    predictions = [Prediction(event_id=e.event_id, user_id=e.user_id, ts=e.ts,
                              model="conversion", version=1, route="champion", score=0.5,
                              decision=1, scored_at=e.ts + timedelta(seconds=0.1))
                   for e in events]
    monitor = monitor_of(bundle)
    monitor.add_predictions(predictions[:-1])
    assert monitor.source_gap() is None  # not yet: a monitor may start before processors
    monitor.add_predictions(predictions[-1:])
    gap = monitor.source_gap()
    assert gap is not None and "STREAMML_MONITOR_SOURCE" in gap
    fed = monitor_of(bundle)
    fed.add_summaries(summarise(events[:100], [0] * 100, lambda k: k, [summariser_of(bundle)]))
    fed.add_predictions(predictions)
    assert fed.source_gap() is None


def test_labeled_events_without_predictions_are_said_once_enough_have_come(
        bundle: ModelBundle) -> None:
    """A monitor reading prediction-summaries beside processors that write none sees only
    what the joiner writes: it says so, naming the setting."""
    events = stream(SOURCE_GAP_RECORDS)
    labeled = [LabeledEvent(event_id=e.event_id, user_id=e.user_id, features=e.features,
                            label=1, score=0.5, version=1, ts=e.ts) for e in events]
    monitor = monitor_of(bundle)
    monitor.add_labeled(labeled[:-1])
    assert monitor.source_gap() is None
    monitor.add_labeled(labeled[-1:])
    gap = monitor.source_gap()
    assert gap is not None and gap.startswith("10,000 labeled events counted and no predictions")
    assert "STREAMML_MONITOR_SOURCE" in gap


def test_a_summary_spanning_more_than_a_window_is_held_alone(bundle: ModelBundle) -> None:
    """A hundred events two minutes apart span more than an hour, a window's default
    time: the window holds each such summary alone, where events are cut an hour at a
    time."""
    slow = [msgspec.structs.replace(e, ts=START + timedelta(minutes=2 * i))
            for i, e in enumerate(stream(300))]
    summaries = summarise(slow, [0] * 300, lambda k: k, [summariser_of(bundle)])
    by_summaries, by_events = monitor_of(bundle), monitor_of(bundle)

    read = by_summaries.add_summaries(summaries)
    seen = by_events.add_events(slow)

    assert [r.n for r in read] == [SUMMARY_EVENTS] * 3
    assert [r.n for r in seen] == [30] * 9  # an hour's events a window
