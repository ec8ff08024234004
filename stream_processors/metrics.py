"""Prometheus metrics of the scoring processor and the joiner, on their own registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2000)


@dataclass(frozen=True)
class ScoringMetrics:
    """``model`` is the served model's name, on every series that is about one of its
    versions."""

    model: str
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


def scoring_metrics(model: str) -> ScoringMetrics:
    registry = CollectorRegistry()
    return ScoringMetrics(
        model=model,
        registry=registry,
        events_in=Counter("streamml_events_in", "Events read from user-events",
                          registry=registry),
        predictions_out=Counter("streamml_predictions", "Predictions sent",
                                ["model", "version", "route"], registry=registry),
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
                         ["model", "route"], registry=registry),
        model_refusals=Counter("streamml_model_refusals",
                               "Model artifacts or deployments refused", ["reason"],
                               registry=registry),
        model_swaps=Counter("streamml_model_swaps", "Deployment changes applied",
                            registry=registry),
    )


DELAY_BUCKETS = (1, 10, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600, 7 * 24 * 3600)


@dataclass(frozen=True)
class JoinerMetrics:
    registry: CollectorRegistry
    records_in: Counter
    skipped: Counter
    labeled_out: Counter
    unmatched_labels: Counter
    duplicates: Counter
    events_dropped: Counter
    label_delay_seconds: Histogram
    batch_size: Histogram
    join_seconds: Histogram
    waiting_labels: Gauge
    pending_events: Gauge
    forwarded: Counter
    budget_evictions: Counter
    paused: Gauge
    pauses: Counter
    # Partitions the waiting_labels gauge has a value for, to remove revoked ones.
    waiting_partitions: set[int] = field(default_factory=set)


def joiner_metrics() -> JoinerMetrics:
    registry = CollectorRegistry()
    return JoinerMetrics(
        registry=registry,
        records_in=Counter("streamml_join_records_in", "Records read, by source topic",
                           ["topic"], registry=registry),
        skipped=Counter("streamml_join_skipped",
                        "Records that did not decode (labels among them are dead-lettered)",
                        ["topic", "reason"], registry=registry),
        labeled_out=Counter("streamml_labeled_events", "Labeled events sent, by the model "
                            "that scored them", ["model"], registry=registry),
        unmatched_labels=Counter("streamml_join_unmatched_labels",
                                 "Labels dead-lettered without a scored event",
                                 ["reason"], registry=registry),
        duplicates=Counter("streamml_join_duplicates",
                           "Repeated events, predictions or labels ignored", ["kind"],
                           registry=registry),
        events_dropped=Counter("streamml_join_events_dropped",
                               "Events forgotten unlabeled (expired or pushed out)",
                               ["reason"], registry=registry),
        label_delay_seconds=Histogram("streamml_label_delay_seconds",
                                      "Event time to label time of joined events, by the "
                                      "model that scored them", ["model"],
                                      buckets=DELAY_BUCKETS, registry=registry),
        batch_size=Histogram("streamml_join_batch_size", "Records per joined micro-batch",
                             buckets=BATCH_BUCKETS, registry=registry),
        join_seconds=Histogram("streamml_join_seconds",
                               "Time to decode, join and encode one micro-batch",
                               buckets=LATENCY_BUCKETS, registry=registry),
        waiting_labels=Gauge("streamml_join_waiting_labels",
                             "Labels waiting for their scored event, by partition of the "
                             "join", ["partition"], registry=registry),
        pending_events=Gauge("streamml_join_pending_events",
                             "Events or predictions waiting for a label", registry=registry),
        forwarded=Counter("streamml_join_repartitioned",
                          "Records read in another partition than murmur2 gives their key "
                          "(written by a client with another partitioner), forwarded there "
                          "through join-repartition", ["topic"], registry=registry),
        budget_evictions=Counter("streamml_join_budget_evictions",
                                 "Waiting events and labels dead-lettered because the joiner's "
                                 "memory budget was full", ["kind"], registry=registry),
        paused=Gauge("streamml_join_paused_partitions",
                     "Source partitions paused because their event time ran ahead of "
                     "another topic's in the same partition (a backlog being read)",
                     registry=registry),
        pauses=Counter("streamml_join_pauses",
                       "Times a source partition was paused to let the others catch up, "
                       "by topic", ["topic"], registry=registry),
    )
