"""How soon the monitor sees data drift, and how often it cries wolf: over many seeds,
the events from a change to the first data-drift or data-quality alert, and the data
alerts raised on stable streams.

Feeds the pure monitor (:class:`monitor.pipeline.MonitorPipeline`, decoding included)
with simulated traffic as raw records, as ``monitor_memory`` does, with the default
rules. A change starts off the windows' grid (event ``6,000 + 37 x seed mod 100``). An
alert's position is the number of events up to the end of the window that decided it.

    python -m benchmarks drift_delay [--seeds N] [--stable-events N] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np

from benchmarks.monitor_memory import BATCH, model, pipeline_for, records_of, summariser_for
from contracts.records import Alert
from contracts.settings import MONITOR_SOURCES
from contracts.topics import Topics
from monitor.alerts import detail
from producers.simulator import Simulator
from scorer.bundle import ModelBundle

DATA_KINDS = frozenset({"data_drift", "data_quality", "prediction_drift"})
CHANGES = ("covariate-shift", "new-category", "covariate-concept-shift")
CHANGE_EVENTS = 12_000
TARGET_DELAY = 500  # events from a covariate shift to the first alert
START = datetime(2026, 3, 1, tzinfo=UTC)
ENCODE = msgspec.json.encode


@dataclass
class Played:
    """The firing data alerts of one stream, each at the event count its window ended at."""

    alerts: list[tuple[int, str]] = field(default_factory=list)
    cpu_seconds: float = 0.0


@dataclass
class ChangeRow:
    scenario: str
    delays: list[int | None]
    first_rules: dict[str, int]
    before_change: int

    @property
    def found(self) -> list[int]:
        return [d for d in self.delays if d is not None]


def play(bundle: ModelBundle, simulator: Simulator, n: int, source: str) -> Played:
    topics, played = Topics(), Played()
    pipeline = pipeline_for(bundle, topics)
    summariser = summariser_for(bundle, source)
    items = list(simulator.events(n))
    stamps = np.array([i.event.ts.timestamp() for i in items])
    waiting: deque[bytes] = deque()
    for lo in range(0, n, BATCH):
        records = list(records_of(bundle, items[lo:lo + BATCH], waiting, topics, lo, summariser))
        began = time.thread_time()
        changes: list[Alert] = pipeline.process(records)
        played.cpu_seconds += time.thread_time() - began
        for alert in changes:
            if alert.kind in DATA_KINDS and alert.status == "firing":
                end = detail(alert, "window_end")
                at = int(np.searchsorted(stamps, end, side="right")) if isinstance(end, float) \
                    else lo + BATCH
                played.alerts.append((at, msgspec.json.decode(alert.details["rule"])["name"]))
    return played


def change_row(bundle: ModelBundle, scenario: str, seeds: int, source: str) -> ChangeRow:
    row = ChangeRow(scenario, [], {}, 0)
    rules: Counter[str] = Counter()
    for seed in range(1, seeds + 1):
        change_at = 6000 + (37 * seed) % 100
        played = play(bundle, Simulator(seed=100 + seed, scenario=scenario, start=START,
                                        drift_at=change_at), CHANGE_EVENTS, source)
        row.before_change += sum(1 for at, _ in played.alerts if at <= change_at)
        after = sorted((at, rule) for at, rule in played.alerts if at > change_at)
        row.delays.append(after[0][0] - change_at if after else None)
        if after:
            rules[after[0][1]] += 1
    row.first_rules = dict(rules)
    return row


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks drift_delay",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--stable-events", type=int, default=200_000,
                        help="events of each stable stream (one per seed)")
    parser.add_argument("--source", choices=MONITOR_SOURCES, default="summaries",
                        help="what the monitor reads of the processor's work "
                             "(STREAMML_MONITOR_SOURCE)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    bundle = model()
    rows = []
    for scenario in CHANGES:
        rows.append(change_row(bundle, scenario, args.seeds, args.source))
        print(f"[drift_delay] {scenario}: {args.seeds} seeds", flush=True)
    stable, cpu = [], 0.0
    for seed in range(1, args.seeds + 1):
        played = play(bundle, Simulator(seed=200 + seed, start=START), args.stable_events,
                      args.source)
        stable.append(len(played.alerts))
        cpu += played.cpu_seconds
        print(f"[drift_delay] stable seed {seed}: {stable[-1]} data alerts", flush=True)
    print(f"\n{'change':26}{'seeds alerted':>14}{'median':>8}{'min':>6}{'max':>6}"
          f"{'  before the change':>20}  first rule")
    for row in rows:
        found = row.found
        print(f"{row.scenario:26}{len(found):>8}/{len(row.delays):<5}"
              f"{statistics.median(found) if found else '-':>8}{min(found, default='-'):>6}"
              f"{max(found, default='-'):>6}{row.before_change:>20}  {row.first_rules}")
    events = args.seeds * args.stable_events
    print(f"stable: {sum(stable)} data alerts over {args.seeds} streams of "
          f"{args.stable_events:,} events (max {max(stable, default=0)} in one); monitor "
          f"{cpu / events * 1e6:.1f} us CPU an event")
    shift = rows[0].found
    delay_ok = len(shift) == len(rows[0].delays) and max(shift, default=TARGET_DELAY + 1) \
        <= TARGET_DELAY
    quiet_ok = sum(stable) == 0
    print(f"target: covariate shift alerted within {TARGET_DELAY} events on every seed: "
          f"{'met' if delay_ok else 'MISSED'}; no data alert on stable streams: "
          f"{'met' if quiet_ok else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps({"changes": [asdict(r) for r in rows],
                                         "stable_alerts": stable,
                                         "monitor_us_per_event": cpu / events * 1e6}, indent=2))
    return 0 if delay_ok and quiet_ok else 1


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
