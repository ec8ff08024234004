"""A one-node Apache Kafka broker (KRaft, broker and controller) run as a local process.

The broker's folder holds its configuration, data, log and a ``broker.json`` with the
pid and address, so ``status`` and ``stop`` find it again from another process.
:mod:`streamml.broker.cluster` runs several such nodes as one cluster.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.exceptions import StreamMLError
from contracts.topics import min_insync_replicas
from streamml.broker.install import broker_classpath, cache_root, java_command

if TYPE_CHECKING:
    from streamml.broker.security import BrokerSecurity

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9092
JVM_OPTIONS = ("-Xms256m", "-Xmx1g", "-XX:+UseG1GC")
# A node answers after 3-4 s of its own CPU when started fresh and 5-6 s when started
# again after a kill -9 (measured with the small footprint below, on a quiet machine and
# beside two busy loops). A node that burns 20 times that without answering never will,
# however long a crowded machine takes to give it that CPU.
START_CPU_BUDGET_S = 120.0
STATE_FILE = "broker.json"
LOG4J_CONFIG = """\
status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
"""


class BrokerError(StreamMLError):
    """The local broker did not start, answer or stop."""


@dataclass(frozen=True)
class Footprint:
    """What a node takes of its machine: JVM options and the broker's thread pools."""

    jvm_options: tuple[str, ...] = JVM_OPTIONS
    properties: dict[str, str] = field(default_factory=dict)


DEFAULT = Footprint()
# For a node sharing two cores with other nodes, workers and tests (a local cluster,
# the test suite's brokers): a small heap, the serial collector, the quick compiler
# only (half the CPU a node burns starting), one processor's worth of JVM threads,
# and thread pools sized for a few dozen partitions (73 threads instead of 104).
SMALL = Footprint(
    ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
     "-XX:ActiveProcessorCount=1"),
    {"num.network.threads": "1", "num.io.threads": "2", "background.threads": "2"},
)


@dataclass(frozen=True)
class BrokerState:
    pid: int
    port: int
    controller_port: int
    data_dir: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass(frozen=True)
class ProxiedListener:
    """A second client listener that sends clients to another port: a proxy in front of it.

    Kafka clients connect wherever the broker's metadata tells them, so only a listener
    advertising the proxy's port keeps every connection of its clients on the proxy,
    where a test can cut them, while other clients use the direct listener.
    """

    port: int
    advertised_port: int


def default_data_dir(port: int) -> Path:
    return cache_root() / f"broker-{port}"


def server_properties(
    port: int,
    controller_port: int,
    log_dir: Path,
    *,
    node_id: int = 1,
    voters: dict[int, int] | None = None,
    proxied: ProxiedListener | None = None,
    footprint: Footprint = DEFAULT,
) -> str:
    """One node's configuration; ``voters`` maps every node id of a cluster to its
    controller port (default: this node alone)."""
    voters = voters or {node_id: controller_port}
    # Internal topics get three replicas once there are three nodes, like the project's.
    replicas = min(3, len(voters))
    min_isr = str(min_insync_replicas(replicas))
    listeners = {"PLAINTEXT": port, "CONTROLLER": controller_port}
    advertised = {"PLAINTEXT": port}
    if proxied is not None:
        listeners["PROXIED"] = proxied.port
        advertised["PROXIED"] = proxied.advertised_port
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": ",".join(
            f"{node}@127.0.0.1:{voter_port}" for node, voter_port in sorted(voters.items())
        ),
        "listeners": _listener_list(listeners),
        "advertised.listeners": _listener_list(advertised),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": ",".join(f"{name}:PLAINTEXT" for name in listeners),
        "log.dirs": str(log_dir),
        "num.partitions": "3",
        "min.insync.replicas": min_isr,
        "offsets.topic.replication.factor": str(replicas),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": min_isr,
        # Topics are created by `streamml topics create`, never by a typo in a client.
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        "message.max.bytes": str(17 * 1024 * 1024),
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        **footprint.properties,
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def _listener_list(ports: dict[str, int]) -> str:
    return ",".join(f"{name}://127.0.0.1:{port}" for name, port in ports.items())


