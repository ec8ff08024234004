"""The monitor's pure core: records in, closed-window reports out. No Kafka, no clock.

Records are decoded with the contract's decoders, counted once per id (bounded
memory of ids, so a redelivery is not counted twice) and routed to the scope of
their model version and route. Scopes are bounded in number; the least recently
fed goes first, and is handed to the caller in ``retired`` so its alerts resolve.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import numpy as np
from numpy.typing import NDArray

from contracts.bounded_ids import RecentIds
from contracts.decoding import JSON_INPUTS, InputDecoders, RecordDecoder, Rejection
from contracts.feature_summary import columns
from contracts.kafka_clients import KafkaRecord
from contracts.records import (
    MAX_OUTCOMES_BYTES,
    FeatureSummary,
    LabeledEvent,
    LabeledOutcomes,
    Prediction,
    PredictionSummary,
    Record,
    UserEvent,
)
from contracts.topics import Topics
from monitor.concept import make_detector
from monitor.config import WindowConfig
from monitor.drivers import Drivers
from monitor.features import FeatureWindow
from monitor.performance import LabeledScope
from monitor.predictions import PredictionScope
from monitor.records import LabeledOutcome, OutcomeColumns, outcome_columns
from monitor.reference import Registry
from monitor.report import Scope, WindowReport
from monitor.summary_ledger import Repeat, SummaryLedger, by_route
from monitor.trail import Positions

logger = logging.getLogger(__name__)

# Records counted with none of what should come beside them (feature data beside
# predictions, predictions beside labeled events), before that is said: a few batches,
# so a monitor started before its processors says nothing it need not.
SOURCE_GAP_RECORDS = 10_000

R = TypeVar("R", bound=Record)
T = TypeVar("T")
S = TypeVar("S", PredictionScope, LabeledScope)
Floats = NDArray[np.float64]


class Monitor:
    """Figures per model version and route from ``prediction-summaries`` (or
    ``predictions`` themselves), ``labeled-outcomes`` (or ``labeled-events``) and
    ``feature-summaries`` (or ``user-events`` themselves), against the references on
    ``model-versions``.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> from monitor.config import WindowConfig
    >>> m = Monitor(model="m", windows=WindowConfig(prediction_events=2, min_events=1))
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> p = [Prediction(event_id=f"e{i}", user_id="u", ts=t0, model="m", version=1,
    ...                 route="champion", score=0.9, decision=1,
    ...                 scored_at=t0 + timedelta(seconds=0.02)) for i in (1, 1, 2)]
    >>> [(r.kind, r.n, r.figures["positive_rate"]) for r in m.add_predictions(p)]
    [('predictions', 2, 1.0)]
    >>> m.counts[("predictions", "duplicate")]
    1
    """

    def __init__(self, *, model: str, windows: WindowConfig, topics: Topics | None = None,
                 detectors: Mapping[str, Mapping[str, Any]] | None = None,
                 inputs: InputDecoders = JSON_INPUTS) -> None:
        self.model = model
        self.windows = windows
        self.detectors = dict(detectors if detectors is not None else {"adwin": {},
                                                                     "page_hinkley": {}})
        names = topics or Topics()
        self.kinds = {names.predictions: "predictions", names.labeled_events: "labeled",
                      names.user_events: "events", names.feature_summaries: "summaries",
                      names.prediction_summaries: "prediction-summaries",
                      names.labeled_outcomes: "outcomes"}
        self.labeled_topic = names.labeled_events
        self.registry = Registry(model)
        self.seen = {k: RecentIds(capacity=windows.dedup_capacity)
                     for k in ("predictions", "labeled", "events")}
        self.ledger = SummaryLedger()
        self.prediction_ledger = SummaryLedger(by_route)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.predictions: OrderedDict[Scope, PredictionScope] = OrderedDict()
        self.labeled: OrderedDict[Scope, LabeledScope] = OrderedDict()
        self.features: dict[Scope, FeatureWindow] = {}
        self.drivers: dict[Scope, Drivers] = {}
        self.retired: list[Scope] = []
        self.latest_prediction_ts = -math.inf
        self._routes: dict[int, str] = {}
        self._decoders: dict[str, RecordDecoder[Any]] = {
            "predictions": RecordDecoder(Prediction), "labeled": RecordDecoder(LabeledOutcome),
            "events": inputs.events, "summaries": RecordDecoder(FeatureSummary),
            "prediction-summaries": RecordDecoder(PredictionSummary),
            "outcomes": RecordDecoder(LabeledOutcomes, max_bytes=MAX_OUTCOMES_BYTES)}

    # -- registry -----------------------------------------------------------------
    def apply_registry(self, key: bytes | None, value: bytes | None) -> None:
        """Fold one ``model-versions`` record; start or stop watching served versions."""
        if not self.registry.apply(key, value):
            return
        served = {Scope(self.model, v, route) for route, v in self.registry.served().items()
                  if self.registry.reference(v) is not None}
        for scope in set(self.features) - served:
            del self.features[scope]
            self.retired.append(scope)
        w = self.windows
        for scope in served - set(self.features):
            reference = self.registry.reference(scope.version)
            assert reference is not None  # noqa: S101 - filtered above
            self.features[scope] = FeatureWindow(scope, reference, max_events=w.feature_events,
                                                 stride=min(w.feature_stride, w.feature_events),
                                                 max_seconds=w.max_seconds,
                                                 min_events=w.min_events)
            logger.info("watching features of version=%d route=%s", scope.version, scope.route)
        for route, version in self.registry.served().items():
            self._routes[version] = route

    # -- records ------------------------------------------------------------------
    def ingest(self, records: Sequence[KafkaRecord], *, now: float | None = None) \
            -> list[WindowReport]:
        """Decode a batch of records of the three topics and add them."""
        by_topic: dict[str, list[bytes | None]] = {topic: [] for topic in self.kinds}
        partitions: list[int] = []
        offsets: list[int] = []
        for record in records:
            values = by_topic.get(record.topic)
            if values is not None:
                values.append(record.value)
                if record.topic == self.labeled_topic:
                    partitions.append(record.partition)
                    offsets.append(record.offset)
        return self.ingest_values(by_topic, now=now, labeled_positions=(partitions, offsets))

    def ingest_values(self, by_topic: Mapping[str, list[bytes | None]], *,
                      now: float | None = None,
                      labeled_positions: tuple[Sequence[int], Sequence[int]] | None = None) \
            -> list[WindowReport]:
        """Decode and add the message values of a batch, listed by topic (others ignored).

        ``labeled_positions`` are the partitions and offsets of the ``labeled-events``
        values, in their order; alerts name them where a change began.
        """
        now = time.time() if now is None else now
        batches: dict[str, list[bytes | None]] = {
            "predictions": [], "labeled": [], "events": [], "summaries": [],
            "prediction-summaries": [], "outcomes": []}
        for topic, values in by_topic.items():
            kind = self.kinds.get(topic)
            if kind is not None:
                batches[kind] += values
        # Labels first: they answer predictions of earlier batches, and counting them
        # before this batch's predictions close a window keeps label coverage honest.
        kept: list[int] = []
        labeled = self._decode("labeled", batches["labeled"], now, kept)
        positions = None if labeled_positions is None else (
            np.asarray(labeled_positions[0], np.int64)[kept],
            np.asarray(labeled_positions[1], np.int64)[kept])
        reports = self.add_labeled(labeled, positions)
        reports += self.add_outcomes(self._decode("outcomes", batches["outcomes"], now), now=now)
        reports += self.add_predictions(self._decode("predictions", batches["predictions"], now))
        reports += self.add_prediction_summaries(
            self._decode("prediction-summaries", batches["prediction-summaries"], now))
        reports += self.add_events(self._decode("events", batches["events"], now))
        reports += self.add_summaries(self._decode("summaries", batches["summaries"], now))
        return reports

    def _decode(self, kind: str, values: list[bytes | None], now: float,
                kept: list[int] | None = None) -> list[Any]:
        """The records that decode; their indices among ``values`` go to ``kept``."""
        out = []
        for i, record in enumerate(self._decoders[kind].decode_many(values, now=now)):
            if isinstance(record, Rejection):
                self.counts[(kind, record.code)] += 1
            else:
                out.append(record)
                if kept is not None:
                    kept.append(i)
        return out

    def _first_time(self, kind: str, records: Sequence[R], keys: list[str]) -> list[R]:
        return [records[i] for i in self._fresh(kind, keys)]

    def _fresh(self, kind: str, keys: list[str]) -> Sequence[int]:
        """Indices of the keys seen for the first time."""
        fresh = self.seen[kind].add_new(keys)
        self.counts[(kind, "counted")] += len(fresh)
        self.counts[(kind, "duplicate")] += len(keys) - len(fresh)
        return fresh

    def add_predictions(self, records: Sequence[Prediction]) -> list[WindowReport]:
        mine = [p for p in records if p.model == self.model]
        self.counts[("predictions", "other-model")] += len(records) - len(mine)
        fresh = self._first_time("predictions", mine, [f"{p.event_id}|{p.route}" for p in mine])
        reports: list[WindowReport] = []
        for scope, group in self._grouped(fresh, lambda p: (p.version, p.route)):
            self._routes[scope.version] = scope.route
            ts = np.fromiter((p.ts.timestamp() for p in group), np.float64, len(group))
            scored = np.fromiter((p.scored_at.timestamp() for p in group), np.float64, len(group))
            self.latest_prediction_ts = max(self.latest_prediction_ts, float(ts.max()))
            reports += self._prediction_scope(scope).add(
                ts, np.fromiter((p.score for p in group), np.float64, len(group)),
                np.fromiter((p.decision for p in group), np.int64, len(group)),
                np.maximum(scored - ts, 0.0))
            explained = [p.contributions for p in group if p.contributions is not msgspec.UNSET]
            if explained:
                self.drivers.setdefault(scope, Drivers()).add(explained)
        if len(self.drivers) > len(self.predictions):  # scopes no longer watched
            self.drivers = {s: d for s, d in self.drivers.items() if s in self.predictions}
        return reports

    def add_prediction_summaries(self, summaries: Sequence[PredictionSummary]) \
            -> list[WindowReport]:
        """Add prediction summaries (:mod:`contracts.prediction_summary`) to the windows of
        their version and route; a repeat of summaries counted takes them back first."""
        reports: list[WindowReport] = []
        counts = self.counts
        placing: list[tuple[PredictionSummary, PredictionScope, list[Any]]] = []
        for summary in summaries:
            if summary.model != self.model:
                counts[("prediction-summaries", "other-model")] += 1
                continue
            scope = Scope(self.model, summary.version, summary.route)
            window = self._prediction_scope(scope, keep=False)
            problem = window.problem(summary)
            if problem is not None:
                counts[("prediction-summaries", problem)] += 1
                continue
            if scope not in self.predictions:  # made for this summary: watched from now
                self._keep(self.predictions, scope, window)
            repeat = self.prediction_ledger.arrive(summary)
            if repeat.taken:  # what it takes back must be in its window first
                reports += _place_predictions(placing)
                placing = []
            self._take_back(repeat, "prediction-summaries", "predictions")
            drivers = self.drivers.setdefault(scope, Drivers()) if summary.explained else None
            if drivers is not None:
                drivers.absorb(summary.explained, summary.terms, 1)
            placed: list[Any] = []  # the block it goes into, once placed
            placing.append((summary, window, placed))
            self.prediction_ledger.count(summary, _taking_back_predictions(
                window, summary, placed, drivers))
            self._routes[summary.version] = summary.route
            self.latest_prediction_ts = max(self.latest_prediction_ts, summary.end.timestamp())
            counts[("prediction-summaries", "added")] += 1
            counts[("predictions", "counted")] += summary.events
        return reports + _place_predictions(placing)

    def add_labeled(self, records: Sequence[LabeledEvent | LabeledOutcome],
                    positions: Positions | None = None) -> list[WindowReport]:
        """Add labeled events; ``positions``: their partitions and offsets, where known."""
        n = len(records)
        return self._add_outcomes(
            [e.event_id for e in records],
            np.fromiter((e.ts.timestamp() for e in records), np.float64, n),
            np.fromiter((e.label for e in records), np.int64, n),
            np.fromiter((e.score for e in records), np.float64, n),
            np.fromiter((e.version for e in records), np.int64, n), positions)

    def add_outcomes(self, records: Sequence[LabeledOutcomes], *,
                     now: float | None = None) -> list[WindowReport]:
        """Add the labeled events of ``labeled-outcomes`` records (:mod:`stream_processors.
        labeled_outcomes`), counted once per event id as labeled events are; a record
        :func:`~monitor.records.outcome_columns` cannot read is refused and counted."""
        now = time.time() if now is None else now
        kept: list[LabeledOutcomes] = []
        read: list[OutcomeColumns] = []
        for record in records:
            columns = outcome_columns(record, now)
            if isinstance(columns, str):
                self.counts[("outcomes", columns)] += 1
            else:
                kept.append(record)
                read.append(columns)
        if not kept:
            return []
        self.counts[("outcomes", "added")] += len(kept)
        sizes = [len(o.event_ids) for o in kept]
        # Offsets where each record's are known, -1 (unknown) elsewhere.
        partitions = np.repeat([o.partition if o.consecutive else -1 for o in kept], sizes)
        offsets = np.concatenate([np.arange(o.first_offset, o.first_offset + k) if o.consecutive
                                  else np.full(k, -1) for o, k in zip(kept, sizes, strict=True)])
        return self._add_outcomes(
            [i for o in kept for i in o.event_ids],
            np.concatenate([c.ts for c in read]), np.concatenate([c.labels for c in read]),
            np.concatenate([c.scores for c in read]),
            np.concatenate([c.versions for c in read]),
            (partitions.astype(np.int64), offsets.astype(np.int64)))

    def _add_outcomes(self, ids: list[str], ts: Floats, labels: NDArray[np.int64],
                      scores: Floats, versions: NDArray[np.int64],
                      positions: Positions | None) -> list[WindowReport]:
        """Add labeled events given as columns, each event id counted once."""
        kept = self._fresh("labeled", ids)
        if len(kept) < len(ids):
            at = np.asarray(kept, dtype=np.intp)
            ts, labels, scores, versions = ts[at], labels[at], scores[at], versions[at]
            if positions is not None:
                positions = (positions[0][at], positions[1][at])
        if not ts.size:
            return []
        reports: list[WindowReport] = []
        # Each version's events in arrival order; usually one version, taken whole.
        for version in dict.fromkeys(versions.tolist()):
            part = np.flatnonzero(versions == version) if versions.min() != versions.max() \
                else slice(None)
            scope = Scope(self.model, version, self._routes.get(version, "champion"))
            labeled = self._labeled_scope(scope)
            reports += labeled.add(
                ts[part], labels[part], scores[part],
                np.maximum(self.latest_prediction_ts - ts[part], 0.0),
                None if positions is None else (positions[0][part], positions[1][part]))
            predictions = self._prediction_scope(scope)
            predictions.labeled += labels[part].size
            predictions.calibration = labeled.last_calibration
        return reports

    def add_events(self, records: Sequence[UserEvent]) -> list[WindowReport]:
        fresh = self._first_time("events", records, [e.event_id for e in records])
        if not fresh or not self.features:
            return []
        numeric = {n for w in self.features.values() for n in w.numeric}
        categorical = {n for w in self.features.values() for n in w.categorical}
        cols = columns(fresh, sorted(numeric), sorted(categorical))
        return [r for w in self.features.values() for r in w.add(cols)]

    def add_summaries(self, summaries: Sequence[FeatureSummary]) -> list[WindowReport]:
        """Add feature summaries (:mod:`contracts.feature_summary`) to the windows of their
        version; a repeat of summaries counted takes them back first."""
        counts = self.counts
        placing: list[tuple[FeatureSummary, list[FeatureWindow], list[Any]]] = []
        for summary in summaries:
            if summary.model != self.model:
                counts[("summaries", "other-model")] += 1
                continue
            windows = [w for w in self.features.values() if w.scope.version == summary.version]
            if not windows:
                counts[("summaries", "version-not-watched")] += 1
                continue
            problem = windows[0].problem(summary)
            if problem is not None:
                counts[("summaries", problem)] += 1
                continue
            repeat = self.ledger.arrive(summary)
            if repeat.taken:  # what it takes back must be in its windows first
                _place(placing)
                placing = []
            self._take_back(repeat, "summaries", "events")
            placed: list[tuple[FeatureWindow, Any]] = []  # filled once the summary is placed
            placing.append((summary, windows, placed))
            self.ledger.count(summary, _taking_back(summary, placed))
            counts[("summaries", "added")] += 1
            counts[("events", "counted")] += summary.events
        _place(placing)
        return [r for window in self.features.values() for r in window.take_reports()]

    def _take_back(self, repeat: Repeat, kind: str, counted_as: str) -> None:
        """Take back the ``kind`` summaries ``repeat`` names, which counted their runs'
        records as ``counted_as``."""
        for counted in repeat.taken:
            counted.take_back()
            self.counts[(counted_as, "duplicate")] += counted.summary.events
        self.counts[(kind, "straddled")] += repeat.straddled
        self.counts[(kind, "repeat-beyond-memory")] += repeat.beyond_memory

    def source_gap(self) -> str | None:
        """What the monitor does not judge because the processors write something else
        than it reads (``STREAMML_MONITOR_SOURCE`` set differently on each)."""
        predictions = self.counts[("predictions", "counted")]
        labeled = self.counts[("labeled", "counted")]
        setting = ("The processors write feature-summaries and prediction-summaries, which "
                   "the monitor reads, when STREAMML_MONITOR_SOURCE=summaries; with `records` "
                   "the monitor reads user-events and predictions themselves. Set it the "
                   "same on both.")
        if not predictions and labeled >= SOURCE_GAP_RECORDS:
            return (f"{labeled:,} labeled events counted and no predictions: scores, latency "
                    f"and data drift are not judged. {setting}")
        if not self.features or self.counts[("events", "counted")] \
                or predictions < SOURCE_GAP_RECORDS:
            return None
        return (f"{predictions:,} predictions counted and no feature data: data drift is not "
                f"judged. {setting}")

    # -- scopes -------------------------------------------------------------------
    def _prediction_scope(self, scope: Scope, *, keep: bool = True) -> PredictionScope:
        """The scope's window; a new one is watched (and may push the least recently fed
        out) unless not ``keep``."""
        found = self.predictions.get(scope)
        reference = self.registry.reference(scope.version)
        if found is None:
            w = self.windows
            found = PredictionScope(
                scope, max_events=w.prediction_events, stride=w.prediction_stride,
                max_seconds=w.max_seconds,
                min_events=w.min_events, reference_scores=reference.scores if reference else None,
                reference_metrics=self.registry.metrics(scope.version))
            return self._keep(self.predictions, scope, found) if keep else found
        if found.scores is None and reference is not None:  # the version arrived late
            found.watch_scores(reference.scores)
            found.reference_metrics = self.registry.metrics(scope.version)
        self.predictions.move_to_end(scope)
        return found

    def _labeled_scope(self, scope: Scope) -> LabeledScope:
        found = self.labeled.get(scope)
        # Decisions are the version's own: its threshold from model-versions, the
        # configured one only until that record is read.
        threshold = self.registry.threshold(scope.version)
        if found is None:
            w = self.windows
            found = LabeledScope(
                scope, window_size=w.labeled_events, stride=w.labeled_stride,
                max_seconds=w.max_seconds, min_events=w.min_events,
                threshold=w.decision_threshold if threshold is None else threshold,
                detectors={n: make_detector(n, p) for n, p in self.detectors.items()},
                reference_metrics=self.registry.metrics(scope.version),
                baseline_events=w.baseline_events, topic=self.labeled_topic)
            return self._keep(self.labeled, scope, found)
        if threshold is not None:
            found.threshold = threshold
        if not found.reference_metrics:
            found.reference_metrics = self.registry.metrics(scope.version)
        self.labeled.move_to_end(scope)
        return found

    def _keep(self, scopes: OrderedDict[Scope, S], scope: Scope, value: S) -> S:
        scopes[scope] = value
        while len(scopes) > self.windows.max_scopes:
            old, _ = scopes.popitem(last=False)
            self.retired.append(old)
            logger.info("stopped watching version=%d route=%s (too many scopes)",
                        old.version, old.route)
        return value

    def take_retired(self) -> list[Scope]:
        """Scopes dropped since the last call (their alerts should resolve)."""
        retired, self.retired = self.retired, []
        return retired

    def _grouped(self, records: Sequence[T], key: Any) -> list[tuple[Scope, list[T]]]:
        """Records by (version, route), in arrival order within each."""
        groups: dict[tuple[int, str], list[T]] = {}
        for r in records:
            k = key(r)
            group = groups.get(k)
            if group is None:
                group = groups[k] = []
            group.append(r)
        return [(Scope(self.model, v, route), g) for (v, route), g in groups.items()]


def _taking_back_predictions(window: PredictionScope, summary: PredictionSummary,
                             placed: list[Any], drivers: Drivers | None) -> Callable[[], None]:
    def take_back() -> None:
        window.take_back(summary, placed[0])
        if drivers is not None:
            drivers.absorb(summary.explained, summary.terms, -1)
    return take_back


def _place_predictions(placing: list[tuple[PredictionSummary, PredictionScope, list[Any]]]) \
        -> list[WindowReport]:
    """Add prediction summaries to their windows, each window's in one call; the reports
    they close, and where each went (what taking it back needs)."""
    by_window: dict[int, tuple[PredictionScope, list[tuple[PredictionSummary, list[Any]]]]] = {}
    for summary, window, placed in placing:
        by_window.setdefault(id(window), (window, []))[1].append((summary, placed))
    reports = []
    for window, items in by_window.values():
        closed, blocks = window.add_summaries([summary for summary, _ in items])
        reports += closed
        for (_, placed), block in zip(items, blocks, strict=True):
            placed.append(block)
    return reports


def _place(placing: list[tuple[FeatureSummary, list[FeatureWindow], list[Any]]]) -> None:
    """Add summaries to their windows, each window's in one call, and note where each
    went (what taking it back needs)."""
    by_window: dict[int, tuple[FeatureWindow, list[tuple[FeatureSummary, list[Any]]]]] = {}
    for summary, windows, placed in placing:
        for window in windows:
            by_window.setdefault(id(window), (window, []))[1].append((summary, placed))
    for window, items in by_window.values():
        blocks = window.add_summaries([summary for summary, _ in items])
        for (_, placed), block in zip(items, blocks, strict=True):
            placed.append((window, block))


def _taking_back(summary: FeatureSummary,
                 placed: list[tuple[FeatureWindow, Any]]) -> Callable[[], None]:
    def take_back() -> None:
        for window, block in placed:
            window.take_back(summary, block)
    return take_back


__all__ = ["Monitor"]
