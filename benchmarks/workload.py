"""What every benchmark row meets: the same events, a broker, a backlog, a paced load,
and a reader timing what comes out. Also /proc figures of a runner's process.

Events are simulated once (``producers.simulator``), their feature objects encoded
once, and messages built from a template, so a million of them cost seconds. Each
message's ``event_id`` ends in its sequence number: the reader maps an output back
to when its event was sent without parsing times.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from contracts.kafka_clients import common_config, make_admin, make_producer
from contracts.settings import Settings
from contracts.topic_admin import ensure_topics
from contracts.topics import Topics
from producers.simulator import Simulator
from streamml.broker import single_node

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_TEMPLATE = b'{"schema_version":1,"event_id":"%s-%09d","user_id":"%s","ts":"%s","features":%s}'


class Output(msgspec.Struct):
    """The fields the reader needs of any output: the ceilings echo events, the others
    write predictions; both carry ``event_id`` (and predictions a ``version``)."""

    event_id: str
    version: int = 0


_OUTPUT = msgspec.json.Decoder(Output)


@contextmanager
def broker() -> Iterator[str]:
    """KAFKA_BOOTSTRAP_SERVERS when set, else a local broker started for the run."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    data_dir = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
    try:
        yield single_node.start(single_node.free_port(), data_dir).bootstrap
    finally:
        single_node.stop(data_dir)


def fresh_topics(base: Settings, tag: str) -> tuple[Settings, Topics]:
    """Settings with their own topics and groups (created here, three partitions)."""
    settings = base.with_overrides(topic_prefix=f"bench{tag}.", group_prefix=f"bench{tag}")
    topics = Topics(settings.topic_prefix)
    ensure_topics(make_admin(settings), topics.specs(partitions=3, replication_factor=1))
    return settings, topics


@dataclass
class Events:
    """Distinct simulated events (user key and encoded features), to be sent many times."""

    users: list[bytes]
    features: list[bytes]
    prefix: bytes = b"bench"

    @classmethod
    def simulate(cls, n: int, *, seed: int = 2) -> Events:
        items = Simulator(seed=seed).events(n)
        users, features = [], []
        encode = msgspec.json.encode
        for item in items:
            users.append(item.event.user_id.encode())
            features.append(encode(item.event.features))
        return cls(users, features)

    def message(self, seq: int, ts: bytes) -> tuple[bytes, bytes]:
        """(key, value) of event ``seq``: distinct id, features cycling over the pool."""
        i = seq % len(self.users)
        user = self.users[i]
        return user, _TEMPLATE % (self.prefix, seq, user, ts, self.features[i])


def now_text() -> bytes:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z").encode()


def sequence(event_id: str) -> int:
    return int(event_id[-9:])


def produce_backlog(settings: Settings, topic: str, events: Events, first: int,
                    count: int) -> None:
    """Send events ``first .. first + count - 1`` and wait until the broker has them all."""
    producer = make_producer(settings, **{"linger.ms": 20, "batch.size": 1_000_000,
                                          "queue.buffering.max.messages": 500_000})
    produce, poll = producer.produce, producer.poll
    ts = now_text()
    for seq in range(first, first + count):
        key, value = events.message(seq, ts)
        while True:
            try:
                produce(topic, value=value, key=key)
                break
            except BufferError:
                poll(0.05)
        if seq % 1000 == 0:
            poll(0)
    if producer.flush(120) > 0:
        raise RuntimeError(f"the backlog of {count} events did not reach {topic}")


class Reader:
    """Reads an output topic from its start and records when each output arrived."""

    def __init__(self, settings: Settings, topic: str) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        self.consumer = Consumer({**common_config(settings), "group.id": "bench-reader",
                                  "enable.auto.commit": False, "fetch.wait.max.ms": 10})
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def poll(self, timeout: float, *, decode: bool = False) -> list[Any]:
        """One batch of messages (errors dropped); decoded outputs when ``decode``."""
        batch = [m for m in self.consumer.consume(2000, timeout) if not m.error()]
        if decode:
            return [_OUTPUT.decode(m.value() or b"") for m in batch]
        return batch

    def close(self) -> None:
        self.consumer.close()


@dataclass
class Throughput:
    events: int
    seconds: float
    cpu_seconds: float
    rss_mib: dict[int, float] = field(default_factory=dict)


