"""What every streamml faust app shares: construction from settings, and running it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import faust
from faust.exceptions import ConsumerNotStarted
from faust.sensors import Monitor
from faust.types import EventT
from faust.types.core import HeadersArg

from contracts.kafka_clients import KafkaRecord, faust_config
from contracts.settings import Settings

logger = logging.getLogger(__name__)


def build_faust_app(name: str, settings: Settings, *, web_port: int, datadir: Path,
                    **overrides: Any) -> faust.App:
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

    When partitions are revoked, and on the way out, faust waits for the events in
    flight, then commits, but skips that commit while a periodic one is running: under
    load a worker left up to 4,000 scored events uncommitted, for the next owner to
    score again. Once faust has waited, and before the consumer moves on, this commits
    again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.on_partitions_revoked.connect(_commit_processed)
        self.on_before_shutdown.connect(_commit_processed)


# Positional-only: mode's handler type takes any keyword, so a sender named `app` could clash.
async def _commit_processed(app: faust.App, /, *_: Any, **__: Any) -> None:
    try:
        assigned = app.consumer.assignment()
    except ConsumerNotStarted:
        return
    if assigned:
        # faust's commit returns at once when another commit is running (a periodic one,
        # maybe started before the latest acknowledgements); by the second call that one
        # is over, or another began after everything was acknowledged.
        await app.consumer.commit()
        await app.consumer.commit()


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
