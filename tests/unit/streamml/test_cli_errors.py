"""What a user sees when the broker is absent, a port is taken or an option is mistyped.

Every test runs ``python -m streamml`` as a subprocess, as a user would, and needs no
broker: the broker's address is a port where nothing listens.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import pytest

from streamml.broker.single_node import free_port

# The promise is an answer within 10 s of the probe; the bound leaves room for six
# interpreters starting at once on a loaded 2-core machine, and still fails a client
# that retries for its own 30-60 s.
PROMISED_S = 25.0

NEEDS_BROKER = {
    "models list": ["models", "list"],
    "models evaluate": ["models", "evaluate", "{csv}", "--data", "{csv}", "--label", "y"],
    "models import": ["models", "import", "{csv}", "--reference", "{csv}", "--label", "y",
                      "--publish"],
    "simulate": ["simulate", "--events", "100"],
    "produce": ["produce", "{csv}"],
    "topics create": ["topics", "create"],
    "join": ["join", "--web-port", "{port}"],
}


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def _env(bootstrap: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("STREAMML_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    return {**env, "STREAMML_BOOTSTRAP_SERVERS": bootstrap}


def _streamml(*args: str, bootstrap: str = "127.0.0.1:9") -> Ran:
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "streamml", *args], capture_output=True,
                          text=True, env=_env(bootstrap), timeout=120, check=False)
    return Ran(done.returncode, done.stdout, done.stderr, time.monotonic() - began)


Absent = tuple[str, dict[str, Ran]]


@pytest.fixture(scope="module")
def without_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Absent]:
    """Every command that needs the broker, run at once against an address where none
    listens; ``models list`` once more with SSL as the configured protocol."""
    csv = tmp_path_factory.mktemp("input") / "events.csv"
    csv.write_text("user_id,cart_value\nu1,3.5\n")
    bootstrap = f"127.0.0.1:{free_port()}"
    began = time.monotonic()
    running = {
        name: subprocess.Popen(
            [sys.executable, "-m", "streamml",
             *(a.format(csv=csv, port=free_port()) for a in args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(bootstrap))
        for name, args in NEEDS_BROKER.items()
    }
    running["models list with SSL"] = subprocess.Popen(
        [sys.executable, "-m", "streamml", "models", "list"], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env={**_env(bootstrap), "STREAMML_SECURITY_PROTOCOL": "SSL"})
    results = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=120)
        results[name] = Ran(process.returncode, out, err, time.monotonic() - began)
    yield bootstrap, results


@pytest.mark.parametrize("command", NEEDS_BROKER)
def test_an_absent_broker_is_told_in_one_line_within_the_promised_time(
        command: str, without_broker: Absent) -> None:
    """The commands run side by side, each timed from the common start: a generous bound
    for the 10 s promise (see PROMISED_S)."""
    bootstrap, results = without_broker
    ran = results[command]

    assert ran.returncode == 2, ran.stderr
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, ran.stderr
    assert f"no broker answered at {bootstrap}" in lines[0]
    assert "STREAMML_SECURITY_PROTOCOL=PLAINTEXT" in lines[0]
    assert "streamml kafka start" in lines[0]
    assert "Traceback" not in ran.stderr and "FAIL" not in ran.stderr
    assert ran.seconds < PROMISED_S


def test_the_protocol_named_is_the_one_configured(without_broker: Absent) -> None:
    """A broker listening for SSL where the client speaks PLAINTEXT looks alike from the
    client's side; the message says which protocol was tried."""
    ran = without_broker[1]["models list with SSL"]

    assert ran.returncode == 2
    assert "STREAMML_SECURITY_PROTOCOL=SSL" in ran.stderr
    assert len(ran.stderr.splitlines()) == 1, ran.stderr
    assert ran.seconds < PROMISED_S


@pytest.mark.parametrize("command", ["join", "monitor", "process"])
def test_a_taken_port_is_told_in_one_line_before_any_wait_for_the_broker(command: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        ran = _streamml(command, "--web-port", str(port),
                        bootstrap=f"127.0.0.1:{free_port()}")

    assert ran.returncode == 2
    assert ran.stderr.splitlines() == [ran.stderr.strip()]
    assert f"port {port} is in use" in ran.stderr
    assert "Traceback" not in ran.stderr
    # Waiting for the broker first would take its 10 s probe on top of start-up.
    assert ran.seconds < 10, "the port is checked before the broker is waited for"


def test_a_missing_input_file_is_told_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "absent.csv"

    ran = _streamml("produce", str(missing))

    assert ran.returncode == 2
    assert ran.stderr.strip() == f"streamml produce: {missing}: no such file"


def test_version_prints_the_installed_package_version() -> None:
    ran = _streamml("--version")

    assert ran.returncode == 0
    assert ran.stdout.strip() == f"streamml {version('streamml')}"


def test_an_unknown_demo_scenario_is_refused_before_anything_starts() -> None:
    ran = _streamml("demo", "--scenario", "no-such-drift")

    assert ran.returncode == 2
    assert "invalid choice: 'no-such-drift'" in ran.stderr
    assert "concept-drift" in ran.stderr and "Traceback" not in ran.stderr
    assert ran.seconds < 5


def test_demo_help_lists_the_scenarios() -> None:
    ran = _streamml("demo", "--help")

    assert "covariate-shift" in ran.stdout and "label-shift" in ran.stdout
