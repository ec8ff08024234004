"""The rest of the pipeline on a backlog: the label joiner and the monitor as the CLI
runs them, retraining on labeled rows, and the monitor's memory over a long stream.

The joiner gets ``user-events``, ``predictions`` and ``labels`` of simulated traffic
(every event labeled), keyed with murmur2 as the SDK sends it, and again keyed with
CRC32 as librdkafka-based clients send it at their defaults, which makes the joiner
forward most records to murmur2's partition first; the monitor then reads the
joiner's ``labeled-outcomes`` beside the processor's summaries, replaying their tails
like after a restart.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from numpy.typing import NDArray

from benchmarks import runners, workload
from benchmarks.report import MemoryFigures, ServiceFigures
from contracts.feature_summary import Summariser, runs_of, summarise
from contracts.kafka_clients import make_consumer, make_producer
from contracts.prediction_summary import summarise_predictions
from contracts.records import FeatureSummary, Prediction, PredictionSummary, UserEvent
from contracts.reference_stats import Reference
from contracts.settings import Settings
from contracts.topics import Topics
from monitor import service as monitor_service
from producers.simulator import Simulator
from scorer.artifact import SignedArtifact
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.publishing import publish_as_champion
from scorer.training import train
from stream_processors.repartition import murmur2

ENCODE = msgspec.json.encode
LATENCY = 0.04  # seconds from event time to a prediction, in the traffic made here
MONITOR_RUNS = 3  # replays of the monitor's backlog, each by a monitor started anew
Floats = NDArray[np.float64]


def produce_labeled_traffic(settings: Settings, topics: Topics, bundle: ModelBundle,
                            n: int, *, partitioner: str = "murmur2_random") -> None:
    """``n`` events with their predictions (scored by ``bundle``) and labels, keyed by
    user with librdkafka's ``partitioner`` (a prediction lands in its event's partition,
    as the processor writes it); keyed by murmur2, also the feature and prediction
    summaries the processor writes."""
    start = datetime.now(UTC) - timedelta(seconds=n / 5 + 900)
    items = list(Simulator(seed=21, start=start, id_prefix="j").events(n))
    scores, decisions = bundle.score_batch([i.event.features for i in items])
    producer = make_producer(settings, **{"linger.ms": 20, "queue.buffering.max.messages":
                                          1_000_000, "partitioner": partitioner})
    for item, score, decision in zip(items, scores.tolist(), decisions.tolist(), strict=True):
        e = item.event
        key = e.user_id.encode()
        producer.produce(topics.user_events, key=key, value=ENCODE(e))
        producer.produce(topics.predictions, key=key, value=ENCODE(Prediction(
            event_id=e.event_id, user_id=e.user_id, ts=e.ts, model=bundle.model,
            version=bundle.version, route="champion", score=score, decision=decision,
            scored_at=e.ts + timedelta(seconds=LATENCY))))
        producer.produce(topics.labels, key=key, value=ENCODE(item.label_record()))
        producer.poll(0)
    if partitioner == "murmur2_random":
        features, predicted = processor_summaries(bundle, [i.event for i in items], scores,
                                                  decisions, settings.partitions)
        for topic, summaries in ((topics.feature_summaries, features),
                                 (topics.prediction_summaries, predicted)):
            for summary in summaries:
                producer.produce(topic, key=summary.model.encode(), value=ENCODE(summary),
                                 partition=summary.partition)
                producer.poll(0)
    if producer.flush(120) > 0:
        raise RuntimeError("the joiner's backlog did not reach the broker")


def processor_summaries(bundle: ModelBundle, events: list[UserEvent], scores: Floats,
                        decisions: NDArray[np.int64], partitions: int) \
        -> tuple[list[FeatureSummary], list[PredictionSummary]]:
    """What the processor writes on ``feature-summaries`` and ``prediction-summaries`` of
    ``events`` (scored ``scores``) in its batches of 2,000, each event in the partition
    murmur2 gives its key (and at the next offset)."""
    summariser = Summariser(bundle.model, bundle.version,
                            Reference.from_json(bundle.reference.to_json()))
    where = [murmur2(e.user_id.encode()) % partitions for e in events]
    taken: Counter[int] = Counter()
    offsets = []
    for partition in where:
        offsets.append(taken[partition])
        taken[partition] += 1
    features: list[FeatureSummary] = []
    predicted: list[PredictionSummary] = []
    for lo in range(0, len(events), 2000):
        part = slice(lo, lo + 2000)
        f, p = batch_summaries(summariser, events[part], scores[part], decisions[part],
                               where[part], offsets[part].__getitem__)
        features += f
        predicted += p
    return features, predicted


def batch_summaries(summariser: Summariser, events: list[UserEvent], scores: Floats,
                    decisions: NDArray[np.int64], partitions: list[int],
                    offset_of: Callable[[int], int]) \
        -> tuple[list[FeatureSummary], list[PredictionSummary]]:
    """The processor's summaries of one batch: of its events' features, and of their
    predictions on the champion route, made ``LATENCY`` after event time."""
    ts = np.array([e.ts.timestamp() for e in events])
    layout = runs_of(partitions, offset_of)
    return (summarise([e.features for e in events], ts.tolist(), layout, [summariser]),
            summarise_predictions(
                model=summariser.model, version=summariser.version, route="champion",
                scores=scores, decisions=decisions, ts=ts, latency=np.full(ts.size, LATENCY),
                layout=layout, reference_scores=summariser.reference_scores))


def joiner(settings: Settings, topics: Topics, n: int) -> ServiceFigures:
    """``streamml join`` on the backlog: labeled events out per second, CPU per event."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-joiner-"))
    child = runners.start([sys.executable, "-m", "streamml", "join"], settings, workdir)
    reader = workload.Reader(settings, topics.labeled_events)
    try:
        result = workload.time_backlog(reader, n, child.pid)
    finally:
        reader.close()
        runners.stop(child)
    return ServiceFigures(n, result.events / result.seconds,
                          result.cpu_seconds / result.events * 1e6)


