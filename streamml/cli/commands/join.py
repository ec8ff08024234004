"""``streamml join``: the label joiner (one worker; run several to share partitions)."""

from __future__ import annotations

import argparse
from typing import Any

from contracts.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "join", help="join labels with their scored events into labeled-events"
    )
    parser.add_argument("--web-port", type=int, default=None,
                        help="HTTP port for /metrics, /live, /ready and /health "
                             "(default: STREAMML_JOINER_PORT)")
    parser.add_argument("--label-wait", type=_positive_seconds, default=120.0,
                        metavar="SECONDS",
                        help="how long a label waits for its scored event before it is "
                             "dead-lettered (default: 120)")
    parser.add_argument("--ttl", type=_positive_seconds, default=3600.0, metavar="SECONDS",
                        help="how long a scored event waits for its label (default: 3600)")
    parser.add_argument("--capacity", type=_positive_int, default=200_000, metavar="N",
                        help="most events, and most labels, held while waiting "
                             "(default: 200000)")
    parser.add_argument("--commit-interval", type=_positive_seconds, default=1.0,
                        metavar="SECONDS",
                        help="most seconds between commits while records flow; partitions "
                             "handed over and a clean stop always commit (default: 1)")
    parser.set_defaults(handler=run, needs_broker=True, port_setting="joiner_port")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from contracts.batch_runtime import run_until_signalled
    from stream_processors.kafka_joiner import JoinerWorker

    run_until_signalled(JoinerWorker(
        settings, web_port=args.web_port or settings.joiner_port,
        label_wait_seconds=args.label_wait, ttl_seconds=args.ttl, capacity=args.capacity,
        commit_seconds=args.commit_interval))
    return 0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


__all__ = ["register", "run"]
