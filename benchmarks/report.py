"""The figures of one benchmark run, the performance targets judged on them, and the table.

Pure: no broker, no processes. ``benchmarks.suite`` fills a :class:`Figures`; this
module turns it into the printed table and the JSON, so both always hold the same
numbers (and a unit test checks the layout on made-up figures).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RATES = (1000, 5000)


@dataclass
class LatencyFigures:
    offered: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    sent: int
    received: int


@dataclass
class RowFigures:
    """One process compared on the backlog and under paced load."""

    row: str
    events: int
    events_per_second: float
    cpu_seconds_per_100k: float
    peak_rss_mib: float
    latency: dict[int, LatencyFigures | None] = field(default_factory=dict)  # None: overload
    note: str = ""


@dataclass
class ServiceFigures:
    events: int
    events_per_second: float
    cpu_us_per_event: float
    note: str = ""
    # The machine's CPU (all cores) busy while the row ran: the row's own process, the
    # broker, and any other work, which the row's CPU an event grows with.
    machine_busy: float = float("nan")
    # The least and most CPU an event over the row's runs, when it ran more than once
    # (its figures are then those of the median run).
    cpu_spread: tuple[float, float] | None = None


@dataclass
class MemoryFigures:
    first_events: int
    last_events: int
    first_mib: float
    last_mib: float

    @property
    def growth(self) -> float:
        return self.last_mib / self.first_mib - 1.0


@dataclass
class Target:
    name: str
    measured: str
    target: str
    holds: bool | None  # None: not measured in this run


@dataclass
class Figures:
    machine: str
    command: str
    broker: str
    default_runner: str
    rows: list[RowFigures] = field(default_factory=list)
    hot_swap_seconds: dict[str, float] = field(default_factory=dict)
    retrain_rows: int = 0
    retrain_seconds: float = math.nan
    joiner: ServiceFigures | None = None
    joiner_crc32: ServiceFigures | None = None  # records keyed as librdkafka's default does
    monitor: ServiceFigures | None = None
    monitor_floor: ServiceFigures | None = None  # a consumer of the same topics, no work
    memory: dict[str, MemoryFigures] = field(default_factory=dict)  # processor, monitor
    notes: list[str] = field(default_factory=list)

    def row(self, name: str) -> RowFigures | None:
        return next((r for r in self.rows if r.row == name), None)

    @property
    def streamml(self) -> str:
        """The row of the processor as it runs by default."""
        return f"streamml-{self.default_runner}"


def targets(f: Figures) -> list[Target]:
    """The performance targets, as ratios within this run."""
    main, naive, faust = f.row(f.streamml), f.row("naive"), f.row("faust-ceiling")
    out = []

    def ratio(name: str, a: RowFigures | None, b: RowFigures | None, least: float) -> None:
        if a is None or b is None:
            out.append(Target(name, "-", f">= {least:g}x", None))
            return
        value = a.events_per_second / b.events_per_second
        out.append(Target(name, f"{value:,.1f}x", f">= {least:g}x", value >= least))

    ratio(f"{f.streamml} events/s / naive", main, naive, 50)
    ratio(f"{f.streamml} events/s / faust-ceiling", main, faust, 0.6)
    ratio(f"{f.streamml} events/s / quix-scoring", main, f.row("quix-scoring"), 3)
    mine = main.latency.get(1000) if main else None
    theirs = faust.latency.get(1000) if faust else None
    if mine is not None and theirs is not None:
        gap = mine.p99_ms - theirs.p99_ms
        out.append(Target(f"{f.streamml} p99 @1k - faust-ceiling p99 @1k", f"{gap:+,.0f} ms",
                          "<= +50 ms", gap <= 50))
    else:
        out.append(Target(f"{f.streamml} p99 @1k - faust-ceiling p99 @1k", "-", "<= +50 ms",
                          None))
    for who in ("processor", "monitor"):
        m = f.memory.get(who)
        label = f"{who} RSS growth 200k -> 1M events"
        if m is None:
            out.append(Target(label, "-", "<= 10%", None))
        else:
            label = f"{who} RSS growth {_count(m.first_events)} -> {_count(m.last_events)} events"
            out.append(Target(label, f"{m.growth:+.1%}", "<= 10%", m.growth <= 0.10))
    swap = f.hot_swap_seconds.get(f.streamml)
    out.append(Target(f"hot-swap delay ({f.streamml})", "-" if swap is None else f"{swap:.2f} s",
                      "<= 2 s", None if swap is None else swap <= 2.0))
    out.append(_dearer("CPU per event explaining k=3 / streamml-kafka's",
                       f.row("streamml-kafka-explain3"), f.row("streamml-kafka"), 0.25))
    out.append(_dearer("CPU per event with summaries / without",
                       f.row("streamml-kafka"), f.row("streamml-kafka-no-summaries"), 0.10))
    out += _loop_targets(f, main)
    if f.monitor is not None and main is not None:
        processor_us = main.cpu_seconds_per_100k * 10.0
        share = f.monitor.cpu_us_per_event / processor_us
        measured = f"{share:.0%} ({f.monitor.cpu_us_per_event:.1f} / {processor_us:.1f} µs)"
        if f.monitor_floor is not None:
            floor = f.monitor_floor.cpu_us_per_event
            measured += f"; bare consumer {floor / processor_us:.0%}"
        out.append(Target("monitor CPU per event / processor's", measured, "<= 10%",
                          share <= 0.10))
    else:
        out.append(Target("monitor CPU per event / processor's", "-", "<= 10%", None))
    return out


def _dearer(label: str, row: RowFigures | None, base: RowFigures | None,
            most: float) -> Target:
    """How much more CPU an event ``row`` takes than ``base``, at most ``most`` more."""
    if row is None or base is None:
        return Target(label, "-", f"<= +{most:.0%}", None)
    more = row.cpu_seconds_per_100k / base.cpu_seconds_per_100k - 1
    return Target(label, f"{more:+.0%}", f"<= +{most:.0%}", more <= most)


def _loop_targets(f: Figures, main: RowFigures | None) -> list[Target]:
    """The joiner against the processor it follows, and the whole loop's CPU an event."""
    speed, cpu = f"joiner events/s / {f.streamml}", f"joiner CPU per event / {f.streamml}'s"
    loop = "loop CPU per event (scoring + joiner + monitor) / scoring"
    if main is None or f.joiner is None:
        return [Target(speed, "-", ">= 0.5x", None), Target(cpu, "-", "<= 2x", None),
                Target(loop, "-", "<= 4x", None)]
    scoring_us = main.cpu_seconds_per_100k * 10.0
    faster = f.joiner.events_per_second / main.events_per_second
    dearer = f.joiner.cpu_us_per_event / scoring_us
    out = [Target(speed, f"{faster:.2f}x", ">= 0.5x", faster >= 0.5),
           Target(cpu, f"{dearer:.2f}x ({f.joiner.cpu_us_per_event:.1f} / {scoring_us:.1f} µs)",
                  "<= 2x", dearer <= 2.0)]
    if f.monitor is None:
        return [*out, Target(loop, "-", "<= 4x", None)]
    whole = (scoring_us + f.joiner.cpu_us_per_event + f.monitor.cpu_us_per_event) / scoring_us
    return [*out, Target(loop, f"{whole:.2f}x", "<= 4x", whole <= 4.0)]


