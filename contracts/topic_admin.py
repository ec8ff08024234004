"""Create the project's topics, idempotently, and report any that exist with another layout."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from contracts.exceptions import TopicMismatchError
from contracts.topics import TopicSpec

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

logger = logging.getLogger(__name__)


@dataclass
class TopicReport:
    created: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)


def ensure_topics(
    admin: AdminClient, specs: list[TopicSpec], *, timeout: float = 30.0
) -> TopicReport:
    """Create what is missing; leave what matches; raise on a topic laid out otherwise.

    Missing topics are created even when another topic mismatches, so one bad topic
    does not hold back the others; the error then names every mismatch.
    """
    # NewTopic is typed in ``cimpl``; ``confluent_kafka.admin`` re-exports it untyped.
    from confluent_kafka import KafkaException
    from confluent_kafka.cimpl import NewTopic

    existing = admin.list_topics(timeout=timeout).topics
    report = TopicReport()
    missing = []
    for spec in specs:
        current = existing.get(spec.name)
        if current is None:
            missing.append(spec)
        elif len(current.partitions) != spec.partitions:
            report.mismatched.append(
                f"{spec.name} has {len(current.partitions)} partitions; "
                f"the settings ask for {spec.partitions}"
            )
        else:
            report.unchanged.append(spec.name)
    report.mismatched += _unequal_to_source(specs, existing)
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(s.name, s.partitions, s.replication_factor, config=dict(s.config))
                for s in missing
            ],
            operation_timeout=timeout,
            request_timeout=timeout,
        )
        for name, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                    raise
                logger.info("topic=%s created concurrently by another process", name)
            report.created.append(name)
    if report.mismatched:
        raise TopicMismatchError(
            "; ".join(report.mismatched)
            + ". Partition counts are never changed silently: delete the topic or "
            "set STREAMML_PARTITIONS to match."
        )
    return report


def _unequal_to_source(specs: list[TopicSpec], existing: Mapping[str, Any]) -> list[str]:
    """Derived topics whose partition count (as it is, or as it will be created) differs
    from their source's: their records are written to the source record's partition."""
    counts = {s.name: len(existing[s.name].partitions) if s.name in existing else s.partitions
              for s in specs}
    return [
        f"{s.name} {'has' if s.name in existing else 'would be created with'} "
        f"{counts[s.name]} partitions and its source {s.same_partitions_as} "
        f"{counts[s.same_partitions_as]}; records are written to their input's partition "
        "number, so the counts must be equal"
        for s in specs
        if s.same_partitions_as in counts and counts[s.name] != counts[s.same_partitions_as]
    ]
