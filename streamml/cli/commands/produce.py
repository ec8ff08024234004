"""``streamml produce FILE``: replay a CSV or JSONL file of events (and labels) into Kafka."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.settings import Settings

if TYPE_CHECKING:
    from contracts.records import Label, UserEvent
    from producers import ReplayRecord, ReplayReport


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "produce",
        help="replay a CSV or JSONL file of events (and labels) into Kafka",
        description=(
            "Read FILE, give columns their roles (--map), check every row against the "
            "contract and send the valid ones to user-events (and labels, when a label "
            "column is filled). Every column without a role is a feature: numbers become "
            "floats, empty cells null, anything else stays text. Bad rows are counted by "
            "reason, with their line numbers, and skipped."
        ),
        epilog=(
            "Defaults: columns named event_id, user_id, ts and label take those roles when "
            "present; user_id is required. Without event_id, ids are <file stem>-<line> "
            "(a replay of the same file sends the same ids). Without ts, the time of "
            "reading is used. Exit status: 0 every row sent, 1 rows rejected or not "
            "delivered, 130 interrupted."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("--format", choices=("csv", "jsonl"),
                        help="file format (default: from the suffix)")
    parser.add_argument("--map", action="append", default=[], metavar="ROLE=COLUMN",
                        help="column for a role: event_id, user_id, ts or label (repeatable)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="events per second (default 0: as fast as possible)")
    parser.add_argument("--assume-utc", action="store_true",
                        help="read times without a timezone as UTC instead of refusing them")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the file and report, without sending")
    parser.set_defaults(handler=run, needs_broker=_sends)


def _sends(args: argparse.Namespace) -> bool:
    # A missing file is told by the command itself, before any wait for the broker.
    return not args.dry_run and args.file.is_file()


def run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from producers import ColumnMap, ReplayError, ReplayReport, read_records

    if not args.file.is_file():
        raise ReplayError(f"{args.file}: no such file")
    report = ReplayReport()
    records = read_records(args.file, fmt=args.format, columns=ColumnMap.parse(args.map),
                           assume_utc=args.assume_utc, report=report)
    console = Console()
    if args.dry_run:
        for _ in records:
            pass
        console.print(rejection_table(report))
        return 1 if report.rejected else 0
    return _send(_flatten(records), report, args.rate, settings, console)


def _send(stream: Iterable[UserEvent | Label], report: ReplayReport, rate: float,
          settings: Settings, console: Any) -> int:
    from producers import EventProducer, LabelProducer, Pacer, SendCounts, send_stream
    from streamml.cli.commands.simulate import delivery_table, progress_bar

    counts = SendCounts()
    interrupted = False
    started = time.monotonic()
    events, labels = EventProducer(settings), LabelProducer(settings)
    with progress_bar(None) as bar:
        task = bar.add_task("sending", total=None)

        def show(c: SendCounts) -> None:
            bar.update(task, completed=c.events, description=f"sending (labels {c.labels}, "
                                                             f"rejected {report.rejected_rows})")

        try:
            send_stream(stream, events=events, labels=labels, pacer=Pacer(rate), counts=counts,
                        progress=show)
        except KeyboardInterrupt:
            interrupted = True
    reports = {"events": events.flush(raise_on_error=False),
               "labels": labels.flush(raise_on_error=False)}
    console.print(rejection_table(report))
    console.print(delivery_table(reports, time.monotonic() - started,
                                 "interrupted: " if interrupted else ""))
    if interrupted:
        return 130
    delivered = all(r.failed == 0 and r.pending == 0 for r in reports.values())
    return 0 if delivered and not report.rejected else 1


def rejection_table(report: ReplayReport) -> Any:
    """Rows read, accepted and rejected, with one line per reason."""
    from rich.table import Table

    table = Table(title=f"{report.rows} rows read: {report.events} events "
                        f"({report.labels} with labels), {report.rejected_rows} rejected")
    for column in ("reason", "rows", "first rows", "example"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for reason, entry in sorted(report.rejected.items(), key=lambda kv: -kv[1].count):
        table.add_row(reason, str(entry.count), ", ".join(map(str, entry.first_rows)),
                      entry.example)
    return table


def _flatten(records: Iterable[ReplayRecord]) -> Iterator[UserEvent | Label]:
    for record in records:
        yield record.event
        if record.label is not None:
            yield record.label


__all__ = ["register", "rejection_table", "run"]
