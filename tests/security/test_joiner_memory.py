"""A flood of large unlabeled events cannot grow ``streamml join`` past its byte budget.

6,000 valid events of about 62 KB each (375 MB), none ever labeled, are sent to a
real joiner whose budget is 16 MiB. Without a byte bound its RSS grew by about 94 KB
an event (3,000 such events took it from 199 to 482 MB), so this flood alone would
add about 560 MB. With it, the peak RSS stays within twice the budget (decoded
records take about 1.5 times their bytes) plus a fixed margin for one batch in
flight, its dead letters and the consumer's read-ahead; measured, the growth was
164 MB for 4,000 events and 175 MB for 8,000: it does not grow with the flood.
Every event pushed out is on ``dead-letters`` with the reason, and counted. Nothing
here is random: the events are the same on every run.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from confluent_kafka import Producer

from contracts.kafka_clients import producer_config
from contracts.records import DeadLetter, UserEvent
from contracts.settings import Settings
from contracts.topics import Topics
from stream_processors.label_join import MEMORY_BUDGET_FULL
from streamml.broker.single_node import free_port
from tests.integration.processes import http_get, settings_env, streamml_child, wait_for_health
from tests.integration.test_joiner import metric
from tests.integration.topic_reader import read_topic

pytestmark = pytest.mark.integration

BUDGET = 16 * 1024 * 1024
EVENTS = 6000
# One batch of 250 such events in flight (raw, decoded, evicted, dead-lettered),
# the 256 events read ahead and 1 MiB fetched per partition, and the allocator.
MARGIN = 2 * BUDGET + 192 * 1024 * 1024
FEATURES = {f"f{i:03d}": "x" * 240 for i in range(250)}


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def flood(settings: Settings, ts: datetime) -> int:
    topics = Topics(settings.topic_prefix)
    producer = Producer(producer_config(settings, **{"linger.ms": 20}))
    size = 0
    for i in range(EVENTS):
        user = f"u{i % 97}"
        value = msgspec.json.encode(UserEvent(event_id=f"big-{i}", user_id=user, ts=ts,
                                              features=FEATURES))
        size = len(value)
        while True:
            try:
                producer.produce(topics.user_events, key=user.encode(), value=value)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(120) == 0
    return size


def test_a_flood_of_large_unlabeled_events_stays_within_the_budget_as_dead_letters(
    kafka_settings: Settings, tmp_path: Path
) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    port = free_port()
    args = ["join", "--web-port", str(port), "--ttl", "3600"]
    env = settings_env(kafka_settings, STREAMML_JOINER_MEMORY_BUDGET_BYTES=str(BUDGET))
    ts = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    with streamml_child(args, env, tmp_path / "join.log") as child:
        wait_for_health(child, port, timeout=60)
        baseline = rss_kib(child.pid)
        began = time.monotonic()
        size = flood(kafka_settings, ts)
        deadline = time.monotonic() + 240
        text = ""
        while time.monotonic() < deadline:
            _, body = http_get(f"http://127.0.0.1:{port}/metrics")
            text = body.decode()
            if metric(text, "streamml_join_records_in_total", topic="user-events") >= EVENTS:
                break
            time.sleep(1)
        peak = rss_kib(child.pid, "VmHWM")
        elapsed = time.monotonic() - began
        evicted = metric(text, "streamml_join_budget_evictions_total", kind="event")
        pending = metric(text, "streamml_join_pending_events")
        dead = read_topic(kafka_settings, topics.dead_letters, timeout=120,
                          until=lambda r: len(r) >= evicted)
        assert child.process.poll() is None, child.output()[-3000:]

    letters = [msgspec.json.decode(r.value or b"", type=DeadLetter) for r in dead]
    growth_mb = (peak - baseline) / 1024
    print(f"\n[joiner memory] events={EVENTS} bytes-each={size} budget-MiB={BUDGET >> 20} "
          f"baseline-MB={baseline / 1024:.0f} peak-MB={peak / 1024:.0f} "
          f"growth-MB={growth_mb:.0f} evicted={evicted:.0f} pending={pending:.0f} "
          f"dead-letters={len(letters)} seconds={elapsed:.0f}")
    assert metric(text, "streamml_join_records_in_total", topic="user-events") == EVENTS
    assert evicted + pending == EVENTS and pending * size <= BUDGET
    assert (peak - baseline) * 1024 < MARGIN, f"RSS grew by {growth_mb:.0f} MB"
    assert len(letters) == evicted
    assert {d.reason for d in letters} == {MEMORY_BUDGET_FULL}
    assert all(f"joiner memory budget of {BUDGET // kafka_settings.partitions} bytes full"
               in d.error for d in letters)
    originals = {msgspec.json.decode(d.original, type=UserEvent).event_id for d in letters}
    assert len(originals) == len(letters)
