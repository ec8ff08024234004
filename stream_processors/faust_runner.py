"""The faust runner of the scoring processor, and everything else of streamml that
knows faust: the same scoring step and output as the kafka runner
(:mod:`stream_processors.kafka_scoring`), under faust's consumer and web server.

Agents run with concurrency 1: with more, faust can commit an offset past an event
still in flight (faust-streaming #606), which a crash then loses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence, Set
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import faust
from faust.exceptions import ConsumerNotStarted
from faust.sensors import Monitor
from faust.transport.consumer import Consumer
from faust.types import TP, EventT
from faust.types.core import HeadersArg

from contracts.batch_output import BatchOutput
from contracts.bounded_ids import RecentIds
from contracts.dead_letters import dead_letter
from contracts.decoding import InputDecoders
from contracts.http_server import Heartbeat
from contracts.kafka_clients import KafkaRecord, heartbeat_interval_s, make_consumer, ssl_context
from contracts.settings import ScoringSettings
from contracts.topics import Topics
from contracts.wire_formats import SchemaUnavailable, wire_format
from stream_processors.gc_policy import quiet_garbage_collector
from stream_processors.http_api import serve
from stream_processors.metrics import scoring_metrics
from stream_processors.model_watcher import Loader, ModelWatcher
from stream_processors.scoring_step import StepResult, count_batch, score_values, summarised
from stream_processors.summary_buffer import SummaryBuffer

logger = logging.getLogger(__name__)

MAX_BATCH = 2000
BATCH_WITHIN_SECONDS = 0.05
SCHEMA_RETRY_SECONDS = 5.0


def build_scoring_app(settings: ScoringSettings, loader: Loader, *, web_port: int,
                      datadir: Path) -> tuple[faust.App, ModelWatcher]:
    metrics = scoring_metrics(settings.model_name)
    watcher = ModelWatcher(settings, loader, metrics)
    topics = Topics(settings.topic_prefix)
    # faust's own web server has neither the token nor the limits of the one every other
    # service answers on; the runner serves on that one instead.
    app = build_faust_app("scoring", settings, web_port=web_port, datadir=datadir,
                          web_enabled=False)
    events = raw_topic(app, topics.user_events)
    output = BatchOutput(settings)
    seen = RecentIds()
    inputs = InputDecoders.of(wire_format(settings))
    # Partitions of user-events held, replaced whole by the event loop, read by HTTP threads.
    held: list[frozenset[int]] = [frozenset()]
    heartbeat = Heartbeat(max_age=90.0)
    token = settings.http_token
    server = serve(settings.web_host, web_port, metrics.registry, lambda: watcher.serving,
                   lambda: watcher.health(held[0]), live=heartbeat.check,
                   ready=lambda: watcher.not_ready(held[0]),
                   token=token.reveal() if token else None)

    # Registered by a call, not as a decorator: faust's task decorator is untyped.
    async def start_watcher() -> None:
        watcher.start()

    async def beat() -> None:
        heartbeat.beat()  # the event loop turns

    app.task(start_watcher)
    app.timer(interval=1.0)(beat)

    # Handlers take the sender positional-only (see _commit_processed below).
    @app.on_partitions_revoked.connect
    async def forget_seen_ids(app: faust.App, /, *_: Any, **__: Any) -> None:
        # After a rebalance this worker may read again, from the last commit, events it
        # scored already: a redelivery to score again, not a producer's duplicate.
        seen.clear()
        held[0] = frozenset()

    # Scoring waits for the catch-up begun at the last assignment (see ModelWatcher.catch_up).
    registry_end = make_consumer(settings, "registry-end")
    catching_up: list[asyncio.Future[bool]] = []

    @app.on_partitions_assigned.connect
    async def catch_up_with_models(app: faust.App, assigned: Set[TP] = frozenset(), /,
                                   *_: Any, **__: Any) -> None:
        held[0] = frozenset(tp.partition for tp in app.consumer.assignment()
                            if tp.topic == topics.user_events)
        if any(tp.topic == topics.user_events for tp in assigned):
            catching_up[:] = [asyncio.get_running_loop().run_in_executor(
                None, watcher.catch_up, registry_end)]

    @app.on_before_shutdown.connect
    def stop_watcher(app: faust.App, /, *_: Any, **__: Any) -> None:
        watcher.stop()
        output.close()
        registry_end.close()
        server.close()

    @app.agent(events, concurrency=1)
    async def score(stream: Any) -> None:
        await _wait_for_model(watcher)
        quiet_garbage_collector()
        async for batch in stream.take_events(MAX_BATCH, within=BATCH_WITHIN_SECONDS):
            if catching_up:
                await catching_up.pop()
            began = time.perf_counter()
            try:
                result = await _scored(batch, watcher, seen, inputs, settings)
            except Exception as exc:
                # An exception escaping the agent would ack (lose) the batch: dead-letter it.
                logger.exception("scoring failed for a batch of %d", len(batch))
                result = _whole_batch_failed(batch, exc)
            await output.deliver(
                [(topics.predictions, k, v, p) for k, v, p in result.predictions]
                + [(topics.dead_letters, k, v, p) for k, v, p in result.dead_letters]
                + [(topics.feature_summaries, k, v, p) for k, v, p in result.summaries]
                + [(topics.prediction_summaries, k, v, p)
                   for k, v, p in result.prediction_summaries]
            )
            app.processed(batch)
            count_batch(metrics, len(batch), result, time.perf_counter() - began)

    return app, watcher


async def _scored(batch: Sequence[EventT[bytes]], watcher: ModelWatcher, seen: RecentIds,
                  inputs: InputDecoders, settings: ScoringSettings) -> StepResult:
    """The batch scored, waiting while writers' schemas cannot be read: an exception out
    of the agent would acknowledge (lose) the batch, and its records are not at fault."""
    while True:
        try:
            # faust commits what it acknowledged on its own: each batch is summarised alone.
            summaries = SummaryBuffer() if settings.monitor_source == "summaries" else None
            return summarised(score_values(
                [e.message.value for e in batch], [e.message.key for e in batch],
                [e.message.partition for e in batch], _origin(batch), watcher.state, seen,
                explain_top_k=settings.explain_top_k, inputs=inputs, summaries=summaries),
                summaries)
        except SchemaUnavailable as exc:
            logger.error("%s; scoring waits and tries again in %.0f s", exc, SCHEMA_RETRY_SECONDS)
            await asyncio.sleep(SCHEMA_RETRY_SECONDS)


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


def faust_config(settings: ScoringSettings) -> dict[str, Any]:
    """``faust.App`` keyword arguments for the broker, its credentials and safe defaults."""
    config: dict[str, Any] = {
        "broker": ";".join(f"kafka://{s}" for s in settings.bootstrap_servers.split(",")),
        "producer_acks": -1,
        "broker_commit_every": 1000,
        "topic_allow_declare": False,
        "topic_disable_leader": True,
        "web_bind": settings.web_host,
        # faust's own BROKER_SESSION_TIMEOUT and BROKER_HEARTBEAT_INTERVAL variables,
        # when set, still win over these.
        "broker_session_timeout": float(settings.session_timeout_s),
        "broker_heartbeat_interval": heartbeat_interval_s(settings.session_timeout_s),
        # faust refuses a session timeout longer than its request timeout (90 s).
        "broker_request_timeout": max(90.0, settings.session_timeout_s + 30.0),
    }
    context = ssl_context(settings)
    if settings.sasl_mechanism:
        config["broker_credentials"] = faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.reveal() if settings.sasl_password else None,
            mechanism=settings.sasl_mechanism,
            ssl_context=context,
        )
    elif context is not None:
        config["broker_credentials"] = faust.SSLCredentials(context)
    return config



def build_faust_app(name: str, settings: ScoringSettings, *, web_port: int, datadir: Path,
                    **overrides: Any) -> CommittingApp:
    """A faust app with our broker, credentials and safe defaults; no app at import time."""
    return CommittingApp(
        f"{settings.group_prefix}.{name}",
        **faust_config(settings),
        monitor=QuietMonitor(),
        web_port=web_port,
        web_host=settings.web_host,
        datadir=str(datadir),
        consumer_auto_offset_reset="earliest",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        **{"stream_buffer_maxsize": 32768, "broker_max_poll_records": 10000, **overrides},
    )


class CommittingApp(faust.App):
    """A faust app that commits everything it has processed when partitions change hands.

    faust forgets the acknowledged offsets of revoked partitions before its own
    revocation handler commits them (``Consumer.on_partitions_revoked`` drops them
    first), so at every rebalance what a worker had scored since the last periodic
    commit was scored again by the partition's next owner, most often itself: 400 to
    4,000 events under load. An agent that calls :meth:`processed` once its outputs are
    acknowledged has those offsets committed here, after faust has waited for the
    events in flight and before the consumer moves on.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.done: dict[TP, int] = {}  # the next offset to read, per partition processed
        self.on_partitions_revoked.connect(_commit_processed)
        self.on_before_shutdown.connect(_commit_processed)

    def processed(self, events: Sequence[EventT[Any]]) -> None:
        """Note ``events`` as processed, their outputs acknowledged.

        A partition's events come in offset order, in a batch and from one batch to the
        next (``done`` starts afresh at each rebalance), so its last one is its furthest.
        """
        done = self.done
        for event in events:
            done[event.message.tp] = event.message.offset + 1


