"""The ``streamml`` command: one sub-command module per verb, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from contracts.broker_access import check_access
from contracts.exceptions import StreamMLError
from contracts.ports import check_port_free
from contracts.settings import Settings
from streamml.cli.log_lines import configure_logging

# Each name is a module in streamml.cli.commands with ``register(subparsers)``; its
# heavy imports stay inside the handler so ``streamml --help`` answers at once.
COMMANDS = ("kafka", "topics", "process", "join", "demo", "train", "simulate", "produce",
            "retrain", "models", "monitor", "keys")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamml",
        description="Streaming predictions on Kafka: score, monitor, retrain.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"streamml.cli.commands.{name}").register(subparsers)
    return parser


def _version() -> str:
    try:
        return version("streamml")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def preflight(args: argparse.Namespace, settings: Settings) -> None:
    """Check what a command needs before it starts its work: its HTTP port free, then
    the broker answering, so either fault is told in one line, the port at once.

    A command sets ``needs_broker`` (True, or a test of its arguments) and, when it
    serves HTTP, ``port_setting``: the setting its ``--web-port`` defaults to.
    """
    needs = getattr(args, "needs_broker", False)
    if not (needs(args) if callable(needs) else needs):
        return
    port_setting = getattr(args, "port_setting", None)
    if port_setting is not None:
        check_port_free(settings.web_host, args.web_port or getattr(settings, port_setting))
    check_access(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_mapping(os.environ)
        configure_logging(settings.log_level, settings.log_format)
        preflight(args, settings)
        code: int = args.handler(args, settings)
    except StreamMLError as exc:
        print(f"streamml {args.command}: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:  # an input named on the command line
        print(f"streamml {args.command}: {exc.filename}: no such file", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["COMMANDS", "build_parser", "main", "preflight"]
