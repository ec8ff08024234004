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

ALL_TOPICS: Final = (
    USER_EVENTS,
    LABELS,
    PREDICTIONS,
    LABELED_EVENTS,
    MODEL_VERSIONS,
    ALERTS,
    DEAD_LETTERS,
)

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


@dataclass(frozen=True, slots=True)
class Topics:
    """The concrete names of the seven topics, with an optional prefix.

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

    def specs(self, *, partitions: int, replication_factor: int) -> list[TopicSpec]:
        """Every topic's layout.

        ``user-events`` and ``labels`` share their partition count (and key) so the
        label joiner finds a label's event in its own partition. The registry is one
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
            TopicSpec(self.name(base), partitions, replication_factor, durability)
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
