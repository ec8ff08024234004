"""``streamml kafka start|status|stop``: the local broker, one node or a cluster."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from contracts.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "kafka",
        help="run a local Apache Kafka broker (KRaft, one node or a cluster) for a laptop or tests",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for verb, help_text in (
        ("start", "fetch the broker jars once, start the broker and wait until it answers"),
        ("status", "say whether the local broker answers"),
        ("stop", "stop the local broker and wait for it to end"),
    ):
        sub = verbs.add_parser(verb, help=help_text)
        sub.add_argument("--port", type=int, default=None,
                         help="client port; a cluster's nodes take the ports from it up "
                              "(default: 9092)")
        sub.add_argument("--brokers", type=_node_count, default=1,
                         help="nodes, each broker and controller; 3 replicate every topic "
                              "(default: 1)")
        sub.add_argument("--data-dir", type=Path, default=None,
                         help="broker folder (default: ~/.cache/streamml/broker-PORT, or "
                              "cluster-PORT for several nodes)")
        sub.add_argument("--secure", type=Path, default=None, metavar="DIR",
                         help="one node only: SASL_SSL (SCRAM-SHA-512) and ACLs, from "
                              "DIR/ca.pem, DIR/broker.pem (key and certificate) and "
                              "DIR/users.toml")
        sub.set_defaults(handler=run)


def _node_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of nodes, 1 or more; "
                                         f"got {text!r}")
    return int(text)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from streamml.broker import cluster, single_node
    from streamml.broker import security as secure_broker

    port = args.port or single_node.DEFAULT_PORT
    given = args.data_dir
    if args.secure and args.brokers > 1:
        raise secure_broker.BrokerSecurityError("--secure starts one node; leave out --brokers")
    if args.brokers > 1 or (given and (given / cluster.CLUSTER_FILE).exists()):
        folder = given or cluster.default_data_dir(port)
        return run_cluster(args.verb, list(range(port, port + args.brokers)), folder)
    data_dir = given or single_node.default_data_dir(port)
    security = secure_broker.BrokerSecurity.from_directory(args.secure) if args.secure else None
    if args.verb == "start":
        began = time.monotonic()
        state = single_node.start(port, data_dir, security=security)
        print(f"Kafka broker ready at {state.bootstrap} "
              f"(pid {state.pid}, {time.monotonic() - began:.1f} s, folder {data_dir})")
        print(f"export KAFKA_BOOTSTRAP_SERVERS={state.bootstrap}")
        if security is not None:
            print(secure_broker.grant_and_describe(security, settings, state.bootstrap))
        return 0
    if args.verb == "status":
        found = single_node.read_state(data_dir)
        probe = security.client_config(security.super_user) if security else None
        if found and single_node.is_running(found) and single_node.answers(
                found.bootstrap, client_config=probe):
            print(f"running: {found.bootstrap} (pid {found.pid})")
            return 0
        print(f"not running (folder {data_dir})")
        return 1
    stopped = single_node.stop(data_dir)
    print("stopped" if stopped else f"not running (folder {data_dir})")
    return 0


def run_cluster(verb: str, ports: list[int], data_dir: Path) -> int:
    from streamml.broker import cluster, single_node

    if verb == "start":
        began = time.monotonic()
        started = cluster.start_cluster(ports, data_dir)
        for node_id, node in enumerate(started.nodes, start=1):
            print(f"node {node_id}: {node.bootstrap} (pid {node.pid})")
        print(f"Kafka cluster of {len(started.nodes)} nodes ready "
              f"({time.monotonic() - began:.1f} s, folder {data_dir})")
        print(f"export KAFKA_BOOTSTRAP_SERVERS={started.bootstrap}")
        print(f"export STREAMML_REPLICATION_FACTOR={min(3, len(started.nodes))}")
        return 0
    if verb == "status":
        found = cluster.read_cluster(data_dir)
        if found is None:
            print(f"not running (folder {data_dir})")
            return 1
        up = 0
        for node_id, node in enumerate(found.nodes, start=1):
            serving = single_node.is_running(node) and single_node.answers(node.bootstrap)
            up += serving
            print(f"node {node_id}: {'running' if serving else 'down'} {node.bootstrap}"
                  + (f" (pid {node.pid})" if serving else ""))
        print(f"{up} of {len(found.nodes)} nodes running: {found.bootstrap}")
        return 0 if up == len(found.nodes) else 1
    stopped = cluster.stop_cluster(data_dir)
    print("stopped" if stopped else f"not running (folder {data_dir})")
    return 0


__all__ = ["register", "run", "run_cluster"]