def _count(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def _latency(value: LatencyFigures | None, measured: bool) -> str:
    if not measured:
        return "-"
    if value is None:
        return "overload"
    if value.received < value.sent:
        return f"lost {value.sent - value.received:,}"
    return f"{value.p50_ms:,.0f} / {value.p99_ms:,.0f}"


def table(f: Figures) -> str:
    """The one table: rows side by side, then the pipeline figures, then the targets."""
    width = 100
    lines = [f"streamml benchmarks on {f.machine}", f"broker: {f.broker}", f"command: {f.command}",
             "=" * width]
    head = (f"{'row':<16}{'events':>11}{'events/s':>11}{'CPU s/100k':>12}{'peak RSS MiB':>14}"
            f"{'p50 / p99 ms @1k/s':>19}{'@5k/s':>17}")
    lines += [head, "-" * width]
    for r in f.rows:
        name = r.row + ("*" if r.row == f.streamml else "")
        lines.append(
            f"{name:<16}{r.events:>11,}{r.events_per_second:>11,.0f}"
            f"{r.cpu_seconds_per_100k:>12.2f}{r.peak_rss_mib:>14,.0f}"
            + "".join(f"{_latency(r.latency.get(rate), rate in r.latency):>{w}}"
                      for rate, w in zip(RATES, (19, 17), strict=True)))
    lines.append(f"* the default runner (STREAMML_SCORING_RUNNER={f.default_runner})")
    lines += [r_note for r in f.rows if (r_note := _row_note(r))]
    lines += ["-" * width, *_pipeline(f), "-" * width,
              f"{'target (ratios within this run)':<52}{'measured':>26}{'target':>12}{'':>10}"]
    for t in targets(f):
        status = {True: "PASS", False: "MISS", None: "n/a"}[t.holds]
        lines.append(f"{t.name:<52}{t.measured:>26}{t.target:>12}{status:>10}")
    lines += [f"note: {n}" for n in f.notes]
    return "\n".join(line.rstrip() for line in lines)


def _row_note(r: RowFigures) -> str:
    return f"{r.row}: {r.note}" if r.note else ""


def _pipeline(f: Figures) -> list[str]:
    out: list[str] = []

    def line(label: str, value: str) -> None:
        out.append(f"{label:<52}{' ' + value:>48}")  # a long value still stands apart

    for runner, seconds in sorted(f.hot_swap_seconds.items()):
        line(f"hot-swap delay, publish -> first prediction ({runner})", f"{seconds:.2f} s")
    if f.retrain_rows:
        line(f"retraining on {f.retrain_rows:,} labeled rows (scorer.training.train)",
             f"{f.retrain_seconds:.1f} s")
    services = (("joiner (streamml join)", f.joiner),
                ("joiner, keyed with CRC32 (kcat's default)", f.joiner_crc32),
                ("monitor (streamml monitor)", f.monitor),
                ("bare consumer of the monitor's topics", f.monitor_floor))
    for name, s in services:
        if s is not None:
            said = [] if s.cpu_spread is None else [f"{s.cpu_spread[0]:.1f}-"
                                                    f"{s.cpu_spread[1]:.1f} over runs"]
            said += [] if math.isnan(s.machine_busy) else [f"{s.machine_busy:.0%} busy"]
            line(f"{name}, backlog of {s.events:,} events",
                 f"{s.events_per_second:,.0f} events/s, {s.cpu_us_per_event:.1f} µs CPU/event"
                 + (f" ({'; '.join(said)})" if said else ""))
    for who, m in f.memory.items():
        line(f"{who} RSS after {_count(m.first_events)} / {_count(m.last_events)} events",
             f"{m.first_mib:,.0f} / {m.last_mib:,.0f} MiB ({m.growth:+.1%})")
    return out


def to_json(f: Figures) -> dict[str, Any]:
    data = asdict(f)
    data["targets"] = [asdict(t) for t in targets(f)]
    for who, m in f.memory.items():
        data["memory"][who]["growth"] = m.growth
    return data


def write_json(f: Figures, path: Path) -> None:
    path.write_text(json.dumps(_finite(to_json(f)), indent=2) + "\n")


def _finite(value: Any) -> Any:
    """NaN and infinities as null: JSON has no place for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
