"""Start streamml commands as real child processes, and stop them by the pid we started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from contracts.settings import Settings
from tests.signing_keys import ALERT_PRIVATE_KEY


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "STREAMML_TOPIC_PREFIX": settings.topic_prefix,
        "STREAMML_GROUP_PREFIX": settings.group_prefix,
        "STREAMML_PARTITIONS": str(settings.partitions),
        "STREAMML_MODEL_NAME": settings.model_name,
        "STREAMML_SCORING_RUNNER": settings.scoring_runner,
    }
    if settings.model_private_key:
        env["STREAMML_MODEL_PRIVATE_KEY"] = settings.model_private_key.reveal()
    if settings.model_public_keys:
        env["STREAMML_MODEL_PUBLIC_KEYS"] = settings.model_public_keys
    # The monitor and the retrainer sign alerts; tests sign theirs with the same fixed key.
    env["STREAMML_ALERT_PRIVATE_KEY"] = (settings.alert_private_key.reveal()
                                         if settings.alert_private_key else ALERT_PRIVATE_KEY)
    env.update(security_env(settings))
    env.update(extra)
    return env


def security_env(settings: Settings) -> dict[str, str]:
    """The ``STREAMML_`` variables of the settings' protocol, credentials and CA."""
    values = {
        "STREAMML_SECURITY_PROTOCOL": settings.security_protocol,
        "STREAMML_SASL_MECHANISM": settings.sasl_mechanism,
        "STREAMML_SASL_USERNAME": settings.sasl_username,
        "STREAMML_SASL_PASSWORD": (settings.sasl_password.reveal()
                                   if settings.sasl_password else None),
        "STREAMML_SSL_CA_LOCATION": settings.ssl_ca_location,
    }
    return {name: value for name, value in values.items() if value}


class Child:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


@contextmanager
def streamml_child(args: list[str], env: dict[str, str], log: Path) -> Iterator[Child]:
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "streamml", *args], env=env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    child = Child(process, log)
    try:
        yield child
    finally:
        child.stop()


def http_get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_post(url: str, body: bytes, timeout: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for_health(child: Child, port: int, timeout: float = 60.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise AssertionError(f"the child exited early:\n{child.output()[-3000:]}")
        try:
            status, body = http_get(f"http://127.0.0.1:{port}/health", timeout=1.0)
            if status == 200:
                return json.loads(body)
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"no /health on port {port}:\n{child.output()[-3000:]}")
