"""Sustained events/s of one scoring worker, beside the naive per-event baseline.

Both runners meet the same simulated events, the same model and the same broker:
a backlog of events is produced first, then the runner starts and we time the
predictions it writes, from the first to the last. CPU seconds and peak RSS are
read from /proc for the runner's process.

    python -m benchmarks scoring_throughput [--events N] [--naive-events N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from contracts.kafka_clients import common_config, make_admin
from contracts.settings import Secret, Settings
from contracts.topic_admin import ensure_topics
from contracts.topics import Topics
from producers.sdk import EventProducer
from producers.simulator import Simulator
from scorer.artifact import sign_bundle
from scorer.datasets import TrainingRow
from scorer.publishing import publish_as_champion
from scorer.training import train
from streamml import local_broker

KEY = "benchmark-signing-key"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Figures:
    runner: str
    events: int
    events_per_second: float
    cpu_seconds_per_100k: float
    peak_rss_mib: float


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks scoring_throughput")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--naive-events", type=int, default=3_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    with broker() as bootstrap:
        base = Settings(bootstrap_servers=bootstrap, model_signing_key=Secret(KEY))
        bundle, _ = train(training_rows(), model="conversion")
        signed = sign_bundle(bundle, KEY.encode())
        rows = [
            measure(base, "kafka-ceiling", args.events, signed),
            measure(base, "streamml", args.events, signed),
            measure(base, "streamml-kafka", args.events, signed),
            measure(base, "naive", args.naive_events, signed),
        ]
    print(f"{'runner':<16}{'events':>9}{'events/s':>12}{'CPU s/100k':>12}{'peak RSS MiB':>14}")
    for r in rows:
        print(f"{r.runner:<16}{r.events:>9,}{r.events_per_second:>12,.0f}"
              f"{r.cpu_seconds_per_100k:>12.1f}{r.peak_rss_mib:>14.0f}")
    rate = {r.runner: r.events_per_second for r in rows}
    ratios = {"streamml / naive": rate["streamml"] / rate["naive"],
              "streamml / kafka-ceiling": rate["streamml"] / rate["kafka-ceiling"],
              "streamml-kafka / naive": rate["streamml-kafka"] / rate["naive"],
              "streamml-kafka / kafka-ceiling": rate["streamml-kafka"] / rate["kafka-ceiling"]}
    for name, value in ratios.items():
        print(f"{name}: {value:.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"rows": [asdict(r) for r in rows], "ratios": ratios},
                                        indent=2))
    return 0


@contextmanager
def broker() -> Iterator[str]:
    """KAFKA_BOOTSTRAP_SERVERS when set, else a local broker for the run."""
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    data_dir = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
    try:
        yield local_broker.start(local_broker.free_port(), data_dir).bootstrap
    finally:
        local_broker.stop(data_dir)


def training_rows() -> list[TrainingRow]:
    history = Simulator(seed=1, start=datetime(2026, 1, 1, tzinfo=UTC)).events(20_000)
    return [TrainingRow(i.event.features, i.label, i.event.ts) for i in history]


def measure(base: Settings, runner: str, events: int, signed: object) -> Figures:
    tag = uuid.uuid4().hex[:8]
    settings = base.with_overrides(topic_prefix=f"bench{tag}.", group_prefix=f"bench{tag}")
    topics = Topics(settings.topic_prefix)
    ensure_topics(make_admin(settings), topics.specs(partitions=3, replication_factor=1))
    simulator = Simulator(seed=2, start=datetime.now(UTC), id_prefix=f"b{tag}")
    with EventProducer(settings) as producer:
        for item in simulator.events(events):
            producer.send_record(item.event)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "STREAMML_TOPIC_PREFIX": settings.topic_prefix,
           "STREAMML_GROUP_PREFIX": settings.group_prefix,
           "STREAMML_MODEL_SIGNING_KEY": KEY, "STREAMML_LOG_LEVEL": "WARNING",
           "STREAMML_SCORING_PORT": str(local_broker.free_port())}
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-{runner}-"))
    if runner.startswith("streamml"):
        publish_as_champion(settings, signed, decided_by="benchmark", reason="benchmark")  # type: ignore[arg-type]
        command = [sys.executable, "-m", "streamml", "process", "--data-dir", str(workdir),
                   "--runner", "kafka" if runner == "streamml-kafka" else "faust"]
    elif runner == "kafka-ceiling":
        command = [sys.executable, "-m", "benchmarks.kafka_ceiling"]
    else:
        artifact = workdir / "model.skops.zip"
        artifact.write_bytes(signed.data)  # type: ignore[attr-defined]
        command = [sys.executable, "-m", "benchmarks.naive_agent", str(artifact), KEY]
    with (workdir / "runner.log").open("wb") as log:
        child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    try:
        counted, seconds, cpu = time_predictions(settings, topics.predictions, events, child.pid)
        rss = peak_rss_mib(child.pid)
    finally:
        child.terminate()
        child.wait(30)
    return Figures(runner, events, counted / seconds, cpu / counted * 100_000, rss)


def time_predictions(settings: Settings, topic: str, expected: int, pid: int,
                     timeout: float = 600.0) -> tuple[int, float, float]:
    """(predictions counted, wall seconds, runner CPU seconds) from the first prediction on.

    Start-up (imports, joining the group, loading the model) happens before the first
    prediction and is left out: what remains is the sustained rate on a backlog.
    """
    consumer = Consumer({**common_config(settings), "group.id": "bench-reader"})
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    seen = counted = 0
    start = last = start_cpu = last_cpu = 0.0
    deadline = time.monotonic() + timeout
    try:
        while seen < expected and time.monotonic() < deadline:
            batch = [m for m in consumer.consume(1000, 0.5) if not m.error()]
            if not batch:
                continue
            if not start:
                start, start_cpu = time.monotonic(), cpu_seconds(pid)
            else:
                counted += len(batch)
                last, last_cpu = time.monotonic(), cpu_seconds(pid)
            seen += len(batch)
    finally:
        consumer.close()
    if seen < expected:
        raise RuntimeError(f"only {seen} of {expected} predictions arrived")
    return counted, max(last - start, 1e-6), last_cpu - start_cpu


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024

