"""Topic names and layouts: the one place they are defined."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

USER_EVENTS: Final = "user-events"
LABELS: Final = "labels"
PREDICTIONS: Final = "predictions"
LABELED_EVENTS: Final = "labeled-events"
MODEL_VERSIONS: Final = "model-versions"
ALERTS: Final = "alerts"
DEAD_LETTERS: Final = "dead-letters"
# What the scoring processor's batches looked like, per feature, against each served
# version's reference: what the monitor judges data drift on.
FEATURE_SUMMARIES: Final = "feature-summaries"
# Its predictions of those batches, per version and route, counted on the monitor's
# grids: what the monitor figures scores, latency and the label-free estimate from.
PREDICTION_SUMMARIES: Final = "prediction-summaries"
# The labeled events the joiner wrote, without their features: what the monitor judges
# performance and concept drift on.
LABELED_OUTCOMES: Final = "labeled-outcomes"
# The joiner's own: records it moves to the partition murmur2 gives their key.
JOIN_REPARTITION: Final = "join-repartition"

ALL_TOPICS: Final = (
    USER_EVENTS,
    LABELS,
    PREDICTIONS,
    LABELED_EVENTS,
    MODEL_VERSIONS,
    ALERTS,
    DEAD_LETTERS,
    JOIN_REPARTITION,
    FEATURE_SUMMARIES,
    PREDICTION_SUMMARIES,
    LABELED_OUTCOMES,
)

# Topics written to their input's partition number, and the topic they derive from:
# a record's outputs then share its partition, whatever partitioner wrote it.
SAME_PARTITIONS_AS: Final = {
    LABELS: USER_EVENTS,
    PREDICTIONS: USER_EVENTS,
    DEAD_LETTERS: USER_EVENTS,
    FEATURE_SUMMARIES: USER_EVENTS,
    PREDICTION_SUMMARIES: USER_EVENTS,
    LABELED_EVENTS: LABELS,
    LABELED_OUTCOMES: LABELS,
    JOIN_REPARTITION: LABELS,
}

MODEL_ARTIFACT_MAX_BYTES: Final = 16 * 1024 * 1024


def min_insync_replicas(replication_factor: int) -> int:
    """Replicas that must have a write before ``acks=all`` confirms it.

    Two of three or more: a confirmed write survives losing any one broker, and
    writes go on while one broker is down. Fewer replicas cannot afford both.

    >>> min_insync_replicas(3), min_insync_replicas(1)
    (2, 1)
    """
    return 2 if replication_factor >= 3 else 1


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """How one topic is laid out on the broker."""

    name: str
    partitions: int
    replication_factor: int
    config: tuple[tuple[str, str], ...] = ()
    same_partitions_as: str | None = None  # the name of the topic it derives from


@dataclass(frozen=True, slots=True)
class Topics:
    """The concrete names of the project's topics, with an optional prefix.

    A prefix lets several deployments (or tests) share one cluster.

    >>> Topics(prefix="t1.").user_events
    't1.user-events'
    """

    prefix: str = ""

    def name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def user_events(self) -> str:
        return self.name(USER_EVENTS)

    @property
    def labels(self) -> str:
        return self.name(LABELS)

    @property
    def predictions(self) -> str:
        return self.name(PREDICTIONS)

    @property
    def labeled_events(self) -> str:
        return self.name(LABELED_EVENTS)

    @property
    def model_versions(self) -> str:
        return self.name(MODEL_VERSIONS)

    @property
    def alerts(self) -> str:
        return self.name(ALERTS)

    @property
    def dead_letters(self) -> str:
        return self.name(DEAD_LETTERS)

    @property
    def join_repartition(self) -> str:
        return self.name(JOIN_REPARTITION)

    @property
    def feature_summaries(self) -> str:
        return self.name(FEATURE_SUMMARIES)

    @property
    def prediction_summaries(self) -> str:
        return self.name(PREDICTION_SUMMARIES)

    @property
    def labeled_outcomes(self) -> str:
        return self.name(LABELED_OUTCOMES)

    def specs(self, *, partitions: int, replication_factor: int) -> list[TopicSpec]:
        """Every topic's layout.

        ``user-events`` and ``labels`` share their partition count (and key), and every
        topic written to its input's partition number shares its input's count
        (:data:`SAME_PARTITIONS_AS`), so the joiner holds all pieces of a join in one
        partition number. The registry is one
        compacted partition, so every reader sees versions in publication order.
        With three replicas or more, each topic carries its ``min.insync.replicas``
        rather than trusting the cluster's default (1 unless someone changed it).
        """
        durability: tuple[tuple[str, str], ...] = ()
        if replication_factor >= 3:
            durability = (
                ("min.insync.replicas", str(min_insync_replicas(replication_factor))),
            )
        specs = [
            TopicSpec(self.name(base), partitions, replication_factor, durability,
                      self.name(SAME_PARTITIONS_AS[base]) if base in SAME_PARTITIONS_AS
                      else None)
            for base in ALL_TOPICS
            if base != MODEL_VERSIONS
        ]
        specs.insert(
            ALL_TOPICS.index(MODEL_VERSIONS),
            TopicSpec(
                self.model_versions,
                1,
                replication_factor,
                (
                    ("cleanup.policy", "compact"),
                    ("max.message.bytes", str(MODEL_ARTIFACT_MAX_BYTES)),
                    ("min.compaction.lag.ms", "60000"),
                    *durability,
                ),
            ),
        )
        return specs
