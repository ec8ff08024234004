"""The monitor's memory over a long stream: RSS after 200,000 and after 1,000,000 events.

Feeds the pure monitor (:class:`monitor.pipeline.MonitorPipeline`, decoding included)
with simulated traffic as raw records: per event, 1,500 events later, its labeled event
(scored by a model trained on simulated history); and the feature and prediction
summaries the processor writes of its batches (or, with ``--source records``, each
``user-events`` message and prediction). Records are made chunk by chunk, so only the
monitor's state stays. Prints the RSS at both points beside the target (growth within 10%) and the
monitor's CPU time per event (the suite, ``python -m benchmarks``, sets it beside the
processor's, measured in the same run, against its target of a tenth).

    python -m benchmarks monitor_memory [--events N] [--first N] [--json PATH]
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import time
from collections import deque
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from benchmarks.services import LATENCY, batch_summaries
from contracts.batch_runtime import GC_THRESHOLDS
from contracts.feature_summary import Summariser
from contracts.kafka_clients import KafkaRecord
from contracts.records import LabeledEvent, ModelVersion, Prediction
from contracts.settings import MONITOR_SOURCES
from contracts.topics import Topics
from monitor.config import load_config
from monitor.pipeline import MonitorPipeline
from producers.simulator import SimulatedEvent, Simulator
from scorer.artifact import sign_bundle
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.publishing import deployment_key, deployment_record, model_version_record, version_key
from scorer.signing import Signer
from scorer.training import train
from stream_processors.labeled_outcomes import Outcomes, encode_outcomes

TARGET_GROWTH = 0.10
LABEL_DELAY_EVENTS = 1_500
CHUNK = 5_000
BATCH = 2_000
ENCODE = msgspec.json.encode
LABELED = msgspec.json.Decoder(LabeledEvent)


def rss_mib() -> float:
    """Resident set size now (Linux /proc), else the peak from getrusage."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def model() -> ModelBundle:
    history = Simulator(seed=1).events(3_000)
    rows = [TrainingRow(dict(i.event.features), i.label, i.event.ts) for i in history]
    bundle, _ = train(rows, model="conversion", version=1)
    return bundle


def batches(bundle: ModelBundle, n: int, topics: Topics,
            summariser: Summariser | None) -> Iterator[list[KafkaRecord]]:
    """Raw records of ``n`` simulated events, a chunk at a time, labels delayed."""
    start = datetime.now(UTC) - timedelta(seconds=n / 5 + 600)
    items = Simulator(seed=11, start=start).events(n)
    waiting: deque[bytes] = deque()
    offset = 0
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield list(records_of(bundle, chunk, waiting, topics, offset, summariser))
            offset += CHUNK
            chunk = []
    if chunk:
        yield list(records_of(bundle, chunk, waiting, topics, offset, summariser))


def records_of(bundle: ModelBundle, chunk: list[SimulatedEvent], waiting: deque[bytes],
             topics: Topics, offset: int,
             summariser: Summariser | None = None) -> Iterator[KafkaRecord]:
    """Per event of ``chunk``: its prediction and the labeled event of the event
    ``LABEL_DELAY_EVENTS`` before it; then the chunk's feature summaries as the
    processor folds one batch, and its labeled events as the joiner's outcomes, or,
    without a ``summariser``, each event's message and each labeled event."""
    scores, decisions = bundle.score_batch([i.event.features for i in chunk])
    labeled: list[bytes] = []
    for k, (item, score, decision) in enumerate(zip(chunk, scores.tolist(), decisions.tolist(),
                                                    strict=True)):
        e = item.event
        if summariser is None:
            yield KafkaRecord(topics.user_events, 0, offset + k, None, ENCODE(e), 0)
            yield KafkaRecord(topics.predictions, 0, offset + k, None, ENCODE(Prediction(
                event_id=e.event_id, user_id=e.user_id, ts=e.ts, model="conversion", version=1,
                route="champion", score=score, decision=decision,
                scored_at=e.ts + timedelta(seconds=LATENCY))), 0)
        # Held encoded, as a broker holds them: objects held here would be walked by
        # every garbage collection the monitor's work sets off, and charged to it.
        waiting.append(ENCODE(LabeledEvent(event_id=e.event_id, user_id=e.user_id,
                                           features=e.features, label=item.label, score=score,
                                           version=1, ts=e.ts)))
        if len(waiting) > LABEL_DELAY_EVENTS:
            due = waiting.popleft()
            if summariser is None:
                yield KafkaRecord(topics.labeled_events, 0, offset + k, None, due, 0)
            else:
                labeled.append(due)
    if summariser is not None:
        first = offset - LABEL_DELAY_EVENTS + len(chunk) - len(labeled)
        for n, (_, value, _) in enumerate(encode_outcomes(
                0, Outcomes.of(LABELED.decode(v) for v in labeled),
                range(first, first + len(labeled)))):
            yield KafkaRecord(topics.labeled_outcomes, 0, offset + n, None, value, 0)
        features, predicted = batch_summaries(summariser, [i.event for i in chunk], scores,
                                              decisions, [0] * len(chunk), lambda i: offset + i)
        for topic, summaries in ((topics.feature_summaries, features),
                                 (topics.prediction_summaries, predicted)):
            for n, summary in enumerate(summaries):
                yield KafkaRecord(topic, 0, offset + n, None, ENCODE(summary), 0)


