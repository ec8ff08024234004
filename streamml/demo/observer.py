"""Read the demo's output topics in a thread and keep a :class:`Timeline` of them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from contracts.batch_runtime import Assignment, BatchRuntime
from contracts.http_server import Heartbeat
from contracts.partition_reads import partitions_of
from contracts.settings import Settings
from contracts.topics import Topics
from streamml.demo.timeline import Timeline

logger = logging.getLogger(__name__)


class Observer(threading.Thread):
    """Every record of the demo's output topics from their start, read on the runtime
    every service uses (its own partitions, no commits)."""

    def __init__(self, settings: Settings, timeline: Timeline) -> None:
        super().__init__(name="demo-observer", daemon=True)
        self.settings = settings
        self.timeline = timeline
        self.lock = threading.Lock()
        topics = Topics(settings.topic_prefix)
        self._registry = topics.model_versions
        self._handlers: dict[str, Callable[[bytes, float], None]] = {
            topics.predictions: timeline.add_prediction,
            topics.labeled_events: timeline.add_labeled,
            topics.alerts: timeline.add_alert,
        }
        self._runtime = BatchRuntime(
            settings, group="demo-observer", source=Assignment(self._plan), step=self,
            output=None, heartbeat=Heartbeat(), policy=None, max_batch=1000, poll_seconds=0.2)

    def stop(self) -> None:
        self._runtime.stop()
        self.join(10)

    def run(self) -> None:
        self._runtime.run()

    def _plan(self, consumer: Any) -> list[Any]:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        return [TopicPartition(topic, p, OFFSET_BEGINNING)
                for topic in [*self._handlers, self._registry]
                for p in partitions_of(consumer, topic, timeout=10)]

    def process(self, batch: list[Any]) -> tuple[()]:
        now = time.time()
        with self.lock:
            for message in batch:
                if message.value() is not None:
                    self._handle(message, now)
        return ()

    def tick(self) -> tuple[()]:
        return ()

    def _handle(self, message: Any, now: float) -> None:
        topic = message.topic()
        try:
            if topic == self._registry:
                if (message.key() or b"").endswith(b"/deployment"):
                    self.timeline.add_deployment(message.value(), now)
            else:
                self._handlers[topic](message.value(), now)
        except Exception:  # noqa: BLE001 - the view must survive one odd record
            logger.debug("demo observer skipped a record of %s", topic, exc_info=True)


__all__ = ["Observer"]
