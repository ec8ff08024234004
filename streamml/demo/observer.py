"""Read the demo's output topics in a thread and keep a :class:`Timeline` of them."""

from __future__ import annotations

import logging
import threading
import time

from contracts.kafka_clients import common_config
from contracts.settings import Settings
from contracts.topics import Topics
from streamml.demo.timeline import Timeline

logger = logging.getLogger(__name__)


class Observer(threading.Thread):
    def __init__(self, settings: Settings, timeline: Timeline) -> None:
        super().__init__(name="demo-observer", daemon=True)
        self.settings = settings
        self.timeline = timeline
        self.lock = threading.Lock()
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join(10)

    def run(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        topics = Topics(self.settings.topic_prefix)
        handlers = {
            topics.predictions: self.timeline.add_prediction,
            topics.labeled_events: self.timeline.add_labeled,
            topics.alerts: self.timeline.add_alert,
        }
        consumer = Consumer({**common_config(self.settings), "group.id": "demo-observer",
                             "enable.auto.commit": False, "isolation.level": "read_committed"})
        assignment = []
        for topic in [*handlers, topics.model_versions]:
            partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
            assignment += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions]
        consumer.assign(assignment)
        try:
            while not self._stopping.is_set():
                for message in consumer.consume(1000, 0.2):
                    if message.error() or message.value() is None:
                        continue
                    self._handle(message, handlers, topics.model_versions)
        finally:
            consumer.close()

    def _handle(self, message, handlers, registry: str) -> None:  # type: ignore[no-untyped-def]
        now = time.time()
        topic = message.topic()
        try:
            with self.lock:
                if topic == registry:
                    if (message.key() or b"").endswith(b"/deployment"):
                        self.timeline.add_deployment(message.value(), now)
                else:
                    handlers[topic](message.value(), now)
        except Exception:  # noqa: BLE001 - the view must survive one odd record
            logger.debug("demo observer skipped a record of %s", topic, exc_info=True)


__all__ = ["Observer"]
