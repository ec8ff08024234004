"""``ensure_topics``: missing topics created, others left, partition counts checked."""

from __future__ import annotations

from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any

import pytest

from contracts.exceptions import TopicMismatchError
from contracts.topic_admin import ensure_topics
from contracts.topics import Topics


class FakeAdmin:
    """Topics by name with their partition count; creating one always succeeds."""

    def __init__(self, **partitions: int) -> None:
        self.partitions = {name.replace("_", "-"): n for name, n in partitions.items()}
        self.created: list[str] = []

    def list_topics(self, timeout: float) -> Any:
        topics = {name: SimpleNamespace(partitions=dict.fromkeys(range(n)))
                  for name, n in self.partitions.items()}
        return SimpleNamespace(topics=topics)

    def create_topics(self, new: list[Any], **_: Any) -> dict[str, Future[None]]:
        futures = {}
        for topic in new:
            self.created.append(topic.topic)
            futures[topic.topic] = done = Future()
            done.set_result(None)
        return futures


def test_missing_topics_are_created_with_the_configured_layout() -> None:
    admin = FakeAdmin(user_events=3)

    report = ensure_topics(admin, Topics().specs(partitions=3, replication_factor=1))  # type: ignore[arg-type]

    assert report.unchanged == ["user-events"]
    assert {"join-repartition", "feature-summaries", "prediction-summaries",
            "labeled-outcomes"} <= set(admin.created) and len(admin.created) == 10


def test_a_derived_topic_with_another_count_than_its_source_is_reported() -> None:
    """Both user-events (6) and predictions (3) differ from each other; outputs are written
    to their event's partition number, so the pair is named even where one matches."""
    admin = FakeAdmin(user_events=6, predictions=3)

    with pytest.raises(TopicMismatchError) as raised:
        ensure_topics(admin, Topics().specs(partitions=3, replication_factor=1))  # type: ignore[arg-type]

    message = str(raised.value)
    assert "user-events has 6 partitions; the settings ask for 3" in message
    assert "predictions has 3 partitions and its source user-events 6" in message
    assert "dead-letters would be created with 3 partitions and its source user-events 6" in (
        message)
