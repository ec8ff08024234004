"""How much of the machine a local node takes, and how long a start is waited for."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from streamml.broker import single_node
from streamml.broker.cluster import cluster_properties
from streamml.broker.single_node import SMALL, BrokerState, server_properties


def parsed(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_a_small_node_has_fewer_broker_threads_and_keeps_everything_else() -> None:
    default = parsed(server_properties(9092, 19092, Path("/b/data")))
    small = parsed(server_properties(9092, 19092, Path("/b/data"), footprint=SMALL))

    assert small["num.network.threads"] == "1" and small["num.io.threads"] == "2"
    assert "num.io.threads" not in default
    assert {k: v for k, v in small.items() if k in default} == default


def test_cluster_nodes_are_small() -> None:
    config = parsed(cluster_properties([1, 2, 3], [4, 5, 6], Path("/c"))[2])

    assert config["background.threads"] == SMALL.properties["background.threads"]
    assert "-XX:ActiveProcessorCount=1" in SMALL.jvm_options


def test_a_node_that_burns_its_cpu_budget_without_answering_is_given_up_before_the_wall_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(single_node, "START_CPU_BUDGET_S", 0.3)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # noqa: S603
    try:
        node = BrokerState(busy.pid, single_node.free_port(), 0, "/nowhere")
        began = time.monotonic()

        answered = single_node._wait(node, 60.0, lambda: busy.poll() is None)

        assert not answered
        assert time.monotonic() - began < 30
        assert single_node.cpu_seconds(busy.pid) >= 0.3
    finally:
        busy.kill()
        busy.wait()


def test_a_node_that_dies_ends_the_wait_at_once() -> None:
    node = BrokerState(2**22 + 1, single_node.free_port(), 0, "/nowhere")

    assert not single_node._wait(node, 60.0, lambda: False)
    assert single_node.cpu_seconds(node.pid) == 0.0