def time_backlog(reader: Reader, expected: int, pid: int, *, rss_at: tuple[int, ...] = (),
                 timeout: float = 900.0) -> Throughput:
    """Count ``expected`` outputs; time them (and the runner's CPU) from the first on.

    Start-up (imports, joining the group, loading the model) comes before the first
    output and is left out: what remains is the sustained rate on a backlog. The
    runner's RSS is taken when the count passes each of ``rss_at``.
    """
    seen = counted = 0
    start = last = start_cpu = last_cpu = 0.0
    rss: dict[int, float] = {}
    marks = sorted(rss_at)
    deadline = time.monotonic() + timeout
    while seen < expected:
        if time.monotonic() > deadline or not alive(pid):
            raise RuntimeError(f"only {seen:,} of {expected:,} outputs arrived")
        batch = reader.poll(0.5)
        if not batch:
            continue
        if not start:
            start, start_cpu = time.monotonic(), cpu_seconds(pid)
        else:
            counted += len(batch)
            last, last_cpu = time.monotonic(), cpu_seconds(pid)
        seen += len(batch)
        while marks and seen >= marks[0]:
            rss[marks.pop(0)] = rss_mib(pid)
    return Throughput(counted, max(last - start, 1e-6), last_cpu - start_cpu, rss)


@dataclass
class Latency:
    offered: int
    sent: int
    received: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    first_version_at: float | None = None  # monotonic time of the first output of a version


def paced(settings: Settings, topic: str, reader: Reader, events: Events, first: int, *,
          rate: int, seconds: float, drain_seconds: float = 20.0,
          watch_version: int | None = None) -> Latency:
    """Send ``rate`` events/s for ``seconds`` and time each output from its event's send.

    One loop sends what is due and reads what came out (at most 1 ms apart), so both
    times come from the same monotonic clock. Outputs that have not arrived
    ``drain_seconds`` after the last send count as lost to overload.
    """
    # Not idempotent: here librdkafka's idempotent producer answered 1% of sends
    # ~500 ms late at 1,000 events/s (9-25 ms without), which would drown every
    # row's own latency. Each event is sent once either way.
    producer = make_producer(settings, **{"linger.ms": 0, "enable.idempotence": False})
    total = int(rate * seconds)
    sent_at = np.full(total, np.nan)
    latency = np.full(total, np.nan)
    version_seen: float | None = None
    began = time.monotonic()
    sent = received = 0
    drain_until = began + seconds + drain_seconds
    while received < total and time.monotonic() < drain_until:
        now = time.monotonic()
        due = min(total, int((now - began) * rate) + 1)
        if sent < due:
            ts = now_text()
            for seq in range(sent, due):
                key, value = events.message(first + seq, ts)
                producer.produce(topic, value=value, key=key)
                sent_at[seq] = time.monotonic()
            sent = due
        producer.poll(0)
        outputs = reader.poll(0.001, decode=True)
        if outputs:
            arrived = time.monotonic()
            for out in outputs:
                seq = sequence(out.event_id) - first
                if 0 <= seq < total and np.isnan(latency[seq]):
                    latency[seq] = arrived - sent_at[seq]
                    received += 1
                if watch_version is not None and version_seen is None \
                        and out.version == watch_version:
                    version_seen = arrived
    producer.flush(10)
    done = latency[~np.isnan(latency)] * 1000
    p50, p99, top = (np.percentile(done, [50, 99, 100]).tolist() if len(done)
                     else (np.nan, np.nan, np.nan))
    return Latency(rate, sent, received, p50, p99, top, version_seen)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def machine_ticks() -> tuple[int, int]:
    """The machine's busy and total CPU ticks so far, all cores (``/proc/stat``)."""
    return ticks_of(Path("/proc/stat").read_text())


def ticks_of(stat: str) -> tuple[int, int]:
    """Busy and total ticks from the text of ``/proc/stat``: idle and waiting on I/O are
    not busy; guest time is already counted in user time.

    >>> ticks_of("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n")
    (150, 1000)
    """
    fields = [int(v) for v in stat.split("\n", 1)[0].split()[1:9]]
    total = sum(fields)
    return total - fields[3] - fields[4], total


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of the machine's CPU (all cores) busy between two :func:`machine_ticks`.

    >>> busy_share((150, 1000), (450, 1400))
    0.75
    """
    total = after[1] - before[1]
    return (after[0] - before[0]) / total if total > 0 else float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _status(pid: int, name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib(pid: int) -> float:
    return _status(pid, "VmRSS:")


def peak_rss_mib(pid: int) -> float:
    return _status(pid, "VmHWM:")
