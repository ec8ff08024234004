"""``streamml monitor``: rolling metrics, drift, alerts, ``/metrics`` and the ops page."""

from __future__ import annotations

import argparse
import sys
import time
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
    actions = parser.add_subparsers(dest="action", metavar="{report}")
    report = actions.add_parser(
        "report", help="save the running monitor's page as one self-contained HTML file, "
                       "for a time range if given")
    report.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    report.add_argument("--since", default=None, metavar="TIME",
                        help="only windows that ended from TIME on: an ISO 8601 instant "
                             "(UTC unless it says otherwise), epoch seconds, or a duration "
                             "back from now such as 2h (default: the monitor's start)")
    report.add_argument("--until", default=None, metavar="TIME",
                        help="only windows that ended up to TIME, written as for --since "
                             "(default: now)")
    report.add_argument("--url", default=None,
                        help="the monitor's address (default: STREAMML_MONITOR_URL, else "
                             "http://STREAMML_WEB_HOST:STREAMML_MONITOR_PORT/)")
    report.set_defaults(handler=save_report, needs_broker=False)


def _serves(args: argparse.Namespace) -> bool:
    return not args.check_rules


def save_report(args: argparse.Namespace, settings: Settings) -> int:
    from monitor.time_range import span_of
    from streamml.cli.page_export import export_page

    try:
        span = span_of(args.since, args.until, now=time.time())
    except ValueError as exc:
        print(f"streamml monitor report: {exc}", file=sys.stderr)
        return 2
    url = args.url or settings.monitor_url or (
        f"http://{settings.web_host}:{settings.monitor_port}/")
    token = settings.http_token.reveal() if settings.http_token else None
    size = export_page(url, args.out, token=token, span=span)
    print(f"wrote {args.out} ({size:,} bytes) from {url}")
    return 0


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
