"""Helpers for the monitor's integration tests (no tests here): feed the topics from the
simulator, run the monitor, read alerts back, and run Alertmanager, Prometheus and
headless Chromium as local processes on free loopback ports."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import numpy as np
from confluent_kafka import Producer

from contracts.feature_summary import Summariser, runs_of, summarise
from contracts.kafka_clients import producer_config
from contracts.prediction_summary import summarise_predictions
from contracts.records import Alert, LabeledEvent, Prediction
from contracts.reference_stats import Reference
from contracts.settings import Settings
from contracts.topics import Topics
from producers.simulator import SimulatedEvent, Simulator
from scorer.bundle import ModelBundle
from stream_processors.labeled_outcomes import OutcomeBuffer
from streamml.broker.single_node import free_port
from tests.integration.processes import Child, settings_env, streamml_child, wait_for_health
from tests.integration.scoring_fixtures import publish_champion, signed, trained_bundle
from tests.integration.topic_reader import read_topic
from tests.signing_keys import PUBLIC_KEY

ALERT = msgspec.json.Decoder(Alert)
ENCODE = msgspec.json.encode
LATENCY = 0.04  # seconds from event time to prediction
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def publish_model(settings: Settings) -> ModelBundle:
    """Train the scoring tests' model and publish it as champion (its reference included)."""
    bundle = trained_bundle()
    publish_champion(settings, signed(bundle))
    return bundle


class Feeder:
    """Sends simulated traffic as the scoring path would: events, their predictions (scored
    by ``bundle``), the feature and prediction summaries of each batch of 2,000 (as the
    processor folds them, on partition 0) and, once each label is due in event time, the
    labeled event (on partition 0), with the outcomes of each batch's labeled events as
    the joiner writes them."""

    def __init__(self, settings: Settings, bundle: ModelBundle, simulator: Simulator,
                 n: int) -> None:
        self.topics = Topics(settings.topic_prefix)
        self.producer = Producer(producer_config(settings))
        self.bundle = bundle
        self.summariser = Summariser(bundle.model, bundle.version,
                                     Reference.from_json(bundle.reference.to_json()))
        self.items = list(simulator.events(n))
        self.ts = np.array([i.event.ts.timestamp() for i in self.items])
        self.sent = 0
        self._waiting: deque[tuple[SimulatedEvent, float]] = deque()
        self.outcomes = OutcomeBuffer()

    def send(self, until: int) -> None:
        """Send events up to index ``until`` (exclusive), with the labels due by then."""
        for lo in range(self.sent, until, 2000):
            chunk = self.items[lo:min(until, lo + 2000)]
            scores, decisions = self.bundle.score_batch([i.event.features for i in chunk])
            for item, score, decision in zip(chunk, scores.tolist(), decisions.tolist(),
                                             strict=True):
                self._send_one(item, score, decision)
                while self._waiting and self._waiting[0][0].label_due <= item.event.ts:
                    self._label(*self._waiting.popleft())
            ts = np.array([i.event.ts.timestamp() for i in chunk])
            layout = runs_of([0] * len(chunk), lambda k, lo=lo: lo + k)
            features = summarise([i.event.features for i in chunk], ts.tolist(), layout,
                                 [self.summariser])
            predicted = summarise_predictions(
                model=self.bundle.model, version=self.bundle.version, route="champion",
                scores=scores, decisions=decisions, ts=ts, latency=np.full(ts.size, LATENCY),
                layout=layout, reference_scores=self.summariser.reference_scores)
            for topic, summaries in ((self.topics.feature_summaries, features),
                                     (self.topics.prediction_summaries, predicted)):
                for summary in summaries:
                    self.producer.produce(topic, partition=0, key=summary.model.encode(),
                                          value=ENCODE(summary))
            self._flush()
        self.sent = max(self.sent, until)

    def drain(self) -> None:
        """Send every label still waiting."""
        while self._waiting:
            self._label(*self._waiting.popleft())
        self._flush()

    def _flush(self) -> None:
        """Wait for what was sent, then send the outcomes of the labeled events in it."""
        self.producer.flush(30)
        for key, value, partition in self.outcomes.take():
            self.producer.produce(self.topics.labeled_outcomes, partition=partition, key=key,
                                  value=value)
        self.producer.flush(30)

    def _send_one(self, item: SimulatedEvent, score: float, decision: int) -> None:
        e = self.bundle
        event = item.event
        key = event.user_id.encode()
        self.producer.produce(self.topics.user_events, key=key, value=ENCODE(event))
        self.producer.produce(self.topics.predictions, key=key, value=ENCODE(Prediction(
            event_id=event.event_id, user_id=event.user_id, ts=event.ts, model=e.model,
            version=e.version, route="champion", score=score, decision=decision,
            scored_at=event.ts + timedelta(seconds=LATENCY))))
        self._waiting.append((item, score))
        self.producer.poll(0)

    def _label(self, item: SimulatedEvent, score: float) -> None:
        e = item.event
        labeled = LabeledEvent(event_id=e.event_id, user_id=e.user_id, features=e.features,
                               label=item.label, score=score, version=self.bundle.version,
                               ts=e.ts)
        self.outcomes.hold(0, [labeled])
        self.producer.produce(
            self.topics.labeled_events, partition=0, key=e.user_id.encode(),
            value=ENCODE(labeled), on_delivery=lambda error, message: self.outcomes.delivered(
                0, message.offset() if error is None else None))

    def index_at(self, ts: float) -> int:
        """How many events have an event time up to ``ts``."""
        return int(np.searchsorted(self.ts, ts, side="right"))