# Positional-only: mode's handler type takes any keyword, so a sender named `app` could clash.
async def _commit_processed(app: faust.App, /, *_: Any, **__: Any) -> None:
    try:
        assigned = app.consumer.assignment()
    except ConsumerNotStarted:
        return
    # Every partition is revoked in faust's (eager) rebalance: an offset kept past it
    # could later be committed over a newer owner's progress.
    done = app.done if isinstance(app, CommittingApp) else {}
    offsets = {tp: offset for tp, offset in done.items() if tp in assigned}
    done.clear()
    if assigned:
        # faust's commit returns at once when another commit is running (a periodic one,
        # maybe started before the latest acknowledgements); by the second call that one
        # is over, or another began after everything was acknowledged.
        await app.consumer.commit()
        await app.consumer.commit()
    if offsets:
        # faust's one call that commits given offsets (its public one commits its own).
        await cast(Consumer, app.consumer)._commit(offsets)


class QuietMonitor(Monitor):
    """faust's statistics sensor without its per-message bookkeeping.

    faust calls its sensors several times per message; the stock monitor keeps
    counters and timings nobody here reads (our metrics are prometheus-client's).
    Per-message hooks do nothing; commit, rebalance and assignment hooks still count.
    """

    def on_message_in(self, *_: Any) -> None:
        return None

    def on_stream_event_in(self, *_: Any) -> None:
        return None

    def on_stream_event_out(self, *_: Any) -> None:
        return None

    def on_message_out(self, *_: Any) -> None:
        return None

    def on_topic_buffer_full(self, *_: Any) -> None:
        return None

    def on_send_initiated(self, *_: Any, **__: Any) -> None:
        return None

    def on_send_completed(self, *_: Any) -> None:
        return None


def raw_topic(app: faust.App, name: str) -> Any:
    """A topic read and written as plain bytes, so bad input reaches us intact."""
    return app.topic(name, key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw")


def as_record(event: EventT[bytes]) -> KafkaRecord:
    message = event.message
    return KafkaRecord(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        timestamp_ms=int((message.timestamp or 0) * 1000),
        headers=_header_pairs(message.headers),
    )


def _header_pairs(headers: HeadersArg) -> tuple[tuple[str, bytes], ...]:
    # faust passes headers on as the client gave them: a list of pairs or a mapping.
    if isinstance(headers, Mapping):
        return tuple(headers.items())
    return tuple(headers or ())


def run_worker(app: faust.App, log_level: str) -> None:
    """Run until SIGINT or SIGTERM; faust stops the agents and commits on the way out."""
    worker = faust.Worker(app, loglevel=log_level.lower(), override_logging=False)
    worker.execute_from_commandline()
