"""A one-node Apache Kafka broker (KRaft, broker and controller) run as a local process.

The broker's folder holds its configuration, data, log and a ``broker.json`` with the
pid and address, so ``status`` and ``stop`` find it again from another process.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from contracts.exceptions import StreamMLError
from streamml.broker_install import broker_classpath, cache_root, java_command

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9092
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
class BrokerState:
    pid: int
    port: int
    controller_port: int
    data_dir: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def default_data_dir(port: int) -> Path:
    return cache_root() / f"broker-{port}"


def server_properties(port: int, controller_port: int, log_dir: Path) -> str:
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "3",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Topics are created by `streamml topics create`, never by a typo in a client.
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
        "message.max.bytes": str(17 * 1024 * 1024),
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


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


def answers(bootstrap: str, timeout: float = 2.0) -> bool:
    """True when a broker at ``bootstrap`` answers a metadata request."""
    from confluent_kafka.admin import AdminClient

    host, _, port = bootstrap.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError:
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        return len(admin.list_topics(timeout=timeout).brokers) > 0
    except Exception:  # noqa: BLE001 - any failure to answer means "not ready"
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(
    port: int = DEFAULT_PORT, data_dir: Path | None = None, *, wait_seconds: float = 90.0
) -> BrokerState:
    """Start the broker in the background (or find it running) and wait until it answers."""
    data_dir = data_dir or default_data_dir(port)
    state = read_state(data_dir)
    if state and is_running(state):
        if answers(state.bootstrap, timeout=5.0) or _wait(
            state, wait_seconds, lambda: is_running(state)
        ):
            return state
    if not _port_free(port):
        raise BrokerError(
            f"port {port} is taken by another process; choose another with --port "
            f"or point STREAMML_BOOTSTRAP_SERVERS at the broker listening there"
        )
    java = java_command()
    lib = broker_classpath()
    controller_port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "server.properties"
    config.write_text(server_properties(port, controller_port, data_dir / "data"))
    (data_dir / "log4j2.properties").write_text(LOG4J_CONFIG)
    classpath = f"{lib}/*"
    if not (data_dir / "data" / "meta.properties").exists():
        _format_storage(java, classpath, config, data_dir)
    log = (data_dir / "broker.log").open("ab")
    process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
        [
            java,
            "-Xms256m",
            "-Xmx1g",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    state = BrokerState(process.pid, port, controller_port, str(data_dir))
    (data_dir / STATE_FILE).write_text(json.dumps(asdict(state)))
    if not _wait(state, wait_seconds, lambda: process.poll() is None):
        stop(data_dir)
        raise BrokerError(
            f"the broker did not answer at {state.bootstrap} within {wait_seconds:.0f} s; "
            f"last lines of {data_dir / 'broker.log'}:\n{log_tail(data_dir)}"
        )
    return state


def _format_storage(java: str, classpath: str, config: Path, data_dir: Path) -> None:
    cluster = "-"
    while cluster.startswith("-"):  # the storage tool would read a leading dash as an option
        cluster = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    result = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        [
            java,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            cluster,
            "-c",
            str(config),
            "--ignore-formatted",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise BrokerError(
            f"formatting the broker's storage in {data_dir} failed:\n"
            f"{(result.stdout + result.stderr).strip()[-2000:]}"
        )


def _wait(state: BrokerState, seconds: float, alive: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive():
            return False
        if answers(state.bootstrap):
            return True
        time.sleep(0.5)
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop(data_dir: Path, *, wait_seconds: float = 30.0) -> bool:
    """Stop the broker recorded in ``data_dir``; False when none was running."""
    state = read_state(data_dir)
    if state is None or not is_running(state):
        return False
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + wait_seconds
    while is_running(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    if is_running(state):
        os.kill(state.pid, signal.SIGKILL)
        while is_running(state):
            time.sleep(0.1)
    return True


def log_tail(data_dir: Path, lines: int = 20) -> str:
    try:
        text = (data_dir / "broker.log").read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
