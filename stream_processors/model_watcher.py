"""Follow ``model-versions`` from its start and keep a :class:`ServingState` current.

Every worker needs every version, so the registry topic is read by assignment (no
consumer group) in a background thread: loading and checking an artifact never
blocks the event loop that scores events.

The processor is ready only once the topic has been read to its end. A restarted
worker replays every version from the oldest; were it ready at the first deployment,
it would score with each old version in turn before reaching the current one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection
from typing import Any

import msgspec

from contracts.batch_runtime import Assignment, BatchRuntime
from contracts.feature_summary import Summariser
from contracts.http_server import Heartbeat
from contracts.records import Alert, Deployment, ModelVersion
from contracts.settings import ScoringSettings
from contracts.topics import Topics
from scorer.exceptions import ArtifactRejected
from scorer.registry_guard import DeploymentGuard, refusal_alert
from scorer.signing import TrustedKeys, trusted_keys
from stream_processors.metrics import ScoringMetrics
from stream_processors.serving_state import ScoringModel, ServingState

logger = logging.getLogger(__name__)

Loader = Callable[[ModelVersion, ServingState], ScoringModel]

# How long taking over partitions waits for the watcher to apply every version published
# so far (only a retrainer's open registry transaction makes it long); past it the worker
# scores with what it holds, and says so.
CATCH_UP_SECONDS = 30.0
# Registry records hold whole artifacts: a few at a time.
WATCH_BATCH = 8

_VERSION = msgspec.json.Decoder(ModelVersion)
_DEPLOYMENT = msgspec.json.Decoder(Deployment)
_NOTHING_YET = ServingState()


class ModelWatcher:
    """Owns the current serving state; ``state`` is swapped whole, never mutated."""

    def __init__(self, settings: ScoringSettings, loader: Loader, metrics: ScoringMetrics,
                 keys: TrustedKeys | None = None) -> None:
        self._settings = settings
        self._deployments = DeploymentGuard(keys or trusted_keys(settings))
        self._loader = loader
        self._metrics = metrics
        self._topics = Topics(settings.topic_prefix)
        self.state = ServingState()
        self.ready = threading.Event()
        # Offset after the last registry record applied, and whether the end was reached.
        self._read_to = 0
        self._at_end = False
        self._progress = threading.Condition()
        self._runtime = BatchRuntime(
            settings, group="model-watcher",
            source=Assignment(self._plan, at_end=lambda _t, _p, end: self.advance(
                end, at_end=True)),
            step=self, output=None, heartbeat=Heartbeat(), policy=None,
            max_batch=WATCH_BATCH, poll_seconds=0.2)
        self._thread = threading.Thread(target=self._runtime.run, name="model-watcher",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._runtime.stop()
        self._thread.join(timeout=10)

    def wait_until_read(self, offset: int, timeout: float) -> bool:
        """Wait until every registry record before ``offset`` is applied; False on timeout."""
        with self._progress:
            return self._progress.wait_for(lambda: self._read_to >= offset, timeout)

    @property
    def serving(self) -> ServingState:
        """What ``/predict`` and ``/health`` answer with: nothing until the registry is read
        to its end, since a version replayed before that may not be the newest."""
        return self.state if self.ready.is_set() else _NOTHING_YET

    def not_ready(self, partitions: Collection[int]) -> str | None:
        """Why a worker holding ``partitions`` of user-events is not ready, or None."""
        if not self.ready.is_set():
            return "model-versions is not read to its end yet"
        if not self.serving.ready:
            return "no champion model is loaded"
        if not partitions:
            return "no partitions of user-events are assigned to this worker"
        return None

    def health(self, partitions: Collection[int]) -> dict[str, Any]:
        """What ``/health`` says of a worker holding ``partitions`` of user-events."""
        state = self.serving
        return {"status": "ok", "model_ready": state.ready,
                "champion": state.deployment.champion if state.deployment else None,
                "partitions": sorted(partitions)}

    def catch_up(self, consumer: Any, timeout: float = CATCH_UP_SECONDS) -> bool:
        """Apply every version published so far, before scoring partitions taken over.

        Their previous owner may have served a version that this worker has not applied
        yet; scoring them with the older one would step their predictions back.
        ``consumer`` (any confluent-kafka consumer) is only asked where the registry ends.
        """
        from confluent_kafka import KafkaException, TopicPartition

        registry = TopicPartition(self._topics.model_versions, 0)
        try:
            _, end = consumer.get_watermark_offsets(registry, timeout=10)
        except KafkaException as exc:
            logger.warning("end of model-versions unknown (%s): scoring with champion=%s",
                           exc, self._champion())
            return False
        if not self.wait_until_read(end, timeout):
            logger.warning("model-versions not applied up to offset %d within %.0f s: "
                           "scoring with champion=%s", end, timeout, self._champion())
            return False
        return True

    def _champion(self) -> int | None:
        deployment = self.state.deployment
        return deployment.champion if deployment else None

    def advance(self, offset: int, *, at_end: bool = False) -> None:
        """Note that every record before ``offset`` is applied (``at_end``: none follows yet)."""
        with self._progress:
            self._read_to = max(self._read_to, offset)
            self._at_end = self._at_end or at_end
            self._progress.notify_all()
        self._signal_ready()

    def _plan(self, _consumer: Any) -> list[Any]:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        return [TopicPartition(self._topics.model_versions, 0, OFFSET_BEGINNING)]

    def process(self, batch: list[Any]) -> tuple[()]:
        for message in batch:
            # A refusal is logged and counted on /metrics; processors do not write
            # alerts (the monitor refuses the same record and raises the signed alert).
            self.apply(message.key() or b"", message.value())
            self.advance((message.offset() or 0) + 1)
        return ()

    def tick(self) -> tuple[()]:
        return ()

    def apply(self, key: bytes, value: bytes | None) -> Alert | None:
        """Apply one registry record; return an alert when it was refused."""
        if value is None:  # a tombstone removes a key from the compacted topic
            return None
        name = key.decode("utf-8", "replace")
        if "/audit/" in name:  # the retrainer's trail of deployment changes; nothing to load
            return None
        try:
            if name.endswith("/deployment"):
                self._apply_deployment(_DEPLOYMENT.decode(value))
            else:
                self._apply_version(_VERSION.decode(value))
        except ArtifactRejected as exc:
            return self._refused(name, exc.code, str(exc))
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            return self._refused(name, "malformed-record", f"not a registry record: {exc}")
        return None

    def _apply_version(self, record: ModelVersion) -> None:
        if record.model != self._settings.model_name:
            return
        model = self._loader(record, self.state)
        self.state = self.state.with_model(model, Summariser.of(record))
        logger.info("model=%s version=%d loaded", record.model, record.version)
        if self._settings.explain_top_k and model.score_explained([{}], 1)[2] is None:
            # Said once, here: predictions without contributions would otherwise look
            # like a fault of the setting.
            logger.warning("model=%s version=%d: its predictions carry no contributions on "
                           "the stream (STREAMML_EXPLAIN_TOP_K explains linear and tree "
                           "models); POST /predict with \"explain\" explains one event",
                           record.model, record.version)
        self._publish_state()

    def _apply_deployment(self, deployment: Deployment) -> None:
        if deployment.model != self._settings.model_name:
            return
        self._deployments.check(deployment)
        missing = self.state.missing_versions(deployment)
        if missing:
            raise ArtifactRejected(
                f"the deployment names version(s) {missing} that this processor has not "
                "loaded (refused or never published); the current deployment stays"
            )
        self.state = self.state.with_deployment(self._deployments.applied(deployment))
        self._metrics.model_swaps.inc()
        logger.info(
            "deployment champion=%d canary=%s fraction=%.2f shadow=%s by=%s reason=%s",
            deployment.champion, deployment.canary, deployment.canary_fraction,
            deployment.shadow, deployment.decided_by, deployment.reason,
        )
        self._publish_state()

    def _publish_state(self) -> None:
        for route in ("champion", "canary", "shadow"):
            model = self.state.model_for(route)
            self._metrics.model_info.labels(model=self._metrics.model, route=route).set(
                model.version if model else 0)
        self._signal_ready()

    def _signal_ready(self) -> None:
        if self._at_end and self.state.ready and not self.ready.is_set():
            self._metrics.model_ready.set(1)
            self.ready.set()

    def _refused(self, name: str, code: str, message: str) -> Alert:
        logger.error("model record %s refused reason=%s: %s", name, code, message)
        self._metrics.model_refusals.labels(reason=code).inc()
        return refusal_alert(name, code, message)
