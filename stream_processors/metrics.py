"""Prometheus metrics of the scoring processor and the joiner, on their own registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2000)


@dataclass(frozen=True)
class ScoringMetrics:
    registry: CollectorRegistry
    events_in: Counter
    predictions_out: Counter
    dead_letters: Counter
    batch_size: Histogram
    scoring_seconds: Histogram
    event_lag_seconds: Histogram
    model_ready: Gauge
    model_info: Gauge
    model_refusals: Counter
    model_swaps: Counter


def scoring_metrics() -> ScoringMetrics:
    registry = CollectorRegistry()
    return ScoringMetrics(
        registry=registry,
        events_in=Counter("streamml_events_in", "Events read from user-events",
                          registry=registry),
        predictions_out=Counter("streamml_predictions", "Predictions sent",
                                ["version", "route"], registry=registry),
        dead_letters=Counter("streamml_dead_letters", "Messages sent to dead-letters",
                             ["reason"], registry=registry),
        batch_size=Histogram("streamml_batch_size", "Events per scored micro-batch",
                             buckets=BATCH_BUCKETS, registry=registry),
        scoring_seconds=Histogram("streamml_scoring_seconds",
                                  "Time to decode, score and encode one micro-batch",
                                  buckets=LATENCY_BUCKETS, registry=registry),
        event_lag_seconds=Histogram("streamml_event_lag_seconds",
                                    "Event time to scoring time", buckets=LAG_BUCKETS,
                                    registry=registry),
        model_ready=Gauge("streamml_model_ready",
                          "1 when a champion model is loaded and events are consumed",
                          registry=registry),
        model_info=Gauge("streamml_model_version", "Version serving each route (0: none)",
                         ["route"], registry=registry),
        model_refusals=Counter("streamml_model_refusals",
                               "Model artifacts or deployments refused", ["reason"],
                               registry=registry),
        model_swaps=Counter("streamml_model_swaps", "Deployment changes applied",
                            registry=registry),
    )
