"""``streamml models``: the registry on ``model-versions``, and every deployment change by hand."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from contracts.settings import Settings
from streamml.cli.commands import model_gate, model_import


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "models", help="list, show, promote, canary, shadow or roll back model versions; "
                       "evaluate and publish trained artifacts; import a fitted pipeline",
        description="Reads the registry (the compacted model-versions topic). Every change "
                    "is written with an audit record saying who decided and why.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    verbs.add_parser("list", help="versions with status, key metrics and trigger")
    show = verbs.add_parser("show", help="one version: metrics, lineage, decision")
    show.add_argument("version", type=int)
    verbs.add_parser("history", help="which version served which route when, and why")
    verbs.add_parser("status", help="what the retrainer is doing or waiting for (from its "
                                    "newest notice on alerts)")
    promote = verbs.add_parser("promote", help="make a version the champion")
    promote.add_argument("version", type=int)
    canary = verbs.add_parser("canary", help="serve a version to a fraction of users")
    canary.add_argument("version", type=int)
    canary.add_argument("--fraction", type=float, required=True, metavar="F",
                        help="share of users in (0, 1]")
    shadow = verbs.add_parser("shadow", help="score every event with a version, unseen")
    shadow.add_argument("version", type=int)
    verbs.add_parser("rollback", help="back to the previous champion (from the audit trail)")
    for verb in ("promote", "canary", "shadow", "rollback"):
        verbs.choices[verb].add_argument("--reason", default=None,
                                         help="why, for the audit trail")
    model_gate.add_verbs(verbs)
    model_import.add_verb(verbs)
    parser.set_defaults(handler=run, needs_broker=_needs_broker)


def _needs_broker(args: argparse.Namespace) -> bool:
    if args.verb == "import":
        return model_import.publishes(args)
    return model_gate.needs_broker(args)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from retrainer.lifecycle import statuses
    from retrainer.registry_io import read_view
    from retrainer.reports import history_lines, show_lines, version_lines

    if args.verb == "import":
        return model_import.run(args, settings)
    if args.verb == "evaluate":
        return model_gate.evaluate(args, settings)
    if args.verb == "publish":
        return model_gate.publish(args, settings, _user())
    if args.verb == "status":
        print("\n".join(_status(settings)))
        return 0
    view = read_view(settings, keep_artifacts=args.verb == "show")
    if args.verb == "list":
        lines = version_lines(view.state, view.history)
    elif args.verb == "history":
        lines = history_lines(view.history) + _started_by_alerts(settings, view.state.versions)
    elif args.verb == "show":
        record = view.state.versions.get(args.version)
        if record is None:
            print(f"version {args.version} of {settings.model_name} is not in the registry")
            return 1
        status = statuses(view.state.versions, view.state.deployment, view.history)
        lines = show_lines(record, status[args.version])
    else:
        lines = [_change(args, settings, view)]
    print("\n".join(lines))
    return 0


def _change(args: argparse.Namespace, settings: Settings, view: Any) -> str:
    from retrainer import lifecycle
    from retrainer.registry_io import RegistryWriter

    state, now = view.state, datetime.now(UTC)
    reason = args.reason or f"{args.verb} by hand"
    by = f"streamml models {args.verb} ({_user()})"
    common: dict[str, Any] = {"decided_by": by, "reason": reason, "now": now}
    if args.verb == "promote":
        change = lifecycle.promote(state.deployment, state.versions, args.version,
                                   model=settings.model_name, **common)
    elif args.verb == "canary":
        change = lifecycle.start_canary(state.deployment, state.versions, args.version,
                                        args.fraction, **common)
    elif args.verb == "shadow":
        change = lifecycle.start_shadow(state.deployment, state.versions, args.version,
                                        **common)
    else:
        change = lifecycle.rollback(state.deployment, view.history, state.versions, **common)
    writer = RegistryWriter(settings)
    try:
        writer.write(deployment=change)
    finally:
        writer.close()
    return f"{lifecycle.describe(state.deployment, change)} ({reason})"


def _status(settings: Settings) -> list[str]:
    from retrainer.notices import status_lines

    return status_lines(_recent_alerts(settings), model=settings.model_name)


def _started_by_alerts(settings: Settings, versions: Mapping[int, Any]) -> list[str]:
    """Versions an alert started, with where its change began (read from ``alerts``)."""
    from retrainer.reports import alert_of, trigger_lines
    from scorer.exceptions import RegistryError

    if not any(alert_of(record.trigger) for record in versions.values()):
        return []
    try:
        alerts = _recent_alerts(settings)
    except RegistryError:  # no alerts topic: the change points are unknown
        alerts = []
    return ["", *trigger_lines(versions, alerts)]


def _recent_alerts(settings: Settings) -> list[Any]:
    """The tail of ``alerts``, decoded; records that do not decode are skipped."""
    import msgspec

    from contracts.records import Alert
    from contracts.topics import Topics
    from scorer.registry import read_topic_records

    decoder = msgspec.json.Decoder(Alert)
    alerts = []
    for _, value in read_topic_records(settings, Topics(settings.topic_prefix).alerts,
                                       tail=2000):
        try:
            alerts.append(decoder.decode(value or b""))
        except msgspec.DecodeError:
            continue
    return alerts


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


__all__ = ["register", "run"]
