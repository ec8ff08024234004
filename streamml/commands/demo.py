"""``streamml demo``: the loop on a local broker, from one command."""

from __future__ import annotations

import argparse
from typing import Any

from contracts.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="start a local broker if none answers, create topics, stream simulated events"
    )
    parser.add_argument("--events", type=int, default=30_000, help="events to stream")
    parser.add_argument("--scenario", default="concept-drift",
                        help="simulator scenario (default: concept-drift)")
    parser.add_argument("--rate", type=float, default=300.0,
                        help="events per second (default: 300)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streamml.demo import run_demo

    return run_demo(settings, events=args.events, scenario=args.scenario, rate=args.rate)
