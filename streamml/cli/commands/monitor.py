"""``streamml monitor``: rolling metrics, drift, alerts, ``/metrics`` and the ops page."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from contracts.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "monitor", help="watch predictions, labels and features: drift, performance, alerts"
    )
    parser.add_argument("--web-port", type=int, default=None,
                        help="HTTP port of the ops page, /metrics and /health "
                             "(default: STREAMML_MONITOR_PORT)")
    parser.add_argument("--rules", type=Path, default=None,
                        help="rules file (default: STREAMML_MONITOR_RULES_FILE, else the "
                             "rules shipped with streamml)")
    parser.add_argument("--check-rules", action="store_true",
                        help="check the rules file, print its rules and exit")
    parser.set_defaults(handler=run, needs_broker=_serves, port_setting="monitor_port")


def _serves(args: argparse.Namespace) -> bool:
    return not args.check_rules


def run(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.config import load_config

    if args.rules is not None:
        settings = settings.with_overrides(monitor_rules_file=str(args.rules))
    config = load_config(settings.monitor_rules_file)
    if args.check_rules:
        print(f"{config.source}: {len(config.rules)} rules")
        for rule in config.rules:
            print(f"  {rule.name}: {rule.metric} {rule.direction} {rule.threshold:g} "
                  f"for {rule.for_windows}, clear {rule.clear_windows}"
                  + (f" over {rule.clear_seconds:g} s" if rule.clear_seconds else "")
                  + f" ({rule.severity})")
        return 0

    from monitor.service import run as run_monitor

    return run_monitor(settings, web_port=args.web_port)


__all__ = ["register", "run"]
