"""The local broker and topic commands, checked with kcat, a client we did not write."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.topics import ALL_TOPICS
from streamml import local_broker


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


@pytest.fixture
def broker_dir(tmp_path: Path):
    yield tmp_path
    local_broker.stop(tmp_path)


def test_kafka_start_status_stop_and_topics_seen_by_kcat(broker_dir: Path):
    port = str(local_broker.free_port())
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
