"""Check that the configured broker lets us in, and say why not in terms of our settings.

A Kafka client refused at sign-in or at the TLS handshake retries quietly until its
request times out, then reports only a transport failure. The CLI calls
:func:`check_access` before any command that needs the broker, so a wrong password or
CA reads as such, at once, and an absent broker within :data:`PROBE_TIMEOUT` seconds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from contracts.exceptions import StreamMLError
from contracts.kafka_clients import common_config
from contracts.settings import SharedSettings

if TYPE_CHECKING:
    from confluent_kafka import KafkaError


# A broker that answers at all answers a metadata request in well under a second;
# ten seconds still covers one that is finishing its start.
PROBE_TIMEOUT: Final = 10.0


class BrokerAccessError(StreamMLError):
    """The broker could not be reached, or refused our credentials or its certificate."""


def refusal_message(kind: str, reason: str, settings: SharedSettings) -> str:
    """What to tell a user whose client was refused (``kind``: authentication, tls, none).

    >>> s = SharedSettings(bootstrap_servers="k:9093", security_protocol="SASL_SSL",
    ...              sasl_mechanism="PLAIN", sasl_username="ann", sasl_password=None)
    >>> refusal_message("authentication", "invalid credentials", s).split(";")[0]
    "authentication failed for user 'ann' (PLAIN) at k:9093"
    """
    where = settings.bootstrap_servers
    if kind == "authentication":
        return (f"authentication failed for user '{settings.sasl_username}' "
                f"({settings.sasl_mechanism}) at {where}; check STREAMML_SASL_USERNAME, "
                f"STREAMML_SASL_PASSWORD and STREAMML_SASL_MECHANISM (broker: {reason})")
    if kind == "tls":
        return (f"the TLS handshake with {where} failed; check STREAMML_SSL_CA_LOCATION and "
                f"that the broker's certificate names the host in STREAMML_BOOTSTRAP_SERVERS "
                f"({reason})")
    return (f"no broker answered at {where} with STREAMML_SECURITY_PROTOCOL="
            f"{settings.security_protocol} {reason}; start one with `streamml kafka start`, "
            f"or set STREAMML_BOOTSTRAP_SERVERS (and the protocol its listener expects)")


def _kind(error: KafkaError) -> str | None:
    from confluent_kafka import KafkaError

    if error.code() in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        return "authentication"
    if error.code() == KafkaError._SSL or "certificate verify failed" in error.str().lower():
        return "tls"
    return None


def check_access(settings: SharedSettings, *, timeout: float = PROBE_TIMEOUT) -> None:
    """Return once the broker answers a metadata request; raise :class:`BrokerAccessError`
    as soon as it refuses our credentials or certificate, or after ``timeout``."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    errors: list[KafkaError] = []
    # log_level 0: the refusal is reported once, here, not as a retry per second.
    config: dict[str, Any] = {**common_config(settings), "error_cb": errors.append,
                              "log_level": 0}
    admin = AdminClient(config)
    deadline = time.monotonic() + timeout
    last = "no reply"
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=1.0)
            return
        except KafkaException as exc:
            last = exc.args[0].str()
        admin.poll(0)
        for error in errors:
            kind = _kind(error)
            if kind is not None:
                raise BrokerAccessError(refusal_message(kind, error.str(), settings))
    raise BrokerAccessError(refusal_message(
        "none", f"within {timeout:.0f} s (last error: {last})", settings))
