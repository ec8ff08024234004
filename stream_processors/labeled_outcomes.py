"""The joiner's ``labeled-outcomes``: what the monitor reads of the labeled events it wrote.

A labeled event carries the event's features, which the monitor does not need: it
reads each one's id, version, label, score and event time, and decoding 400 bytes of
JSON per event cost it more than judging them. So the joiner also writes, per
``labeled-events`` partition, those five columns of the labeled events it wrote since
its last commit (:class:`~contracts.records.LabeledOutcomes`, at most
:data:`~contracts.records.MAX_OUTCOMES` a record).

An outcomes record names the offsets its labeled events got, which the monitor's alerts
name where a change began (and the retrainer trains from). Those are known once the
broker has acknowledged the labeled events, so :class:`OutcomeBuffer` holds them until
the runtime's commit has waited for every output, then makes the records, which are
acknowledged in turn before the offsets commit. A crash between the two leaves labeled
events without outcomes; the worker that restores their partition writes the outcomes
of every labeled event after the last one an outcomes record covers
(:func:`outcomes_after`). The monitor counts an event id once, so outcomes written twice
are harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import msgspec

from contracts.kafka_clients import KafkaRecord
from contracts.records import MAX_OUTCOMES, LabeledEvent, LabeledOutcomes

logger = logging.getLogger(__name__)

_ENCODER = msgspec.json.Encoder()
_OUTCOMES = msgspec.json.Decoder(LabeledOutcomes)
_LABELED = msgspec.json.Decoder(LabeledEvent)

Output = tuple[bytes | None, bytes, int]  # key, value, partition


@dataclass
class _Written:
    """One partition's labeled events sent since the last commit, and what the broker
    said of them."""

    events: list[LabeledEvent] = field(default_factory=list)
    first: int | None = None
    last: int | None = None
    acknowledged: int = 0
    refused: bool = False  # sent again: their offsets may not follow the order sent


class OutcomeBuffer:
    """Labeled events sent, per partition, until their outcomes are made.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> e = [LabeledEvent(event_id=f"e{i}", user_id="u", features={}, label=i % 2,
    ...                   score=0.5, version=1, ts=t) for i in range(3)]
    >>> buffer = OutcomeBuffer()
    >>> buffer.hold(0, e)
    >>> for offset in (40, 41, 42):
    ...     buffer.delivered(0, offset)
    >>> [(_, value, partition)] = buffer.take()
    >>> o = _OUTCOMES.decode(value)
    >>> partition, o.first_offset, o.last_offset, o.consecutive, o.event_ids, o.labels
    (0, 40, 42, True, ['e0', 'e1', 'e2'], [0, 1, 0])
    """

    def __init__(self) -> None:
        self._written: dict[int, _Written] = {}

    def hold(self, partition: int, labeled: Sequence[LabeledEvent]) -> None:
        """Labeled events about to be sent to ``partition``, in the order sent."""
        if labeled:
            self._written.setdefault(partition, _Written()).events.extend(labeled)

    def delivered(self, partition: int, offset: int | None) -> None:
        """The broker's word on one labeled event sent to ``partition``: its offset, or
        None when it refused it (it is sent again)."""
        written = self._written.get(partition)
        if written is None:  # forgotten since it was sent
            return
        if offset is None:
            written.refused = True
            return
        written.acknowledged += 1
        written.first = offset if written.first is None else min(written.first, offset)
        written.last = offset if written.last is None else max(written.last, offset)

    def take(self) -> list[Output]:
        """The outcomes of every labeled event held, once all are acknowledged."""
        out: list[Output] = []
        written, self._written = self._written, {}
        for partition, w in sorted(written.items()):
            n = len(w.events)
            if w.first is None or w.last is None or w.acknowledged < n:
                # Unreachable after the runtime's wait; said rather than guessed at.
                logger.error("partition=%d: %d labeled events without the broker's word on "
                             "each; their outcomes are left to the partition's next restore",
                             partition, n)
                continue
            consecutive = not w.refused and w.last - w.first + 1 == n
            out += encode_outcomes(partition, w.events,
                                   [w.first + i for i in range(n)] if consecutive else None,
                                   (w.first, w.last))
        return out

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop what is held for ``partitions`` (lost to another worker, which restores
        them and writes the outcomes that are missing)."""
        for partition in partitions:
            self._written.pop(partition, None)


def encode_outcomes(partition: int, events: Sequence[LabeledEvent], offsets: Sequence[int] | None,
                    bounds: tuple[int, int]) -> list[Output]:
    """``events`` of ``partition`` as outcomes records of at most ``MAX_OUTCOMES``: at
    ``offsets`` (event ``i`` at ``offsets[i]``) where known, else only within ``bounds``."""
    out: list[Output] = []
    for lo in range(0, len(events), MAX_OUTCOMES):
        run = events[lo:lo + MAX_OUTCOMES]
        if offsets is not None:
            first, last = offsets[lo], offsets[lo + len(run) - 1]
            consecutive = last - first + 1 == len(run)
        else:
            (first, last), consecutive = bounds, False
        out.append((None, _ENCODER.encode(LabeledOutcomes(
            partition=partition, first_offset=first, last_offset=last, consecutive=consecutive,
            event_ids=[e.event_id for e in run], versions=[e.version for e in run],
            labels=[e.label for e in run], scores=[e.score for e in run],
            ts=[e.ts.timestamp() for e in run])), partition))
    return out


def outcomes_after(labeled: Sequence[KafkaRecord], outcomes: Sequence[KafkaRecord],
                   partition: int) -> list[Output]:
    """The outcomes of the labeled events read back from ``partition`` that no outcomes
    record read back covers: those after the last offset one names (all of them when
    none was read). Records that do not decode are skipped."""
    covered = -1
    for record in outcomes:
        try:
            covered = max(covered, _OUTCOMES.decode(record.value or b"").last_offset)
        except msgspec.DecodeError:
            continue
    events: list[LabeledEvent] = []
    offsets: list[int] = []
    for record in labeled:
        if record.offset <= covered:
            continue
        try:
            events.append(_LABELED.decode(record.value or b""))
        except msgspec.DecodeError:
            continue
        offsets.append(record.offset)
    if not events:
        return []
    return encode_outcomes(partition, events, offsets, (offsets[0], offsets[-1]))


__all__ = ["OutcomeBuffer", "encode_outcomes", "outcomes_after"]
