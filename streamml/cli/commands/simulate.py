"""``streamml simulate``: shop sessions with scripted drift, to a training file or to Kafka."""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from contracts.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from producers import DeliveryReport, Simulator

# Listed here so ``--help`` answers without importing numpy; a unit test keeps this
# in step with producers.scenarios.SCENARIOS.
SCENARIO_NAMES: Final = (
    "stable", "covariate-shift", "concept-drift", "label-shift", "new-category",
    "covariate-shift-return", "covariate-concept-shift", "concept-drift-return",
)
FILE_EVENT_RATE: Final = 5.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="generate shop sessions with drift, to a JSONL file or to Kafka",
        description=(
            "Generate sessions of shop users whose conversion follows a known rule, with "
            "an optional drift scenario from event --drift-at. With --out, write one JSON "
            "object per line (the user-events record plus its label) for training; "
            "otherwise send events to user-events and each label, once due, to labels."
        ),
        epilog=(
            "Event times end about now (with --rate R > 0 they follow the clock), so two "
            "runs differ in ts unless --start is given. Live runs add a random part to "
            "event ids so a second run into the same topic is not taken for duplicates. "
            "Exit status: 0 all delivered, 1 delivery failures, 130 interrupted."
        ),
    )
    parser.add_argument("--events", type=_count, required=True, help="how many events")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="events per second sent to Kafka (default 0: as fast as possible)")
    parser.add_argument("--seed", type=_count, default=0, help="random seed (default 0)")
    parser.add_argument("--scenario", default="stable", choices=SCENARIO_NAMES,
                        help="drift scenario (default stable)")
    parser.add_argument("--drift-at", type=_count, help="first drifted event (default N/2)")
    parser.add_argument("--gradual", type=_count, default=0, metavar="W",
                        help="spread the change over W events (default 0: sudden)")
    parser.add_argument("--return-at", type=_count,
                        help="where a returning scenario comes back (default halfway after "
                             "--drift-at)")
    parser.add_argument("--label-delay", type=float, default=300.0, metavar="SECONDS",
                        help="seconds of event time before a label is known (default 300)")
    parser.add_argument("--label-delay-events", type=_count, default=0, metavar="N",
                        help="and at least N events later (default 0)")
    parser.add_argument("--users", type=_count, default=5_000, help="size of the user pool")
    parser.add_argument("--missing-rate", type=float, default=0.03,
                        help="share of missing values in features that can miss (default 0.03)")
    parser.add_argument("--start", type=_utc_time,
                        help="event time of the first event, ISO 8601 with a timezone")
    parser.add_argument("--out", type=Path, metavar="FILE.jsonl",
                        help="write a training file instead of sending to Kafka")
    parser.set_defaults(handler=run, needs_broker=_sends)


def _sends(args: argparse.Namespace) -> bool:
    return args.out is None


def run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from producers import Simulator

    n = args.events
    drift_at = args.drift_at if args.drift_at is not None else n // 2
    return_at = args.return_at if args.return_at is not None \
        else drift_at + max(1, (n - drift_at) // 2)
    live = args.out is None
    # Sent at a rate, event time follows the clock; otherwise the run ends about now.
    event_rate = args.rate if live and args.rate > 0 else FILE_EVENT_RATE
    now = datetime.now(UTC)
    start = args.start or (now if live and args.rate > 0 else
                           now - timedelta(seconds=n / event_rate))
    simulator = Simulator(
        seed=args.seed, scenario=args.scenario, drift_at=drift_at, gradual=args.gradual,
        return_at=return_at, label_delay_s=args.label_delay,
        label_delay_events=args.label_delay_events, start=start, events_per_second=event_rate,
        n_users=args.users, missing_rate=args.missing_rate,
        id_prefix=None if not live else f"s{args.seed}-{uuid.uuid4().hex[:8]}",
    )
    console = Console()
    if not live:
        return _write(simulator, n, args.out, console)
    return _send(simulator, n, args.rate, settings, console)


def _write(simulator: Simulator, n: int, out: Path, console: Console) -> int:
    positives = 0
    with progress_bar(n) as bar, out.open("wb") as stream:
        task = bar.add_task("writing", total=n)
        for item in simulator.events(n):
            stream.write(item.training_line())
            positives += item.label
            if item.index % 1000 == 999:
                bar.update(task, completed=item.index + 1)
        bar.update(task, completed=n)
    console.print(f"wrote {n} events to {out} (scenario {simulator.scenario}, "
                  f"seed {simulator.seed}, base rate {positives / max(n, 1):.1%})")
    return 0


def _send(simulator: Simulator, n: int, rate: float, settings: Settings, console: Console) -> int:
    from producers import (
        EventProducer,
        LabelProducer,
        Pacer,
        SendCounts,
        send_stream,
        with_labels,
    )

    counts = SendCounts()
    interrupted = False
    started = time.monotonic()
    events, labels = EventProducer(settings), LabelProducer(settings)
    with progress_bar(n) as bar:
        task = bar.add_task("sending", total=n)
        try:
            send_stream(
                with_labels(simulator.events(n)), events=events, labels=labels,
                pacer=Pacer(rate), counts=counts,
                progress=lambda c: bar.update(task, completed=c.events,
                                              description=f"sending (labels {c.labels})"),
            )
        except KeyboardInterrupt:
            interrupted = True
    reports = {"events": events.flush(raise_on_error=False),
               "labels": labels.flush(raise_on_error=False)}
    console.print(delivery_table(reports, time.monotonic() - started,
                                 "interrupted: " if interrupted else ""))
    if interrupted:
        return 130
    return 0 if all(r.failed == 0 and r.pending == 0 for r in reports.values()) else 1


def progress_bar(total: int | None) -> Progress:
    """A progress bar on stderr when it is a terminal (a run of a few thousand events to a
    broker, or paced by --rate, still takes seconds)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    columns: list[Any] = [TextColumn("{task.description}"), MofNCompleteColumn()]
    if total is not None:
        columns[1:1] = [BarColumn()]
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console, disable=not console.is_terminal)


def delivery_table(reports: dict[str, DeliveryReport], elapsed: float, title: str = "") -> Any:
    """Sent, delivered, failed and pending per topic, and the first failures."""
    from rich.table import Table

    table = Table(title=f"{title}sent in {elapsed:.1f} s")
    for column in ("records", "sent", "delivered", "failed", "pending"):
        table.add_column(column, justify="left" if column == "records" else "right")
    for name, r in reports.items():
        table.add_row(name, str(r.sent), str(r.delivered), str(r.failed), str(r.pending))
    failures = [f for r in reports.values() for f in r.failures][:5]
    if failures:
        table.caption = "first failures: " + "; ".join(
            f"{f.code} ({f.reason}) key {f.key}" for f in failures
        )
    return table


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text}")
    return value


def _utc_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 time, got {text!r}") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a timezone, e.g. 2026-01-01T00:00:00Z")
    return value.astimezone(UTC)


__all__ = ["FILE_EVENT_RATE", "SCENARIO_NAMES", "delivery_table", "progress_bar", "register", "run"]