def read_state(data_dir: Path) -> BrokerState | None:
    path = data_dir / STATE_FILE
    try:
        return BrokerState(**json.loads(path.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def is_running(state: BrokerState) -> bool:
    """True when the recorded pid is still our Kafka process (pids get reused)."""
    try:
        cmdline = Path(f"/proc/{state.pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return b"kafka.Kafka" in cmdline


def answers(
    bootstrap: str, timeout: float = 2.0, client_config: Mapping[str, Any] | None = None
) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request.

    ``client_config`` carries the credentials a secure broker asks for.
    """
    from confluent_kafka.admin import AdminClient

    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError:
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, **(client_config or {})})
    try:
        return len(admin.list_topics(timeout=timeout).brokers) > 0
    except Exception:  # noqa: BLE001 - any failure to answer means "not ready"
        return False


def port_free(port: int) -> bool:
    """Whether the broker could listen on ``port``.

    Like the JVM's server sockets, the probe sets ``SO_REUSEADDR``: the connections a
    killed broker leaves in TIME_WAIT do not keep it from listening again.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(
    port: int = DEFAULT_PORT,
    data_dir: Path | None = None,
    *,
    wait_seconds: float = 600.0,
    proxied: ProxiedListener | None = None,
    security: BrokerSecurity | None = None,
    footprint: Footprint = DEFAULT,
) -> BrokerState:
    """Start the broker in the background (or find it running) and wait until it answers.

    The wait ends when the node answers, dies, or burns ``START_CPU_BUDGET_S`` of CPU
    without answering; ``wait_seconds`` only bounds a node that waits on nothing.
    ``proxied`` adds a second client listener that advertises a proxy's port.
    ``security`` makes every client listener SASL_SSL, with SCRAM users and ACLs
    (:mod:`streamml.broker.security`); the probe then signs in as its super user.
    """
    data_dir = data_dir or default_data_dir(port)
    probe = security.client_config(security.super_user) if security else None
    state = read_state(data_dir)
    if state and is_running(state):
        running = state
        if answers(running.bootstrap, timeout=5.0, client_config=probe) or _wait(
            running, wait_seconds, lambda: is_running(running), probe
        ):
            return running
    for wanted in (port, *([proxied.port] if proxied else [])):
        if not port_free(wanted):
            raise BrokerError(
                f"port {wanted} is taken by another process; choose another with --port "
                f"or point STREAMML_BOOTSTRAP_SERVERS at the broker listening there"
            )
    controller_port = free_port(avoid={port, *([proxied.port] if proxied else [])})
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "server.properties"
    properties = server_properties(port, controller_port, data_dir / "data", proxied=proxied,
                                   footprint=footprint)
    # The secured properties hold the JAAS passwords.
    write_private(config, security.server_properties(properties) if security else properties)
    format_storage(data_dir, new_cluster_id(),
                   security.format_arguments() if security else ())
    process, state = launch(data_dir, port, controller_port,
                            jvm_options=footprint.jvm_options)
    await_answer(process, state, wait_seconds, probe)
    return state


def new_cluster_id() -> str:
    cluster = "-"
    while cluster.startswith("-"):  # the storage tool would read a leading dash as an option
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return cluster


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600), even if it
    existed: the mode is set before any byte is written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def argument_file(arguments: Sequence[str]) -> str:
    r"""A Java launcher @argfile holding ``arguments``, each quoted.

    >>> print(argument_file(["format", 'say "hi"', "C:\\kafka"]), end="")
    "format"
    "say \"hi\""
    "C:\\kafka"
    """
    quoted = (a.replace("\\", "\\\\").replace('"', '\\"') for a in arguments)
    return "".join(f'"{a}"\n' for a in quoted)


def format_storage(data_dir: Path, cluster_id: str, extra_arguments: Sequence[str] = ()) -> None:
    """Format the node's data folder for ``cluster_id``, unless it already holds data.

    ``extra_arguments`` go to the storage tool, such as SCRAM users to create. The
    tool takes those passwords only as arguments, so the arguments reach the JVM in
    an @argfile of mode 0600, removed when the tool exits: ``ps`` and
    ``/proc/PID/cmdline`` show ``java -cp ... @FILE``, never a password.
    """
    if (data_dir / "data" / "meta.properties").exists():
        return
    arguments = ["kafka.tools.StorageTool", "format", "-t", cluster_id,
                 "-c", str(data_dir / "server.properties"), "--ignore-formatted",
                 *extra_arguments]
    argfile = data_dir / "format.args"
    write_private(argfile, argument_file(arguments))
    try:
        result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            [java_command(), "-cp", f"{broker_classpath()}/*", f"@{argfile}"],
            capture_output=True,
            text=True,
            check=False,
        )
    finally:
        argfile.unlink(missing_ok=True)
    if result.returncode != 0:
        raise BrokerError(
            f"formatting the broker's storage in {data_dir} failed:\n"
            f"{(result.stdout + result.stderr).strip()[-2000:]}"
        )


def launch(
    data_dir: Path, port: int, controller_port: int, *, jvm_options: Sequence[str] = JVM_OPTIONS
) -> tuple[subprocess.Popen[bytes], BrokerState]:
    """Run the node configured and formatted in ``data_dir``; record its pid there."""
    (data_dir / "log4j2.properties").write_text(LOG4J_CONFIG)
    with (data_dir / "broker.log").open("ab") as log:
        process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
            [
                java_command(),
                *jvm_options,
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
                "-cp",
                f"{broker_classpath()}/*",
                "kafka.Kafka",
                str(data_dir / "server.properties"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    state = BrokerState(process.pid, port, controller_port, str(data_dir))
    (data_dir / STATE_FILE).write_text(json.dumps(asdict(state)))
    return process, state


def await_answer(
    process: subprocess.Popen[bytes],
    state: BrokerState,
    wait_seconds: float,
    client_config: Mapping[str, Any] | None = None,
) -> None:
    """Return once the node answers; stop it and raise when it dies or stays silent."""
    began = time.monotonic()
    if _wait(state, wait_seconds, lambda: process.poll() is None, client_config):
        return
    spent = cpu_seconds(state.pid)
    terminate([state])
    data_dir = Path(state.data_dir)
    raise BrokerError(
        f"the broker did not answer at {state.bootstrap} "
        f"({time.monotonic() - began:.0f} s, {spent:.0f} s of its CPU); "
        f"last lines of {data_dir / 'broker.log'}:\n{log_tail(data_dir)}"
    )


def _wait(
    state: BrokerState,
    seconds: float,
    alive: Callable[[], bool],
    client_config: Mapping[str, Any] | None = None,
) -> bool:
    """Poll until the node answers; False once it dies, has burnt its CPU budget, or
    ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    budget = cpu_seconds(state.pid) + START_CPU_BUDGET_S
    while time.monotonic() < deadline and cpu_seconds(state.pid) < budget:
        if not alive():
            return False
        if answers(state.bootstrap, client_config=client_config):
            return True
        time.sleep(0.5)
    return False


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used (0 once it is gone), from ``/proc``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Ports handed out, perhaps not listened on yet: the OS may offer a port again as soon
# as its probe socket closes, and two listeners given one port fail (the broker's own
# listener and its controller's did).
_HANDED_OUT: deque[int] = deque(maxlen=1024)
_HANDING = threading.Lock()


def free_ports(n: int, *, avoid: Collection[int] = ()) -> list[int]:
    """``n`` distinct loopback ports free now, none in ``avoid`` nor handed out before by
    this process (each probe socket is held until all are chosen)."""
    with _HANDING, ExitStack() as held:
        chosen: list[int] = []
        while len(chosen) < n:
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
            if port not in avoid and port not in _HANDED_OUT:
                chosen.append(port)
        _HANDED_OUT.extend(chosen)
        return chosen


def free_port(*, avoid: Collection[int] = ()) -> int:
    return free_ports(1, avoid=avoid)[0]


def stop(data_dir: Path, *, wait_seconds: float = 30.0) -> bool:
    """Stop the broker recorded in ``data_dir``; False when none was running."""
    state = read_state(data_dir)
    if state is None or not is_running(state):
        return False
    terminate([state], wait_seconds=wait_seconds)
    return True


def terminate(states: list[BrokerState], *, wait_seconds: float = 30.0) -> None:
    """SIGTERM every running node at once, SIGKILL what is left after ``wait_seconds``.

    All at once, because a cluster's last nodes stopped one by one would wait for a
    controller quorum that is already gone.
    """
    running = [state for state in states if is_running(state)]
    for state in running:
        os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_seconds
    while any(is_running(state) for state in running) and time.monotonic() < deadline:
        time.sleep(0.2)
    for state in running:
        if is_running(state):
            os.kill(state.pid, signal.SIGKILL)
    while any(is_running(state) for state in running):
        time.sleep(0.1)


def log_tail(data_dir: Path, lines: int = 20) -> str:
    try:
        text = (data_dir / "broker.log").read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


__all__ = [
    "BrokerError", "BrokerState", "DEFAULT", "DEFAULT_PORT", "Footprint", "JVM_OPTIONS",
    "LOG4J_CONFIG", "ProxiedListener", "SMALL", "START_CPU_BUDGET_S", "STATE_FILE", "answers",
    "argument_file", "await_answer", "cpu_seconds", "default_data_dir", "format_storage",
    "free_port", "free_ports", "is_running", "launch", "log_tail", "new_cluster_id", "port_free",
    "read_state", "server_properties", "start", "stop", "terminate", "write_private",
]
