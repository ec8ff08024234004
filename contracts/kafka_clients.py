"""The one place Kafka clients are configured and built.

Both transports streamml uses, confluent-kafka (producers, admin, plain consumers)
and aiokafka (under faust), get the same bootstrap servers and security settings
from here (faust's own app settings build on them in
:mod:`stream_processors.faust_runner`), so a cluster with TLS or SASL needs
configuring once.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar

from contracts.settings import SharedSettings

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient


# Not frozen: one is built for every message consumed, and a frozen dataclass's
# __init__ (object.__setattr__ per field) costs 2.4 times as much. Nothing changes one.
@dataclass(slots=True)
class KafkaRecord:
    """A message as it crosses a package boundary, free of any client's types."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()


logger = logging.getLogger(__name__)
_librdkafka_logger = logging.getLogger("librdkafka")


class _DebugLog:
    """Where librdkafka's own lines go: the debug log, whatever their level.

    A client retries an absent broker every second and logs each try at error level;
    what matters reaches the caller as an error anyway, so a terminal shows it once.
    """

    def log(self, level: int, msg: str, *args: object) -> None:
        _librdkafka_logger.debug(msg, *args)


LIBRDKAFKA_LOG: Final = _DebugLog()

T = TypeVar("T")
COORDINATOR_PATIENCE: Final = 60.0


def patiently(call: Callable[[], T], *, what: str,
              patience: float = COORDINATOR_PATIENCE) -> T:
    """``call()``, asked again while it fails with a retriable Kafka error.

    On a new group or a broker just started, the group and transaction coordinators
    answer NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS for a while; those errors
    are retriable, and waiting them out beats a service that exits at start. Any other
    error, or one still there after ``patience`` seconds, is raised.
    """
    from confluent_kafka import KafkaException

    deadline = time.monotonic() + patience
    pause = 0.2
    while True:
        try:
            return call()
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not getattr(error, "retriable", lambda: False)() \
                    or time.monotonic() + pause > deadline:
                raise
            logger.info("%s not available yet (%s); asking again in %.1fs", what, error, pause)
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def common_config(settings: SharedSettings) -> dict[str, Any]:
    """Connection and security settings shared by every confluent-kafka client.

    >>> common_config(SharedSettings(bootstrap_servers="k:9092"))
    {'bootstrap.servers': 'k:9092', 'security.protocol': 'PLAINTEXT'}
    """
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        config["sasl.mechanism"] = settings.sasl_mechanism
    if settings.sasl_username:
        config["sasl.username"] = settings.sasl_username
    if settings.sasl_password:
        config["sasl.password"] = settings.sasl_password.reveal()
    if settings.ssl_ca_location:
        config["ssl.ca.location"] = settings.ssl_ca_location
    if settings.ssl_certificate_location:
        config["ssl.certificate.location"] = settings.ssl_certificate_location
    if settings.ssl_key_location:
        config["ssl.key.location"] = settings.ssl_key_location
    if settings.ssl_key_password:
        config["ssl.key.password"] = settings.ssl_key_password.reveal()
    return config


def producer_config(settings: SharedSettings, **overrides: Any) -> dict[str, Any]:
    """An idempotent producer that waits for every in-sync replica.

    Keys are hashed with murmur2, as the Java client and aiokafka (under faust) do;
    librdkafka's default is CRC32. Nothing relies on it for correctness: outputs go to
    their input's partition number, and the joiner moves any record to the partition
    murmur2 gives its key (:mod:`stream_processors.repartition`). Records already there,
    as the SDK's are, skip that extra hop.
    """
    return {
        **common_config(settings),
        "partitioner": "murmur2_random",
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        **overrides,
    }


def heartbeat_interval_s(session_timeout_s: float) -> float:
    """A third of the session timeout, at most 3 s (both clients' default), so a
    short session still survives one lost heartbeat.

    >>> heartbeat_interval_s(45), heartbeat_interval_s(6)
    (3.0, 2.0)
    """
    return min(3.0, session_timeout_s / 3)


# Every consumer of ours bounds what librdkafka reads ahead (queued.max.messages.kbytes),
# and once that queue is full librdkafka waits fetch.queue.backoff.ms (1 s by default)
# before fetching again: a step that drains a 4 MiB queue in 50 ms then idled for the
# rest of the second (the joiner ran at 6,000 events/s on a fifth of a core).
FETCH_QUEUE_BACKOFF_MS = 10


def consumer_config(settings: SharedSettings, group: str, **overrides: Any) -> dict[str, Any]:
    """A consumer whose offsets move only when the caller commits them after its output landed."""
    return {
        **common_config(settings),
        "group.id": f"{settings.group_prefix}.{group}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": settings.session_timeout_s * 1000,
        "heartbeat.interval.ms": int(heartbeat_interval_s(settings.session_timeout_s) * 1000),
        "fetch.queue.backoff.ms": FETCH_QUEUE_BACKOFF_MS,
        **overrides,
    }


def make_producer(settings: SharedSettings, **overrides: Any) -> Producer:
    from confluent_kafka import Producer

    return Producer(producer_config(settings, logger=LIBRDKAFKA_LOG, **overrides))


def make_consumer(settings: SharedSettings, group: str, **overrides: Any) -> Consumer:
    from confluent_kafka import Consumer

    return Consumer(consumer_config(settings, group, logger=LIBRDKAFKA_LOG, **overrides))


def make_admin(settings: SharedSettings) -> AdminClient:
    from confluent_kafka.admin import AdminClient

    config: dict[str, Any] = {**common_config(settings), "logger": LIBRDKAFKA_LOG}
    return AdminClient(config)


def ssl_context(settings: SharedSettings) -> ssl.SSLContext | None:
    """The TLS context aiokafka needs, built from the same files confluent-kafka reads."""
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=settings.ssl_ca_location)
    if settings.ssl_certificate_location:
        context.load_cert_chain(
            settings.ssl_certificate_location,
            settings.ssl_key_location,
            settings.ssl_key_password.reveal() if settings.ssl_key_password else None,
        )
    return context


def aiokafka_config(settings: SharedSettings) -> dict[str, Any]:
    """Keyword arguments for aiokafka clients, equivalent to :func:`common_config`."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers.split(","),
        "security_protocol": settings.security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        config["ssl_context"] = context
    if settings.sasl_mechanism:
        config["sasl_mechanism"] = settings.sasl_mechanism
        config["sasl_plain_username"] = settings.sasl_username
        config["sasl_plain_password"] = (
            settings.sasl_password.reveal() if settings.sasl_password else None
        )
    return config