def simulator(scenario: str, n: int, **kwargs: object) -> Simulator:
    """A simulator whose events end about ten minutes ago (5 events a second)."""
    start = datetime.now(UTC) - timedelta(seconds=n / 5 + 600)
    return Simulator(seed=11, scenario=scenario, start=start, id_prefix=scenario,
                     **kwargs)  # type: ignore[arg-type]


@contextmanager
def monitor_process(settings: Settings, log: Path, **env: str) -> Iterator[tuple[Child, int]]:
    port = free_port()
    # The monitor holds the public key of the fixed pair that signs the tests' models.
    env = {"STREAMML_MODEL_PUBLIC_KEYS": PUBLIC_KEY, **env}
    with streamml_child(["monitor", "--web-port", str(port)], settings_env(settings, **env),
                        log) as child:
        wait_for_health(child, port)
        yield child, port


def read_alerts(settings: Settings, until: Callable[[list[Alert]], bool] | None = None,
                timeout: float = 120.0) -> list[Alert]:
    """Every record on the alerts topic (waiting until ``until`` holds, if given)."""
    topic = Topics(settings.topic_prefix).alerts
    if until is None:
        return [ALERT.decode(r.value) for r in read_topic(settings, topic, idle=2.0)]
    records = read_topic(settings, topic, timeout=timeout,
                         until=lambda rs: until([ALERT.decode(r.value) for r in rs]))
    return [ALERT.decode(r.value) for r in records]


def rule_of(alert: Alert) -> str:
    return str(msgspec.json.decode(alert.details["rule"])["name"])


def detail(alert: Alert, key: str) -> object:
    raw = alert.details.get(key)
    return msgspec.json.decode(raw) if raw is not None else None


class Capture:
    """A local HTTP server keeping the JSON bodies POSTed to it (Alertmanager's receiver)."""

    def __init__(self) -> None:
        self.bodies: list[object] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def alertmanager(workdir: Path, receiver_url: str) -> Iterator[str]:
    """Debian's Alertmanager on a free port, notifying ``receiver_url`` at once."""
    port = free_port()
    config = workdir / "alertmanager.yml"
    config.write_text(
        "route:\n  receiver: capture\n  group_by: [alertname, fingerprint]\n"
        "  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 4h\n"
        f"receivers:\n  - name: capture\n    webhook_configs:\n"
        f"      - url: {receiver_url}\n        send_resolved: true\n")
    with _process(["prometheus-alertmanager", f"--config.file={config}",
                   f"--storage.path={workdir / 'am-data'}",
                   f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                  workdir / "alertmanager.log", f"http://127.0.0.1:{port}/-/ready") as url:
        yield url.removesuffix("/-/ready")


@contextmanager
def prometheus(workdir: Path, targets: dict[str, str], rules: Path) -> Iterator[str]:
    """Debian's Prometheus on a free port, scraping ``targets`` every second with ``rules``."""
    port = free_port()
    jobs = "".join(f"  - job_name: {job}\n    static_configs:\n      - targets: ['{t}']\n"
                   for job, t in targets.items())
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                      f"rule_files:\n  - {rules}\nscrape_configs:\n{jobs}")
    with _process(["prometheus", f"--config.file={config}",
                   f"--storage.tsdb.path={workdir / 'prom-data'}",
                   f"--web.listen-address=127.0.0.1:{port}"],
                  workdir / "prometheus.log", f"http://127.0.0.1:{port}/-/ready") as url:
        yield url.removesuffix("/-/ready")


@contextmanager
def _process(args: list[str], log: Path, ready: str) -> Iterator[str]:
    from tests.integration.processes import http_get

    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603
                                   stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"{args[0]} exited:\n{log.read_text()[-3000:]}")
            try:
                if http_get(ready, timeout=1.0)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError(f"{args[0]} not ready:\n{log.read_text()[-3000:]}")
        yield ready
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def chromium(url: str, screenshot: Path) -> str:
    """The page's DOM text after load in headless Chromium; a phone-sized screenshot too."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is missing: scripts/system-deps.sh chromium installs it"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run",
             "--window-size=420,1200"]
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([binary, *flags, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=90, check=True).stdout
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([binary, *flags, f"--user-data-dir={profile}",
                        f"--screenshot={screenshot}", url],
                       capture_output=True, timeout=90, check=True)
    return dom


def fresh_settings(bootstrap: str, partitions: int = 3) -> Settings:
    """Settings with their own topics (created) and groups, as ``kafka_settings`` gives,
    for fixtures that outlive one test or need another partition count."""
    import uuid

    from contracts.kafka_clients import make_admin
    from contracts.topic_admin import ensure_topics

    tag = uuid.uuid4().hex[:10]
    settings = Settings(bootstrap_servers=bootstrap, topic_prefix=f"t{tag}.",
                        group_prefix=f"g{tag}", partitions=partitions)
    ensure_topics(make_admin(settings), Topics(settings.topic_prefix).specs(
        partitions=partitions, replication_factor=1))
    return settings


def wait_until(check: Callable[[], object], timeout: float = 60.0, every: float = 0.5) -> object:
    """The first truthy value of ``check()``, or an AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up waiting after {timeout}s")