def version_of(bundle: ModelBundle) -> ModelVersion:
    """``bundle`` as the signed ``model-versions`` record of version 1."""
    return model_version_record(sign_bundle(bundle, Signer.generate()))


def pipeline_for(bundle: ModelBundle, topics: Topics) -> MonitorPipeline:
    """The pure monitor with the default rules, serving ``bundle`` as version 1."""
    pipeline = MonitorPipeline(load_config(), model="conversion", topics=topics)
    pipeline.apply_registry(version_key("conversion", 1), ENCODE(version_of(bundle)))
    pipeline.apply_registry(deployment_key("conversion"), ENCODE(deployment_record(
        "conversion", 1, decided_by="benchmark", reason="benchmark")))
    return pipeline


def summariser_for(bundle: ModelBundle, source: str) -> Summariser | None:
    """What the processor folds its batches with, for ``source`` ``summaries``."""
    return Summariser.of(version_of(bundle)) if source == "summaries" else None


def run(n: int, first: int, source: str) -> dict[str, Any]:
    bundle = model()
    topics = Topics()
    pipeline = pipeline_for(bundle, topics)
    summariser = summariser_for(bundle, source)
    seen, cpu, at_first = 0, 0.0, 0.0
    alerts: list[str] = []
    began = time.perf_counter()
    for chunk in batches(bundle, n, topics, summariser):
        for lo in range(0, len(chunk), BATCH):  # the service's batches of consumed records
            t0 = time.thread_time()
            for alert in pipeline.process(chunk[lo:lo + BATCH]):
                alerts.append(f"{alert.status} {alert.metric} v{alert.version}")
            cpu += time.thread_time() - t0
        seen += CHUNK
        if seen == first:
            gc.collect()
            at_first = rss_mib()
    gc.collect()
    at_end = rss_mib()
    return {"events": n, "first": first, "rss_first_mib": at_first, "rss_end_mib": at_end,
            "growth": at_end / at_first - 1.0, "monitor_us_per_event": cpu / n * 1e6,
            "alerts": len(alerts), "alert_list": alerts, "seconds": time.perf_counter() - began}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks monitor_memory",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--first", type=int, default=200_000,
                        help="where the first RSS is taken (a multiple of 5,000)")
    parser.add_argument("--source", choices=MONITOR_SOURCES, default="summaries",
                        help="what the monitor reads of the processor's work "
                             "(STREAMML_MONITOR_SOURCE)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    # The service's collector settings. Under Python's defaults a full collection, which
    # walks every object alive (the records made here too), came every few batches, and
    # whether one fell in a measured call or in making records moved the figure by a
    # tenth from one build to the next.
    gc.set_threshold(*GC_THRESHOLDS)
    r = run(args.events, args.first, args.source)
    growth_ok = r["growth"] <= TARGET_GROWTH
    print(f"{'':28}{'measured':>12}{'target':>12}")
    for label, value in ((f"RSS at {args.first:,} events", r["rss_first_mib"]),
                         (f"RSS at {args.events:,} events", r["rss_end_mib"])):
        print(f"{label:28}{value:>9.1f} MiB")
    print(f"{'growth':28}{r['growth']:>11.1%} {'<= 10%':>11}  {'ok' if growth_ok else 'OVER'}")
    print(f"{'monitor CPU per event':28}{r['monitor_us_per_event']:>9.2f} us")
    print(f"(per event: its labeled event and {args.source}; {r['seconds']:.0f} s in "
          f"all; alert changes: {r['alert_list'] or 'none'})")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2))
    return 0 if growth_ok else 1


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
