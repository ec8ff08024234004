"""The demo: a broker, the topics, simulated events sent and read back, a summary."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from contracts.decoding import decode_event
from contracts.kafka_clients import make_admin
from contracts.records import UserEvent
from contracts.settings import Settings
from contracts.topic_admin import ensure_topics
from contracts.topics import Topics
from producers.sdk import EventProducer
from producers.simulator import Simulator
from streamml import local_broker

console = Console()


def ensure_broker(settings: Settings) -> str:
    """The broker of the settings if it answers; else a local one started on that port."""
    if local_broker.answers(settings.bootstrap_servers):
        console.print(f"[green]broker[/] answers at {settings.bootstrap_servers}")
        return settings.bootstrap_servers
    host, _, port = settings.bootstrap_servers.partition(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise local_broker.BrokerError(
            f"no broker answers at {settings.bootstrap_servers}; the demo starts one only on "
            "this machine (unset STREAMML_BOOTSTRAP_SERVERS to use 127.0.0.1:9092)"
        )
    with console.status("starting the local Kafka broker (the first run fetches its jars)"):
        state = local_broker.start(int(port))
    console.print(f"[green]broker[/] started at {state.bootstrap} (pid {state.pid})")
    return state.bootstrap


def run_demo(settings: Settings, *, events: int, scenario: str, rate: float) -> int:
    settings = settings.with_overrides(bootstrap_servers=ensure_broker(settings))
    topics = Topics(settings.topic_prefix)
    report = ensure_topics(
        make_admin(settings),
        topics.specs(partitions=settings.partitions,
                     replication_factor=settings.replication_factor),
    )
    console.print(f"[green]topics[/] created {len(report.created)}, "
                  f"already there {len(report.unchanged)}")

    run_id = uuid.uuid4().hex[:8]
    simulator = Simulator(seed=int(time.time()), scenario=scenario, drift_at=events // 2,
                          start=datetime.now(UTC), id_prefix=f"demo-{run_id}-")
    began = time.monotonic()
    with EventProducer(settings) as producer:
        for n, item in enumerate(simulator.events(events), start=1):
            producer.send_record(item.event)
            if rate > 0:
                time.sleep(max(0.0, n / rate - (time.monotonic() - began)))
    sent_seconds = time.monotonic() - began
    console.print(f"[green]sent[/] {events} events in {sent_seconds:.1f} s")

    read_back, partitions = _read_back(settings, topics.user_events, f"demo-{run_id}-", events)
    table = Table(title="streamml demo")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row("broker", settings.bootstrap_servers)
    table.add_row("events sent", f"{events:,}")
    table.add_row("events read back (valid)", f"{read_back:,}")
    table.add_row("events/s sent", f"{events / max(sent_seconds, 1e-9):,.0f}")
    for partition, count in sorted(partitions.items()):
        table.add_row(f"partition {partition}", f"{count:,}")
    console.print(table)
    return 0 if read_back == events else 1


def _read_back(settings: Settings, topic: str, prefix: str, expected: int,
               timeout: float = 60.0) -> tuple[int, Counter[int]]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from contracts.kafka_clients import consumer_config

    consumer = Consumer(consumer_config(settings, f"demo-reader-{uuid.uuid4().hex[:6]}"))
    partitions_meta = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions_meta])
    found = 0
    per_partition: Counter[int] = Counter()
    deadline = time.monotonic() + timeout
    try:
        while found < expected and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                if message.error():
                    continue
                event = decode_event(message.value())
                if isinstance(event, UserEvent) and event.event_id.startswith(prefix):
                    found += 1
                    per_partition[message.partition()] += 1
    finally:
        consumer.close()
    return found, per_partition
