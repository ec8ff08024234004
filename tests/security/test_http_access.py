"""The bearer token, and probes that tell liveness from readiness.

Both servers run in this process with in-memory state (no broker). A user checks the
status codes: with ``STREAMML_HTTP_TOKEN`` set, ``/predict``, ``/health`` and the ops
pages answer 401 without it, while ``/live``, ``/ready`` and ``/metrics`` stay open;
``/live`` turns 503 when the service loop stops turning and ``/ready`` says why it is not
ready.
"""

from __future__ import annotations

import hmac
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from contracts.http_server import Heartbeat
from contracts.settings import Settings
from monitor.web import WebServer
from stream_processors.http_api import serve
from stream_processors.kafka_scoring import KafkaScoringWorker
from stream_processors.serving_state import ServingState
from tests.signing_keys import PUBLIC_KEY
from tests.unit.stream_processors.fakes import FakeModel, deployment

TOKEN = "s3cret-token"  # noqa: S105 - a test server's token
STATE = ServingState().with_model(FakeModel(1)).with_deployment(deployment(1))
PREDICT = b'{"features": {"cart_value": 80}}'


def call(url: str, *, token: str | None = None, body: bytes | None = None
         ) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body)  # noqa: S310 - a local test server
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def processor() -> Iterator[str]:
    server = serve("127.0.0.1", 0, CollectorRegistry(), lambda: STATE,
                   lambda: {"status": "ok"}, live=lambda: None, ready=lambda: None,
                   token=TOKEN)
    yield f"http://127.0.0.1:{server.port}"
    server.close()


@pytest.fixture
def monitor() -> Iterator[str]:
    page = (200, "text/html; charset=utf-8", b"<p>ops")
    server = WebServer("127.0.0.1", 0, {"/": lambda: page, "/metrics": lambda: page},
                       probes={"/live": lambda: None, "/ready": lambda: None}, token=TOKEN)
    yield f"http://127.0.0.1:{server.port}"
    server.close()


def test_predict_and_health_need_the_token(processor: str) -> None:
    """No token or a wrong one: 401 with a JSON reason; the right one: the prediction."""
    for token in (None, "wrong", TOKEN + "x", ""):
        status, body = call(processor + "/predict", token=token, body=PREDICT)
        assert status == 401 and b"bearer token" in body
    assert call(processor + "/health")[0] == 401
    status, body = call(processor + "/predict", token=TOKEN, body=PREDICT)
    assert status == 200 and json.loads(body)["version"] == 1


def test_probes_and_metrics_need_no_token(processor: str, monitor: str) -> None:
    """Kubelet probes and the Prometheus scraper carry no token."""
    for base in (processor, monitor):
        for path in ("/live", "/ready", "/metrics"):
            assert call(base + path)[0] == 200, base + path


def test_the_ops_page_needs_the_token(monitor: str) -> None:
    assert call(monitor + "/")[0] == 401
    assert call(monitor + "/", token=TOKEN) == (200, b"<p>ops")


def test_the_token_is_compared_in_constant_time(processor: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is ``hmac.compare_digest``, whose time does not depend on where the
    given token first differs."""
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    call(processor + "/predict", token="guess", body=PREDICT)  # noqa: S106
    assert compared == [(b"Bearer guess", f"Bearer {TOKEN}".encode())]


def test_live_turns_503_when_the_loop_stops_and_ready_says_why() -> None:
    """A heartbeat older than its limit makes ``/live`` 503; ``/ready`` carries the reason
    the service gave, separately from liveness."""
    heartbeat = Heartbeat(max_age=0.2)
    reasons: list[str | None] = ["no partitions of user-events are assigned to this worker"]
    server = serve("127.0.0.1", 0, CollectorRegistry(), lambda: STATE, lambda: {},
                   live=heartbeat.check, ready=lambda: reasons[0])
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert call(base + "/live")[0] == 200
        status, body = call(base + "/ready")
        assert status == 503 and json.loads(body)["reason"] == reasons[0]
        time.sleep(0.4)
        status, body = call(base + "/live")
        assert status == 503 and "has not turned" in json.loads(body)["reason"]
        heartbeat.beat()
        reasons[0] = None
        assert call(base + "/live")[0] == 200 and call(base + "/ready")[0] == 200
    finally:
        server.close()


def test_a_worker_is_ready_only_with_the_registry_read_a_champion_and_partitions() -> None:
    """The processor's own readiness, step by step, as ``/ready`` reports it."""
    settings = Settings(bootstrap_servers="127.0.0.1:9", model_public_keys=PUBLIC_KEY)
    worker = KafkaScoringWorker(settings, lambda *_: FakeModel(1), web_port=0)
    try:
        assert worker.not_ready() == "model-versions is not read to its end yet"
        worker.watcher.ready.set()
        assert worker.not_ready() == "no champion model is loaded"
        worker.watcher.state = STATE
        assert worker.not_ready() == "no partitions of user-events are assigned to this worker"
        worker.runtime.assigned = {0}
        assert worker.not_ready() is None
    finally:
        worker.output.close()
