"""A record that cannot be processed, as the dead letter every service sends for it."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import msgspec

from contracts.kafka_clients import KafkaRecord
from contracts.records import DeadLetter

_ENCODER: Final = msgspec.json.Encoder()
# Error texts can quote whole inputs; a dead letter stays well under the topic's limit.
ERROR_CHARS: Final = 4000


def dead_letter(message: KafkaRecord, reason: str, error: str, stage: str, at: datetime) -> bytes:
    """The encoded dead letter of ``message``: its bytes intact, where it came from, and why."""
    return _ENCODER.encode(
        DeadLetter(
            error=error[:ERROR_CHARS],
            reason=reason,
            stage=stage,
            original=message.value or b"",
            source_topic=message.topic,
            source_partition=message.partition,
            source_offset=message.offset,
            at=at,
        )
    )


__all__ = ["dead_letter"]