def monitor(settings: Settings, signed: SignedArtifact, n: int, *, runs: int = MONITOR_RUNS,
            timeout: float = 600.0) -> ServiceFigures:
    """``streamml monitor`` replaying a backlog of ``n`` events (each: event, prediction,
    labeled event, counted from their summaries or records) ``runs`` times, each from the
    first answer that says it consumes (its start done) to the end of its replay: the
    figures of the median run, with the spread of its CPU an event.

    The whole replay is timed, since the summary topics are few records for many events
    and come first: no later stretch of it is a fair sample. A replay of 50,000 events
    takes a fifth of a second of CPU, some twenty of the kernel's 10 ms ticks, so one
    replay alone moves with where a tick or a collection falls."""
    publish_as_champion(settings, signed, decided_by="benchmark", reason="benchmark")
    replays = sorted((_replay(settings, n, timeout) for _ in range(runs)),
                     key=lambda f: f.cpu_us_per_event)
    median = replays[len(replays) // 2]
    if runs > 1:
        median.cpu_spread = (replays[0].cpu_us_per_event, replays[-1].cpu_us_per_event)
    return median


def _replay(settings: Settings, n: int, timeout: float) -> ServiceFigures:
    """One monitor's replay of the tails. Polls are 10 ms apart until it consumes, and
    250 ms after, as each costs it a thread and an HTTP answer."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    port = int(runners.environment(settings)["STREAMML_MONITOR_PORT"])
    child = runners.start([sys.executable, "-m", "streamml", "monitor"], settings, workdir,
                          {"STREAMML_MONITOR_TAIL_RECORDS": str(n),
                           "STREAMML_MONITOR_PORT": str(port)})
    began: tuple[float, float] | None = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and child.poll() is None:
            health = _health(port)
            if health is not None and health.get("consuming"):
                if began is None:
                    began = time.monotonic(), workload.cpu_seconds(child.pid)
                    machine = workload.machine_ticks()
                if health.get("status") == "ok":
                    counted = int(health.get("records", 0)) / 3  # type: ignore[call-overload]
                    seconds = time.monotonic() - began[0]
                    cpu = workload.cpu_seconds(child.pid) - began[1]
                    return ServiceFigures(n, counted / seconds, cpu / counted * 1e6,
                                          note="records/3 per event",
                                          machine_busy=workload.busy_share(
                                              machine, workload.machine_ticks()))
            time.sleep(0.01 if began is None else 0.25)
    finally:
        runners.stop(child)
    raise RuntimeError(f"the monitor did not finish replaying {n:,} events; see {workdir}")


def consumer_floor(settings: Settings, topics: Topics, n: int) -> ServiceFigures:
    """A bare consumer reading what the monitor reads (the feature and prediction
    summaries and the outcomes of ``n`` events) with the monitor's consumer settings and
    batches, decoding nothing: the CPU any monitor in Python pays before its first
    figure."""
    consumer = make_consumer(settings, "benchmark-floor")
    try:
        names = (topics.feature_summaries, topics.prediction_summaries, topics.labeled_outcomes)
        starts = [TopicPartition(t, p, OFFSET_BEGINNING)
                  for t in names for p in monitor_service.partitions(consumer, t)]
        total = sum(consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in starts)
        consumer.assign(starts)
        seen = 0
        began, cpu = time.monotonic(), time.process_time()
        while seen < total and time.monotonic() - began < 600:
            seen += len(consumer.consume(monitor_service.BATCH, timeout=1.0))
        seconds, cpu = time.monotonic() - began, time.process_time() - cpu
    finally:
        consumer.close()
    return ServiceFigures(n, n / seconds, cpu / n * 1e6)


def _health(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:  # noqa: S310
            body: dict[str, object] = json.loads(reply.read())
            return body
    except OSError:
        return None


def retraining(n: int) -> float:
    """Seconds :func:`scorer.training.train` takes on ``n`` simulated labeled rows."""
    rows = [TrainingRow(i.event.features, i.label, i.event.ts)
            for i in Simulator(seed=31).events(n)]
    began = time.perf_counter()
    train(rows, model="conversion")
    return time.perf_counter() - began


def monitor_memory(n: int, first: int) -> tuple[MemoryFigures, float]:
    """RSS of the monitor's pipeline after ``first`` and ``n`` events, in a process of its
    own (``benchmarks.monitor_memory``), and its CPU µs per event there."""
    out = Path(tempfile.mkdtemp(prefix="bench-monitor-memory-")) / "figures.json"
    subprocess.run([sys.executable, "-m", "benchmarks", "monitor_memory",  # noqa: S603
                    "--events", str(n), "--first", str(first), "--json", str(out)],
                   check=False, stdout=subprocess.DEVNULL)
    r = json.loads(out.read_text())
    return (MemoryFigures(first, n, r["rss_first_mib"], r["rss_end_mib"]),
            r["monitor_us_per_event"])
