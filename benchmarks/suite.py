"""Every row side by side on the same events, model and broker, then the rest of the
pipeline, and the performance targets as ratios within the run: ``python -m benchmarks``.

Rows: ``kafka-ceiling`` (bare confluent-kafka consume → decode → produce, no model),
``faust-ceiling`` (a faust agent forwarding raw bytes), ``naive`` (a faust agent
calling ``Pipeline.predict_proba`` per event) and the scoring processor on both
runners, ``streamml-faust`` and ``streamml-kafka``, and the latter writing no feature
summaries (``streamml-kafka-no-summaries``) and explaining each prediction
(``streamml-kafka-explain3``). Each row gets its own topics and a
pre-produced backlog (sustained events/s, CPU, peak RSS), then a paced load at
1,000 and 5,000 events/s (latency from send to output received, on one clock).

    python -m benchmarks [--quick] [--json PATH] [--rows a,b] [--skip part,...]
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import report, runners, services, workload
from benchmarks.imported_models import imported_artifacts
from benchmarks.report import Figures, LatencyFigures, MemoryFigures, RowFigures
from contracts.kafka_clients import make_admin
from contracts.settings import Secret, Settings
from contracts.topics import Topics
from producers.simulator import Simulator
from scorer.artifact import SignedArtifact, sign_bundle
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.publishing import publish_as_champion
from scorer.signing import Signer
from scorer.training import train

PARTS = ("hot-swap", "retrain", "joiner", "monitor", "memory")
OVERLOAD_MARGIN = 1.2  # a row is offered a paced load only below 1/1.2 of its capacity


@dataclass(frozen=True)
class Sizes:
    events: int  # backlog per row
    default_events: int  # backlog of the default runner (its RSS is read at memory_first)
    naive_events: int
    latency_seconds: float
    memory_first: int
    joiner_events: int
    retrain_rows: int
    monitor_events: int

    @classmethod
    def full(cls) -> Sizes:
        return cls(200_000, 1_000_000, 3_000, 10.0, 200_000, 50_000, 100_000, 1_000_000)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(50_000, 200_000, 1_000, 4.0, 40_000, 10_000, 20_000, 200_000)


@dataclass
class Context:
    base: Settings
    events: workload.Events
    bundle: ModelBundle
    v1: SignedArtifact
    v2: SignedArtifact
    sizes: Sizes
    default_runner: str
    imported: dict[str, SignedArtifact] = field(default_factory=dict)  # by runners.IMPORTED

    def served(self, row: str) -> SignedArtifact:
        """The artifact a scoring row serves: v1, or the row's imported model."""
        kind = runners.IMPORTED.get(row)
        return self.v1 if kind is None else self.imported[kind]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="smaller backlogs and shorter phases (~2 min instead of ~5; "
                             "fewer than the 200,000 events per row the targets ask for)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument("--rows", default=",".join(runners.ROWS),
                        help=f"rows to run (default: all of {', '.join(runners.ROWS)})")
    parser.add_argument("--skip", default="", help=f"parts to leave out: {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    rows = [r for r in args.rows.split(",") if r]
    skip = {p for p in args.skip.split(",") if p}
    unknown = [r for r in rows if r not in runners.ROWS] + [p for p in skip if p not in PARTS]
    if unknown:
        parser.error(f"unknown rows or parts: {', '.join(unknown)}")
    sizes = Sizes.quick() if args.quick else Sizes.full()
    began = time.monotonic()
    load_before = os.getloadavg()
    with workload.broker() as bootstrap:
        figures = run(bootstrap, rows, skip, sizes)
    figures.command = "python -m benchmarks " + " ".join(argv)
    figures.notes.append(
        f"load average {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after "
        f"(other work on the machine shares its {os.cpu_count()} cores); "
        f"{(time.monotonic() - began) / 60:.1f} min in all")
    print(report.table(figures), flush=True)
    if args.json:
        report.write_json(figures, args.json)
    return 0


def run(bootstrap: str, rows: list[str], skip: set[str], sizes: Sizes) -> Figures:
    base = Settings(bootstrap_servers=bootstrap, model_private_key=Secret(runners.KEY))
    default_runner = base.scoring_runner
    bundle = model()
    key = Signer.from_raw(base64.b64decode(runners.KEY))
    ctx = Context(base, workload.Events.simulate(min(sizes.default_events, 200_000)), bundle,
                  sign_bundle(bundle, key), sign_bundle(bundle.with_version(2), key), sizes,
                  default_runner)
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    figures = Figures(machine=machine(), command="",
                      broker=f"KAFKA_BOOTSTRAP_SERVERS={given}" if given
                      else "a local Apache Kafka (KRaft, one node) started for the run",
                      default_runner=default_runner)
    if set(rows) & set(runners.IMPORTED):
        progress("importing the rows' scikit-learn pipeline from skops and from ONNX")
        ctx.imported = imported_artifacts(history(), runners.KEY)
    warm_up(ctx)
    for row in rows:
        progress(f"row {row}")
        figures.rows.append(run_row(ctx, row, figures, measure_swap="hot-swap" not in skip))
    if "retrain" not in skip:
        progress("retraining")
        figures.retrain_rows = sizes.retrain_rows
        figures.retrain_seconds = services.retraining(sizes.retrain_rows)
    if not {"joiner", "monitor"} <= skip:
        pipeline(ctx, figures, skip)
    if "memory" not in skip:
        progress("monitor memory")
        memory, _ = services.monitor_memory(sizes.monitor_events, sizes.memory_first)
        figures.memory["monitor"] = memory
    figures.notes += notes(sizes, rows)
    return figures


def history() -> list[TrainingRow]:
    """The 20,000 simulated labeled events every model of the run is fitted on."""
    return [TrainingRow(i.event.features, i.label, i.event.ts)
            for i in Simulator(seed=1).events(20_000)]


def model() -> ModelBundle:
    """The model every row serves: logistic regression on :func:`history`."""
    bundle, _ = train(history(), model="conversion")
    return bundle


def run_row(ctx: Context, row: str, figures: Figures, *, measure_swap: bool) -> RowFigures:
    default = row == f"streamml-{ctx.default_runner}"
    # The rows without summaries and explaining are compared with the default one: as
    # many events each.
    count = (ctx.sizes.naive_events if row == "naive"
             else ctx.sizes.default_events if default or row in runners.COMPARED
             else ctx.sizes.events)
    marks = (ctx.sizes.memory_first, count) if default else ()
    settings, topics = workload.fresh_topics(ctx.base, uuid.uuid4().hex[:8])
    try:
        workload.produce_backlog(settings, topics.user_events, ctx.events, 0, count)
        if row.startswith("streamml-"):
            publish_as_champion(settings, ctx.served(row), decided_by="benchmark",
                                reason="benchmark")
        workdir = Path(tempfile.mkdtemp(prefix=f"bench-{row}-"))
        child = runners.start(runners.command(row, workdir, ctx.v1), settings, workdir,
                              runners.row_environment(row))
        reader = workload.Reader(settings, topics.predictions)
        try:
            backlog = workload.time_backlog(reader, count, child.pid, rss_at=marks)
            figures_row = RowFigures(row, count, backlog.events / backlog.seconds,
                                     backlog.cpu_seconds / backlog.events * 100_000,
                                     workload.peak_rss_mib(child.pid))
            if marks:
                figures.memory["processor"] = MemoryFigures(
                    marks[0], marks[1], backlog.rss_mib[marks[0]], backlog.rss_mib[marks[1]])
            sent = count
            for rate in report.RATES:
                if figures_row.events_per_second < OVERLOAD_MARGIN * rate:
                    figures_row.latency[rate] = None
                    continue
                progress(f"row {row}: {rate:,} events/s for {ctx.sizes.latency_seconds:g} s")
                lat = workload.paced(settings, topics.user_events, reader, ctx.events, sent,
                                     rate=rate, seconds=ctx.sizes.latency_seconds)
                sent += lat.sent
                figures_row.latency[rate] = LatencyFigures(rate, lat.p50_ms, lat.p99_ms,
                                                           lat.max_ms, lat.sent, lat.received)
            if measure_swap and row.startswith("streamml-") and row not in runners.IMPORTED:
                progress(f"row {row}: hot swap")
                figures.hot_swap_seconds[row] = hot_swap(ctx, settings, topics, reader, sent)
        finally:
            reader.close()
            runners.stop(child)
    finally:
        delete_topics(settings, topics)
    return figures_row


def warm_up(ctx: Context, n: int = 100_000) -> None:
    """Send events through the broker and read them back, so the first row does not meet
    a broker whose JVM has not compiled its hot paths yet."""
    progress("warming up the broker")
    settings, topics = workload.fresh_topics(ctx.base, uuid.uuid4().hex[:8])
    try:
        workload.produce_backlog(settings, topics.user_events, ctx.events, 0, n)
        reader = workload.Reader(settings, topics.user_events)
        try:
            workload.paced(settings, topics.user_events, reader, ctx.events, n, rate=5000,
                           seconds=3.0)
        finally:
            reader.close()
    finally:
        delete_topics(settings, topics)


def hot_swap(ctx: Context, settings: Settings, topics: Topics, reader: workload.Reader,
             first: int) -> float:
    """Seconds from starting to publish version 2 to the first prediction it made, under
    1,000 events/s."""
    started: list[float] = []

    def publish() -> None:
        started.append(time.monotonic())
        publish_as_champion(settings, ctx.v2, decided_by="benchmark", reason="hot swap")

    timer = threading.Timer(1.0, publish)
    timer.start()
    lat = workload.paced(settings, topics.user_events, reader, ctx.events, first, rate=1000,
                         seconds=6.0, watch_version=2)
    timer.join()
    if lat.first_version_at is None:
        return float("nan")
    return lat.first_version_at - started[0]


def pipeline(ctx: Context, figures: Figures, skip: set[str]) -> None:
    settings, topics = workload.fresh_topics(ctx.base, uuid.uuid4().hex[:8])
    n = ctx.sizes.joiner_events
    try:
        progress(f"joiner and monitor: {n:,} events")
        services.produce_labeled_traffic(settings, topics, ctx.bundle, n)
        figures.joiner = services.joiner(settings, topics, n)
        if "monitor" not in skip:
            figures.monitor = services.monitor(settings, ctx.v1, n)
            figures.monitor_floor = services.consumer_floor(settings, topics, n)
    finally:
        delete_topics(settings, topics)
    if "joiner" in skip:
        return
    settings, topics = workload.fresh_topics(ctx.base, uuid.uuid4().hex[:8])
    try:
        progress(f"joiner: {n:,} events keyed with CRC32")
        services.produce_labeled_traffic(settings, topics, ctx.bundle, n,
                                         partitioner="consistent_random")
        figures.joiner_crc32 = services.joiner(settings, topics, n)
    finally:
        delete_topics(settings, topics)


def delete_topics(settings: Settings, topics: Topics) -> None:
    names = [spec.name for spec in topics.specs(partitions=1, replication_factor=1)]
    for future in make_admin(settings).delete_topics(names, operation_timeout=30).values():
        try:
            future.result()
        except Exception:  # noqa: BLE001, S110 - a leftover topic is harmless
            pass


def notes(sizes: Sizes, rows: list[str]) -> list[str]:
    out = [
        "events/s: sustained on a pre-produced backlog, first to last output; CPU and RSS "
        "of the row's process (all threads) from /proc",
        "latency: send of each event to receipt of its output, one monotonic clock; "
        f"paced for {sizes.latency_seconds:g} s; 'overload' = the offered rate is above "
        f"1/{OVERLOAD_MARGIN} of the row's capacity",
    ]
    if "naive" in rows:
        out.append(f"naive: {sizes.naive_events:,} events only (it scores ~200 a second)")
    if "faust-ceiling" in rows:
        out.append("faust-ceiling: each event forwarded with Topic.send_soon, the engine's "
                   "fastest per-event send")
    if set(rows) & set(runners.IMPORTED):
        out.append("streamml-kafka-imported / -onnx: a GradientBoostingClassifier pipeline "
                   "fitted in plain scikit-learn on the same history, served from skops "
                   "(scikit-learn on a DataFrame a batch) and as ONNX (onnxruntime, one thread)")
    if "quix-scoring" in rows:
        out.append("quix-scoring: Quix Streams hands each event alone, so it is scored alone "
                   "with the compiled model")
    return out


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        memory = next(int(line.split()[1]) for line in
                      Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal:")) / 1024 / 1024
    except (OSError, StopIteration):
        memory = float("nan")
    return (f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def progress(text: str) -> None:
    print(f"[benchmarks] {text}", file=sys.stderr, flush=True)
