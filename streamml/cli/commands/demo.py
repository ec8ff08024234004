"""``streamml demo``: the loop on a local broker, from one command."""

from __future__ import annotations

import argparse
from typing import Any

from contracts.settings import Settings
from streamml.cli.commands.simulate import SCENARIO_NAMES


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="start a local broker if none answers, create topics, stream simulated events"
    )
    parser.add_argument("--events", type=int, default=30_000, help="events to stream")
    parser.add_argument("--scenario", default="concept-drift", choices=SCENARIO_NAMES,
                        help="simulator scenario (default: concept-drift)")
    parser.add_argument("--rate", type=float, default=300.0,
                        help="events per second (default: 300)")
    parser.add_argument("--seed", type=seed, default=None,
                        help="seed every simulated draw derives from (history, version 1's "
                             "training, the live stream); default: a random one, printed so "
                             "the run can be repeated")
    parser.set_defaults(handler=run)


def seed(text: str) -> int:
    """A seed as the simulator takes it: a whole number from 0 to 2**32 - 1."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 0 to {2**32 - 1}, got {text!r}")
    return value


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streamml.demo.run import run_demo

    return run_demo(settings, events=args.events, scenario=args.scenario, rate=args.rate,
                    seed=args.seed)


__all__ = ["register", "run", "seed"]
