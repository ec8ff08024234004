"""Scoring workers the fault tests kill and restart by the pid they started, probes, and a
paced stream of events."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from contracts.kafka_clients import common_config
from contracts.settings import Settings
from producers.sdk import EventProducer
from producers.simulator import Simulator
from streamml.broker.single_node import free_port
from tests.integration.processes import Child, http_get, settings_env, wait_for_health


class Worker:
    """One ``streamml process`` worker; :meth:`kill` sends SIGKILL to the pid it started."""

    def __init__(self, settings: Settings, directory: Path, name: str, **env: str) -> None:
        self.port = free_port()
        self.env = settings_env(settings, STREAMML_SCORING_PORT=str(self.port), **env)
        self.data_dir = directory / name
        self.log = directory / f"{name}.log"
        self.child: Child | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.child is not None  # noqa: S101 - started first
        return self.child.pid

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "streamml", "process", "--data-dir", str(self.data_dir)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.child = Child(process, self.log)
        self.starts += 1
        return self

    def wait_healthy(self, timeout: float = 60.0) -> dict[str, object]:
        assert self.child is not None  # noqa: S101 - started first
        return wait_for_health(self.child, self.port, timeout)

    def kill(self) -> None:
        """kill -9 of the pid this worker started; no chance to commit or flush."""
        assert self.child is not None  # noqa: S101 - started first
        os.kill(self.child.pid, signal.SIGKILL)
        self.child.process.wait(10)

    def stop(self) -> int | None:
        """SIGTERM to the pid this worker started; its exit status (-9: it had to be killed)."""
        return self.child.stop() if self.child is not None else None

    def alive(self) -> bool:
        return self.child is not None and self.child.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def partitions(self) -> list[int]:
        _, body = http_get(f"http://127.0.0.1:{self.port}/health", timeout=2.0)
        return list(json.loads(body)["partitions"])


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from ``/proc``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class GroupOffsets:
    """Committed offsets and log ends of one consumer group on one topic."""

    def __init__(self, settings: Settings, group: str, topic: str) -> None:
        self.topic = topic
        self._consumer = Consumer({**common_config(settings), "group.id": group,
                                   "enable.auto.commit": False})
        n = len(self._consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        self.partitions = [TopicPartition(topic, p) for p in range(n)]

    def committed(self) -> dict[int, int]:
        """Committed offset per partition; 0 where nothing is committed yet."""
        return {tp.partition: max(tp.offset, 0)
                for tp in self._consumer.committed(self.partitions, timeout=10)}

    def ends(self) -> dict[int, int]:
        return {tp.partition: self._consumer.get_watermark_offsets(tp, timeout=10)[1]
                for tp in self.partitions}

    def close(self) -> None:
        self._consumer.close()


def wait_until(condition: Callable[[], object], timeout: float, what: str,
               step: float = 0.2) -> float:
    """Seconds until ``condition()`` holds; an AssertionError naming ``what`` after timeout."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if condition():
            return time.monotonic() - began
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout:.0f} s")


def paced_stream(settings: Settings, n: int, rate: int, failures: list[BaseException]) \
        -> threading.Thread:
    """Send ``n`` simulated events at ``rate`` per second from a background thread."""
    items = Simulator(seed=11, start=datetime.now(UTC), id_prefix="k", n_users=5000,
                      events_per_second=rate).events(n)

    def run() -> None:
        try:
            began = time.monotonic()
            with EventProducer(settings) as producer:
                for i, item in enumerate(items):
                    producer.send_record(item.event)
                    if i % 200 == 199:
                        ahead = (i + 1) / rate - (time.monotonic() - began)
                        if ahead > 0:
                            time.sleep(ahead)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            failures.append(exc)

    thread = threading.Thread(target=run, name="paced-stream", daemon=True)
    thread.start()
    return thread
