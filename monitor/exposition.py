"""Every figure of the monitor on ``/metrics``, read from its state at scrape time.

A collector, rather than gauges set event by event, costs nothing per event and keeps
labels bounded by construction: version and route (a few scopes at most), feature
(the reference's features), rule and severity (the rules file), sink and topic.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from monitor.dispatch import Dispatcher
from monitor.pipeline import MonitorPipeline
from monitor.predictions import LATENCY_BUCKETS
from monitor.report import LABEL_METRICS, PREDICTION_METRICS, Scope

PREFIX = "streamml_monitor_"
FEATURE_FIGURES = ("psi", "ks", "wasserstein", "missing_rate", "unseen_rate")
_COUNTS = ("predictions", "labeled")  # window sizes, in window_records


@dataclass
class Progress:
    """What the service loop did, for the metrics."""

    processing_seconds: float = 0.0
    batches: int = 0
    replaying: bool = True


class MonitorCollector:
    """Yields the monitor's metric families (the caller holds the state's lock)."""

    def __init__(self, pipeline: MonitorPipeline, dispatcher: Dispatcher,
                 progress: Progress, refusals: Counter[str] | None = None) -> None:
        self.pipeline = pipeline
        self.dispatcher = dispatcher
        self.progress = progress
        self.refusals = refusals if refusals is not None else Counter()

    def collect(self) -> Iterator[Metric]:
        yield from self._counts()
        yield from self._scopes()
        yield from self._features()
        yield from self._alerts()

    def _counts(self) -> Iterator[Metric]:
        records = CounterMetricFamily(PREFIX + "records", "Records read, by topic and outcome",
                                      labels=["topic", "outcome"])
        for (topic, outcome), n in sorted(self.pipeline.monitor.counts.items()):
            records.add_metric([topic, outcome], n)
        yield records
        yield CounterMetricFamily(PREFIX + "windows", "Windows closed and judged",
                                  value=self.pipeline.windows_closed)
        yield CounterMetricFamily(PREFIX + "processing_seconds",
                                  "CPU-bound time spent on records (divide by records for "
                                  "the cost per record)", value=self.progress.processing_seconds)
        yield GaugeMetricFamily(PREFIX + "replaying",
                                "1 while the monitor rebuilds its state from the topics' tail",
                                value=1.0 if self.progress.replaying else 0.0)

    def _scopes(self) -> Iterator[Metric]:
        monitor = self.pipeline.monitor
        labels = list(SCOPE_LABELS)
        predictions = CounterMetricFamily(PREFIX + "predictions", "Predictions counted",
                                          labels=labels)
        labeled = CounterMetricFamily(PREFIX + "labeled_events", "Labeled events counted",
                                      labels=labels)
        latency = HistogramMetricFamily(PREFIX + "latency_seconds",
                                        "Event time to prediction time", labels=labels)
        for scope, p in monitor.predictions.items():
            values = _scope(scope)
            predictions.add_metric(values, p.total)
            cumulative = p.total_latency.cumsum().tolist()
            buckets = [(str(b), float(c)) for b, c in zip(LATENCY_BUCKETS, cumulative,
                                                           strict=False)]
            latency.add_metric(values, buckets + [("+Inf", float(cumulative[-1]))],
                               p.latency_sum)
        for scope, lab in monitor.labeled.items():
            labeled.add_metric(_scope(scope), lab.total)
        yield from (predictions, labeled, latency)
        families = {name: GaugeMetricFamily(PREFIX + exposed_name(name), _help(name),
                                            labels=labels)
                    for name in (*PREDICTION_METRICS, *LABEL_METRICS) if name not in _COUNTS}
        records = GaugeMetricFamily(PREFIX + "window_records", "Records in the last closed "
                                    "window", labels=[*labels, "kind"])
        for (scope, kind), report in self.pipeline.history.latest.items():
            records.add_metric([*_scope(scope), kind], report.n)
            for name, value in report.figures.items():
                family = families.get(name)
                if family is not None and not math.isnan(value):
                    family.add_metric(_scope(scope), value)
        yield records
        yield from families.values()

    def _features(self) -> Iterator[Metric]:
        labels = [*SCOPE_LABELS, "feature"]
        families = {f: GaugeMetricFamily(PREFIX + "feature_" + f, f"Per feature {f} of the "
                                         "last data window against the training reference",
                                         labels=labels) for f in FEATURE_FIGURES}
        for (scope, kind), report in self.pipeline.history.latest.items():
            if kind != "features":
                continue
            for feature, figures in report.features.items():
                for name, family in families.items():
                    value = getattr(figures, name, None)
                    if value is not None and math.isfinite(value):
                        family.add_metric([*_scope(scope), feature], value)
        yield from families.values()

    def _alerts(self) -> Iterator[Metric]:
        refused = CounterMetricFamily(PREFIX + "registry_refusals",
                                      "model-versions records refused (unsigned, unknown key, "
                                      "bad signature, replayed deployment)", labels=["reason"])
        for reason, n in sorted(self.refusals.items()):
            refused.add_metric([reason], n)
        yield refused
        d = self.dispatcher
        firing = GaugeMetricFamily(PREFIX + "alerts_firing", "Alerts firing now",
                                   labels=["kind", "severity"])
        counts: dict[tuple[str, str], int] = {}
        for alert in d.firing.values():
            counts[(alert.kind, alert.severity)] = counts.get((alert.kind, alert.severity), 0) + 1
        for key, n in sorted(counts.items()):
            firing.add_metric(list(key), n)
        yield firing
        sent = CounterMetricFamily(PREFIX + "alerts_sent", "Alert changes delivered "
                                   "(acknowledged by the receiver), by sink",
                                   labels=["sink", "status"])
        for (sink, status), n in sorted(d.delivered().items()):
            sent.add_metric([sink, status], n)
        yield sent
        failures = CounterMetricFamily(PREFIX + "alert_failures",
                                       "Alerts a sink gave up on", labels=["sink"])
        for sink, n in sorted(d.failures.items()):
            failures.add_metric([sink], n)
        yield failures
        retries = CounterMetricFamily(PREFIX + "alert_retries",
                                      "Failed deliveries queued again", labels=["sink"])
        for sink, n in sorted(d.retried().items()):
            retries.add_metric([sink], n)
        yield retries
        drops = CounterMetricFamily(PREFIX + "alert_drops", "Alerts a sink dropped unsent: "
                                    "queue-full (oldest first) or superseded (a newer status "
                                    "of the same alert was queued)", labels=["sink", "reason"])
        for (sink, reason), n in sorted(d.dropped().items()):
            drops.add_metric([sink, reason], n)
        yield drops
        yield CounterMetricFamily(PREFIX + "alert_duplicates",
                                  "Alert changes dropped as already sent", value=d.duplicates)


# Every figure of a window is of one model's version on one route.
SCOPE_LABELS = ("model", "version", "route")
# Figures with a unit carry it in their exposed name, as Prometheus names do.
UNIT_SUFFIXES = {"latency_p50": "_seconds", "latency_p95": "_seconds",
                 "label_delay_p50": "_seconds", "throughput": "_events_per_second"}


def exposed_name(figure: str) -> str:
    """
    >>> exposed_name("latency_p95"), exposed_name("roc_auc")
    ('latency_p95_seconds', 'roc_auc')
    """
    return figure + UNIT_SUFFIXES.get(figure, "")


def _scope(scope: Scope) -> list[str]:
    return [scope.model, str(scope.version), scope.route]


def _help(name: str) -> str:
    return f"{name.replace('_', ' ')} of the last closed window"


def monitor_registry(collector: MonitorCollector) -> CollectorRegistry:
    """A registry holding only the monitor's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


__all__ = ["SCOPE_LABELS", "UNIT_SUFFIXES", "MonitorCollector", "Progress", "exposed_name",
           "monitor_registry"]
