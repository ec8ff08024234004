"""``streamml kafka start|status|stop``: the local one-node broker."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from contracts.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "kafka", help="run a local Apache Kafka broker (KRaft, one node) for a laptop or tests"
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, help_text in (
        ("start", "fetch the broker jars once, start the broker and wait until it answers"),
        ("status", "say whether the local broker answers"),
        ("stop", "stop the local broker and wait for it to end"),
    ):
        sub = verbs.add_parser(verb, help=help_text)
        sub.add_argument("--port", type=int, default=None,
                         help="client port (default: 9092)")
        sub.add_argument("--data-dir", type=Path, default=None,
                         help="broker folder (default: ~/.cache/streamml/broker-PORT)")
        sub.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streamml import local_broker

    port = args.port or local_broker.DEFAULT_PORT
    data_dir = args.data_dir or local_broker.default_data_dir(port)
    if args.verb == "start":
        began = time.monotonic()
        state = local_broker.start(port, data_dir)
        print(f"Kafka broker ready at {state.bootstrap} "
              f"(pid {state.pid}, {time.monotonic() - began:.1f} s, folder {data_dir})")
        print(f"export KAFKA_BOOTSTRAP_SERVERS={state.bootstrap}")
        return 0
    if args.verb == "status":
        state = local_broker.read_state(data_dir)
        if state and local_broker.is_running(state) and local_broker.answers(state.bootstrap):
            print(f"running: {state.bootstrap} (pid {state.pid})")
            return 0
        print(f"not running (folder {data_dir})")
        return 1
    stopped = local_broker.stop(data_dir)
    print("stopped" if stopped else f"not running (folder {data_dir})")
    return 0
