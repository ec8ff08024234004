"""``streamml demo``: the loop on a local broker, from one command."""

from __future__ import annotations

import argparse
from typing import Any

from contracts.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="start a local broker if none answers, create topics, stream simulated events"
    )
    parser.add_argument("--events", type=int, default=5_000, help="events to stream")
    parser.add_argument("--scenario", default="stable", help="simulator scenario")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="events per second (0: as fast as the broker takes them)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streamml.demo import run_demo

    return run_demo(settings, events=args.events, scenario=args.scenario, rate=args.rate)
