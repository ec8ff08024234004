"""Server properties of local nodes: one node alone, a three-node cluster, a proxied listener."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamml.broker.cluster import cluster_properties
from streamml.broker.single_node import ProxiedListener, free_ports, server_properties
from streamml.cli.main import build_parser


def parsed(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_three_nodes_form_one_quorum_of_three_voters_with_their_own_ids_and_ports() -> None:
    nodes = cluster_properties([9092, 9093, 9094], [19092, 19093, 19094], Path("/c"))

    configs = {node_id: parsed(text) for node_id, text in nodes.items()}

    voters = "1@127.0.0.1:19092,2@127.0.0.1:19093,3@127.0.0.1:19094"
    assert all(c["controller.quorum.voters"] == voters for c in configs.values())
    assert [c["node.id"] for c in configs.values()] == ["1", "2", "3"]
    assert configs[2]["listeners"] == "PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:19093"
    assert configs[2]["advertised.listeners"] == "PLAINTEXT://127.0.0.1:9093"
    assert configs[3]["log.dirs"] == "/c/node-3/data"


def test_a_cluster_of_three_replicates_internal_topics_and_needs_two_in_sync() -> None:
    config = parsed(cluster_properties([1, 2, 3], [4, 5, 6], Path("/c"))[1])

    assert config["min.insync.replicas"] == "2"
    for name in ("offsets.topic", "transaction.state.log", "share.coordinator.state.topic"):
        assert config[f"{name}.replication.factor"] == "3"
    assert config["transaction.state.log.min.isr"] == "2"


def test_a_cluster_waits_longer_for_its_quorum_leader_than_kafka_does_before_electing() -> None:
    config = parsed(cluster_properties([1, 2, 3], [4, 5, 6], Path("/c"))[1])

    # Kafka's defaults: 2,000 and 1,000 ms; a node starved of CPU for longer than
    # that must not depose a live controller.
    assert int(config["controller.quorum.fetch.timeout.ms"]) >= 10_000
    assert int(config["controller.quorum.election.timeout.ms"]) >= 5_000
    assert config["num.io.threads"] == "2"


def test_one_node_alone_keeps_one_replica_of_everything() -> None:
    config = parsed(server_properties(9092, 19092, Path("/b/data")))

    assert config["controller.quorum.voters"] == "1@127.0.0.1:19092"
    assert config["min.insync.replicas"] == "1"
    assert config["offsets.topic.replication.factor"] == "1"


def test_a_proxied_listener_advertises_the_proxy_port() -> None:
    config = parsed(server_properties(9092, 19092, Path("/b/data"),
                                      proxied=ProxiedListener(port=9200, advertised_port=9300)))

    assert config["listeners"] == ("PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:19092,"
                                   "PROXIED://127.0.0.1:9200")
    assert config["advertised.listeners"] == ("PLAINTEXT://127.0.0.1:9092,"
                                              "PROXIED://127.0.0.1:9300")
    assert config["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,PROXIED:PLAINTEXT")
    assert config["inter.broker.listener.name"] == "PLAINTEXT"


def test_free_ports_are_distinct() -> None:
    ports = free_ports(6)

    assert len(set(ports)) == 6


def test_a_port_handed_out_is_not_handed_out_again_before_it_is_listened_on() -> None:
    """The broker's listener and its controller's were once given one port: the first
    was not listened on yet when the second was picked."""
    first = free_ports(1)[0]
    later = [free_ports(1, avoid={9092})[0] for _ in range(200)]

    assert first not in later and 9092 not in later and len(set(later)) == 200


@pytest.mark.parametrize("count", ["0", "-1", "three"])
def test_kafka_start_refuses_a_node_count_below_one(
    count: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["kafka", "start", "--brokers", count])

    assert "expected a whole number of nodes, 1 or more" in capsys.readouterr().err
