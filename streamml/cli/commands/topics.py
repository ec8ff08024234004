"""``streamml topics create``: every topic of the design, with the configured layout."""

from __future__ import annotations

import argparse
from typing import Any

from contracts.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("topics", help="manage the project's Kafka topics")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    create = verbs.add_parser(
        "create",
        help="create every topic (idempotent; reports topics laid out otherwise)",
    )
    create.set_defaults(handler=run, needs_broker=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from contracts.kafka_clients import make_admin
    from contracts.topic_admin import ensure_topics
    from contracts.topics import Topics

    specs = Topics(settings.topic_prefix).specs(
        partitions=settings.partitions, replication_factor=settings.replication_factor
    )
    report = ensure_topics(make_admin(settings), specs)
    for spec in specs:
        state = "created" if spec.name in report.created else "exists"
        print(f"{spec.name:<32} partitions={spec.partitions:<3} "
              f"replication={spec.replication_factor}  {state}")
    return 0


__all__ = ["register", "run"]
