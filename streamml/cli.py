"""The ``streamml`` command: one sub-command module per verb, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from contracts.exceptions import StreamMLError
from contracts.settings import Settings

# Each name is a module in streamml.commands with ``register(subparsers)``; its
# heavy imports stay inside the handler so ``streamml --help`` answers at once.
COMMANDS = ("kafka", "topics", "process", "join", "demo", "train", "simulate", "produce",
            "retrain", "models", "monitor", "keys")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamml",
        description="Streaming predictions on Kafka: score, monitor, retrain.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"streamml.commands.{name}").register(subparsers)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_mapping(os.environ)
        configure_logging(settings.log_level)
        code: int = args.handler(args, settings)
    except StreamMLError as exc:
        print(f"streamml {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["COMMANDS", "build_parser", "configure_logging", "main"]
