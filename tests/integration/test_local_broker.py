"""The local broker and topic commands, checked with kcat, a client we did not write."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from contracts.topics import ALL_TOPICS
from streamml.broker import cluster, single_node


def streamml(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamml", *args],
        capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})},
        check=False,
    )


def kcat_metadata(bootstrap: str) -> str:
    result = subprocess.run(["kcat", "-b", bootstrap, "-L"], capture_output=True, text=True,
                            timeout=30, check=True)
    return result.stdout


def metadata_matching(bootstrap: str, pattern: str, seconds: float = 30.0) -> bool:
    """Whether kcat's metadata matches ``pattern`` within ``seconds``: each node learns a
    new topic from the controller's log a moment after ``topics create`` returns, and
    kcat asks whichever node answers first (once it saw none of the topics yet)."""
    deadline = time.monotonic() + seconds
    while not re.search(pattern, kcat_metadata(bootstrap)):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


@pytest.fixture
def broker_dir(tmp_path: Path):
    yield tmp_path
    single_node.stop(tmp_path)


def test_kafka_start_status_stop_and_topics_seen_by_kcat(broker_dir: Path):
    port = str(single_node.free_port())
    started = streamml("kafka", "start", "--port", port, "--data-dir", str(broker_dir))
    assert started.returncode == 0, started.stderr
    bootstrap = f"127.0.0.1:{port}"
    assert bootstrap in started.stdout

    again = streamml("kafka", "start", "--port", port, "--data-dir", str(broker_dir))
    assert again.returncode == 0 and bootstrap in again.stdout

    status = streamml("kafka", "status", "--port", port, "--data-dir", str(broker_dir))
    assert status.returncode == 0 and "running" in status.stdout

    assert re.search(r"^ 1 brokers:", kcat_metadata(bootstrap), re.M)

    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "STREAMML_PARTITIONS": "4"}
    created = streamml("topics", "create", env=env)
    assert created.returncode == 0, created.stderr
    assert created.stdout.count("created") == len(ALL_TOPICS)
    metadata = kcat_metadata(bootstrap)
    for topic in ALL_TOPICS:
        expected = 1 if topic == "model-versions" else 4
        assert f'topic "{topic}" with {expected} partitions' in metadata

    rerun = streamml("topics", "create", env=env)
    assert rerun.returncode == 0 and "created" not in rerun.stdout

    mismatched = streamml("topics", "create", env={**env, "STREAMML_PARTITIONS": "6"})
    assert mismatched.returncode == 2
    assert "user-events has 4 partitions; the settings ask for 6" in mismatched.stderr

    stopped = streamml("kafka", "stop", "--port", port, "--data-dir", str(broker_dir))
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    status = streamml("kafka", "status", "--port", port, "--data-dir", str(broker_dir))
    assert status.returncode == 1 and "not running" in status.stdout


def test_kafka_start_on_a_taken_port_says_so(broker_dir: Path, kafka_bootstrap: str):
    port = kafka_bootstrap.rsplit(":", 1)[1]
    if not kafka_bootstrap.startswith("127.0.0.1"):
        pytest.fail("this test expects a broker on the loopback address")
    result = streamml("kafka", "start", "--port", port, "--data-dir", str(broker_dir))
    assert result.returncode == 2
    assert f"port {port} is taken" in result.stderr


def test_bad_setting_is_one_clear_line_without_traceback():
    result = streamml("topics", "create", env={"STREAMML_PARTITIONS": "many"})
    assert result.returncode == 2
    expected = "streamml topics: STREAMML_PARTITIONS='many': expected a whole number"
    assert result.stderr.strip() == expected


def consecutive_free_ports(n: int) -> int:
    """The first of ``n`` free consecutive loopback ports.

    Unseeded on purpose, so runs beside each other seldom try the same ports; any draw
    that finds free ports serves the test equally.
    """
    for base in random.sample(range(20000, 60000, n), 200):
        if all(single_node.port_free(base + i) for i in range(n)):
            return base
    raise AssertionError(f"no {n} consecutive free ports")


def test_kafka_start_brokers_3_runs_a_cluster_that_status_and_stop_see_whole(broker_dir: Path):
    base = consecutive_free_ports(3)
    folder = ["--port", str(base), "--data-dir", str(broker_dir)]
    bootstrap = ",".join(f"127.0.0.1:{base + i}" for i in range(3))
    try:
        started = streamml("kafka", "start", "--brokers", "3", *folder)
        assert started.returncode == 0, started.stderr
        assert f"export KAFKA_BOOTSTRAP_SERVERS={bootstrap}" in started.stdout
        assert "export STREAMML_REPLICATION_FACTOR=3" in started.stdout
        assert re.search(r"^ 3 brokers:", kcat_metadata(bootstrap), re.M)

        env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "STREAMML_REPLICATION_FACTOR": "3"}
        created = streamml("topics", "create", env=env)
        assert created.returncode == 0, created.stderr
        assert metadata_matching(
            bootstrap, r"partition 0, leader \d, replicas: \d,\d,\d, isrs: \d,\d,\d")

        node_2 = cluster.node_state(broker_dir, 2)
        os.kill(node_2.pid, signal.SIGKILL)
        while single_node.is_running(node_2):
            time.sleep(0.1)
        degraded = streamml("kafka", "status", *folder)
        assert degraded.returncode == 1
        assert f"node 2: down 127.0.0.1:{base + 1}" in degraded.stdout
        assert "2 of 3 nodes running" in degraded.stdout

        again = streamml("kafka", "start", "--brokers", "3", *folder)
        assert again.returncode == 0, again.stderr
        assert cluster.node_state(broker_dir, 2).pid != node_2.pid
        status = streamml("kafka", "status", *folder)
        assert status.returncode == 0 and "3 of 3 nodes running" in status.stdout

        stopped = streamml("kafka", "stop", *folder)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        status = streamml("kafka", "status", *folder)
        assert status.returncode == 1 and "0 of 3 nodes running" in status.stdout
    finally:
        cluster.stop_cluster(broker_dir)
