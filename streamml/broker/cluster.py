"""Several local Kafka nodes (KRaft, each broker and controller) run as one cluster.

The cluster's folder holds ``cluster.json`` (the nodes' ids and ports) and a folder
per node laid out like a one-node broker's, its ``broker.json`` included, so a test
can kill one node by its pid and start it again while the others serve.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from streamml.broker import single_node
from streamml.broker.install import cache_root
from streamml.broker.single_node import BrokerError, BrokerState

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

CLUSTER_FILE = "cluster.json"
# A voter that hears nothing from the quorum's leader for the fetch timeout (2 s by
# default) calls an election. Nodes sharing two cores with the tests and a CPU burner
# went that long without a turn on a core: the controller changed 30 times in ten
# minutes and every change stalled the cluster's writes for seconds. A dead leader is
# still found within 10 s, about when the controller fences a dead broker (9 s).
FOOTPRINT = single_node.Footprint(
    single_node.SMALL.jvm_options,
    {**single_node.SMALL.properties,
     "controller.quorum.fetch.timeout.ms": "10000",
     "controller.quorum.election.timeout.ms": "5000"},
)


@dataclass(frozen=True)
class ClusterState:
    nodes: tuple[BrokerState, ...]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    def node(self, node_id: int) -> BrokerState:
        return self.nodes[node_id - 1]


def default_data_dir(port: int) -> Path:
    return cache_root() / f"cluster-{port}"


def node_dir(data_dir: Path, node_id: int) -> Path:
    return data_dir / f"node-{node_id}"


def cluster_properties(
    ports: list[int], controller_ports: list[int], data_dir: Path
) -> dict[int, str]:
    """Each node's server properties, by node id (1, 2, ...): one controller quorum of all.

    Several JVMs share a laptop or a CI runner with the tests, so each is small
    (:data:`streamml.broker.single_node.SMALL`) and patient with its quorum (:data:`FOOTPRINT`).
    """
    voters = {node_id: port for node_id, port in enumerate(controller_ports, start=1)}
    return {
        node_id: single_node.server_properties(
            port, voters[node_id], node_dir(data_dir, node_id) / "data",
            node_id=node_id, voters=voters, footprint=FOOTPRINT,
        )
        for node_id, port in enumerate(ports, start=1)
    }


def read_cluster(data_dir: Path) -> ClusterState | None:
    """The nodes recorded in ``data_dir``, or None when it holds no cluster."""
    try:
        layout = json.loads((data_dir / CLUSTER_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    nodes = []
    for node_id, port in enumerate(layout["ports"], start=1):
        recorded = single_node.read_state(node_dir(data_dir, node_id))
        nodes.append(recorded or BrokerState(0, port, layout["controller_ports"][node_id - 1],
                                             str(node_dir(data_dir, node_id))))
    return ClusterState(tuple(nodes))


def start_cluster(
    ports: list[int], data_dir: Path | None = None, *, wait_seconds: float = 600.0
) -> ClusterState:
    """Start one node per client port (or find them running); return once all serve.

    Each node's wait follows its own work (:func:`streamml.broker.single_node.start`).
    """
    data_dir = data_dir or default_data_dir(ports[0])
    found = read_cluster(data_dir)
    if found is not None and [n.port for n in found.nodes] != list(ports):
        raise BrokerError(
            f"{data_dir} holds a cluster on ports {[n.port for n in found.nodes]}, not "
            f"{list(ports)}; use those ports or another --data-dir"
        )
    nodes = found.nodes if found else ()
    missing = [n for n in range(1, len(ports) + 1)
               if not (nodes and single_node.is_running(nodes[n - 1]))]
    for node_id in missing:
        taken = ports[node_id - 1]
        if not single_node.port_free(taken):
            raise BrokerError(f"port {taken} is taken by another process; choose other "
                              f"ports with --port")
    if found is None:
        _create(ports, data_dir)
    # Every node must be up before any can answer: a controller needs a quorum.
    launched = [_launch(data_dir, node_id) for node_id in missing]
    try:
        for process, state in launched:
            single_node.await_answer(process, state, wait_seconds)
    except BrokerError:
        stop_cluster(data_dir)
        raise
    cluster = _read(data_dir)
    if not _wait_for_registration(cluster, wait_seconds):
        stop_cluster(data_dir)
        raise BrokerError(f"the {len(ports)} nodes at {cluster.bootstrap} did not form a "
                          f"cluster within {wait_seconds:.0f} s; see {data_dir}/node-*/broker.log")
    return cluster


def start_node(data_dir: Path, node_id: int, *, wait_seconds: float = 600.0) -> BrokerState:
    """Start one node of the cluster again (after it was killed); return once it answers."""
    current = node_state(data_dir, node_id)
    if single_node.is_running(current):
        return current
    process, state = _launch(data_dir, node_id)
    single_node.await_answer(process, state, wait_seconds)
    return state


def stop_cluster(data_dir: Path, *, wait_seconds: float = 30.0) -> bool:
    """Stop every node of the cluster; False when none was running."""
    cluster = read_cluster(data_dir)
    if cluster is None:
        return False
    running = [n for n in cluster.nodes if single_node.is_running(n)]
    single_node.terminate(running, wait_seconds=wait_seconds)
    return bool(running)


def _create(ports: list[int], data_dir: Path) -> None:
    controller_ports = single_node.free_ports(len(ports), avoid=ports)
    cluster_id = single_node.new_cluster_id()
    for node_id, text in cluster_properties(ports, controller_ports, data_dir).items():
        folder = node_dir(data_dir, node_id)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "server.properties").write_text(text)
        single_node.format_storage(folder, cluster_id)
    layout = {"ports": list(ports), "controller_ports": controller_ports}
    (data_dir / CLUSTER_FILE).write_text(json.dumps(layout))


def _read(data_dir: Path) -> ClusterState:
    cluster = read_cluster(data_dir)
    if cluster is None:
        raise BrokerError(f"no cluster recorded in {data_dir / CLUSTER_FILE}")
    return cluster


def node_state(data_dir: Path, node_id: int) -> BrokerState:
    return _read(data_dir).node(node_id)


def _launch(data_dir: Path, node_id: int) -> tuple[subprocess.Popen[bytes], BrokerState]:
    recorded = node_state(data_dir, node_id)
    return single_node.launch(node_dir(data_dir, node_id), recorded.port,
                              recorded.controller_port,
                              jvm_options=FOOTPRINT.jvm_options)


def _wait_for_registration(cluster: ClusterState, seconds: float) -> bool:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap, "log_level": 0})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if _registered(admin) == len(cluster.nodes):
            return True
        time.sleep(0.5)
    return False


def _registered(admin: AdminClient) -> int:
    try:
        return len(admin.list_topics(timeout=5).brokers)
    except Exception:  # noqa: BLE001 - any failure to answer means "none yet"
        return 0


__all__ = [
    "CLUSTER_FILE", "ClusterState", "cluster_properties", "default_data_dir",
    "node_dir", "node_state", "read_cluster", "start_cluster", "start_node", "stop_cluster",
]
