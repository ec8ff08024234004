"""The scoring processor: ``user-events`` in, ``predictions`` and ``dead-letters`` out.

Agents run with concurrency 1: with more, faust can commit an offset past an event
still in flight (faust-streaming #606), which a crash then loses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence, Set
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
from faust.types import TP, EventT
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts.batch_output import BatchOutput
from contracts.kafka_clients import KafkaRecord, make_consumer
from contracts.settings import Settings
from contracts.topics import Topics
from stream_processors.faust_app import (
    as_record,
    build_faust_app,
    raw_topic,
)
from stream_processors.gc_policy import quiet_garbage_collector
from stream_processors.metrics import scoring_metrics
from stream_processors.model_watcher import Loader, ModelWatcher
from stream_processors.predict_api import predict_response
from stream_processors.recent_ids import RecentIds
from stream_processors.scoring_step import StepResult, count_batch, dead_letter, score_values

logger = logging.getLogger(__name__)

# aiohttp takes the charset apart from the media type.
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST.split("; charset=")[0]
MAX_BATCH = 2000
BATCH_WITHIN_SECONDS = 0.05


def build_scoring_app(settings: Settings, loader: Loader, *, web_port: int,
                      datadir: Path) -> tuple[faust.App, ModelWatcher]:
    metrics = scoring_metrics()
    watcher = ModelWatcher(settings, loader, metrics)
    topics = Topics(settings.topic_prefix)
    app = build_faust_app("scoring", settings, web_port=web_port, datadir=datadir)
    events = raw_topic(app, topics.user_events)
    output = BatchOutput(settings)
    seen = RecentIds()

    # Registered by a call, not as a decorator: faust's task decorator is untyped.
    async def start_watcher() -> None:
        watcher.start()

    app.task(start_watcher)

    # Handlers take the sender positional-only (see faust_app._commit_processed).
    @app.on_partitions_revoked.connect
    async def forget_seen_ids(app: faust.App, /, *_: Any, **__: Any) -> None:
        # After a rebalance this worker may read again, from the last commit, events it
        # scored already: a redelivery to score again, not a producer's duplicate.
        seen.clear()

    # Scoring waits for the catch-up begun at the last assignment (see ModelWatcher.catch_up).
    registry_end = make_consumer(settings, "registry-end")
    catching_up: list[asyncio.Future[bool]] = []

    @app.on_partitions_assigned.connect
    async def catch_up_with_models(app: faust.App, assigned: Set[TP] = frozenset(), /,
                                   *_: Any, **__: Any) -> None:
        if any(tp.topic == topics.user_events for tp in assigned):
            catching_up[:] = [asyncio.get_running_loop().run_in_executor(
                None, watcher.catch_up, registry_end)]

    @app.on_before_shutdown.connect
    def stop_watcher(app: faust.App, /, *_: Any, **__: Any) -> None:
        watcher.stop()
        output.close()
        registry_end.close()

    @app.agent(events, concurrency=1)
    async def score(stream: Any) -> None:
        await _wait_for_model(watcher)
        quiet_garbage_collector()
        async for batch in stream.take_events(MAX_BATCH, within=BATCH_WITHIN_SECONDS):
            if catching_up:
                await catching_up.pop()
            began = time.perf_counter()
            try:
                result = score_values([e.message.value for e in batch],
                                      [e.message.key for e in batch],
                                      [e.message.partition for e in batch],
                                      _origin(batch), watcher.state, seen,
                                      explain_top_k=settings.explain_top_k)
            except Exception as exc:
                # An exception escaping the agent would ack (lose) the batch: dead-letter it.
                logger.exception("scoring failed for a batch of %d", len(batch))
                result = _whole_batch_failed(batch, exc)
            await output.deliver(
                [(topics.predictions, k, v, p) for k, v, p in result.predictions]
                + [(topics.dead_letters, k, v, p) for k, v, p in result.dead_letters]
            )
            count_batch(metrics, len(batch), result, time.perf_counter() - began)

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(metrics.registry), content_type=METRICS_CONTENT_TYPE)

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        state = watcher.serving
        body = {"status": "ok", "model_ready": state.ready,
                "champion": state.deployment.champion if state.deployment else None,
                "partitions": sorted(tp.partition for tp in app.consumer.assignment()
                                     if tp.topic == topics.user_events)}
        return web.json(body)

    @app.page("/predict")
    class Predict(faust.web.View):
        async def post(self, request: Any) -> Any:
            status, body = predict_response(await request.read(), watcher.serving)
            return self.bytes(body, content_type="application/json", status=status)

    return app, watcher


async def _wait_for_model(watcher: ModelWatcher) -> None:
    if watcher.ready.is_set():
        return
    logger.warning("no model version yet: not consuming user-events until one is published")
    while not watcher.ready.is_set():
        await asyncio.sleep(0.1)
    logger.info("model ready: consuming user-events")


def _origin(batch: Sequence[EventT[bytes]]) -> Callable[[int], KafkaRecord]:
    """The record of event ``i`` of the batch, built only when it is asked for."""
    return lambda i: as_record(batch[i])


def _whole_batch_failed(batch: Any, exc: Exception) -> StepResult:
    now = datetime.now(UTC)
    result = StepResult()
    for event in batch:
        record = as_record(event)
        result.rejected["internal-error"] += 1
        result.dead_letters.append(
            (record.key, dead_letter(record, "internal-error", repr(exc), "score", now),
             record.partition)
        )
    return result
