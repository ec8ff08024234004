"""``streamml join``: the label joiner (one worker; run several to share partitions)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from contracts.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "join", help="join labels with their scored events into labeled-events"
    )
    parser.add_argument("--web-port", type=int, default=None,
                        help="HTTP port for /metrics and /health "
                             "(default: STREAMML_JOINER_PORT)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="worker folder (default: a folder per port in the cache)")
    parser.add_argument("--label-wait", type=_positive_seconds, default=120.0,
                        metavar="SECONDS",
                        help="how long a label waits for its scored event before it is "
                             "dead-lettered (default: 120)")
    parser.add_argument("--ttl", type=_positive_seconds, default=3600.0, metavar="SECONDS",
                        help="how long a scored event waits for its label (default: 3600)")
    parser.add_argument("--capacity", type=_positive_int, default=200_000, metavar="N",
                        help="most events, and most labels, held while waiting "
                             "(default: 200000)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from stream_processors.faust_app import run_worker
    from stream_processors.joiner_app import build_joiner_app
    from streamml.broker_install import cache_root

    port = args.web_port or settings.joiner_port
    datadir = args.data_dir or cache_root() / f"joiner-{port}"
    app = build_joiner_app(settings, web_port=port, datadir=datadir,
                           label_wait_seconds=args.label_wait, ttl_seconds=args.ttl,
                           capacity=args.capacity)
    run_worker(app, settings.log_level)
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
