"""The joiner's ``labeled-outcomes``: what the monitor reads of the labeled events it wrote.

A labeled event carries the event's features, which the monitor does not need: it
reads each one's id, version, label, score and event time, and decoding 400 bytes of
JSON per event cost it more than judging them. So the joiner also writes, per
``labeled-events`` partition, those five columns of the labeled events it wrote since
its last commit (:class:`~contracts.records.LabeledOutcomes`, at most
:data:`~contracts.records.MAX_OUTCOMES` a record), the numbers packed
(:mod:`contracts.packed`).

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
from contracts.packed import FLOAT, LABEL, VERSION, pack
from contracts.records import MAX_OUTCOMES, LabeledEvent, LabeledOutcomes

logger = logging.getLogger(__name__)

_ENCODER = msgspec.json.Encoder()
_OUTCOMES = msgspec.json.Decoder(LabeledOutcomes)
_LABELED = msgspec.json.Decoder(LabeledEvent)

Output = tuple[bytes | None, bytes, int]  # key, value, partition


@dataclass(slots=True)
class Outcomes:
    """The five columns the monitor reads of some labeled events, in their order: held
    without the features, which can be many times their size."""

    event_ids: list[str] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, events: Iterable[LabeledEvent]) -> Outcomes:
        held = cls()
        held.extend(events)
        return held

    def extend(self, events: Iterable[LabeledEvent]) -> None:
        for e in events:
            self.event_ids.append(e.event_id)
            self.versions.append(e.version)
            self.labels.append(e.label)
            self.scores.append(e.score)
            self.ts.append(e.ts.timestamp())

    def __len__(self) -> int:
        return len(self.event_ids)


@dataclass
class _Written:
    """One partition's labeled events sent since the last commit, and what the broker
    said of them."""

    outcomes: Outcomes = field(default_factory=Outcomes)
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
    >>> partition, o.first_offset, o.last_offset, o.consecutive, o.event_ids, list(o.labels)
    (0, 40, 42, True, ['e0', 'e1', 'e2'], [0, 1, 0])
    """

    def __init__(self) -> None:
        self._written: dict[int, _Written] = {}

    def hold(self, partition: int, labeled: Sequence[LabeledEvent]) -> None:
        """Labeled events about to be sent to ``partition``, in the order sent."""
        if labeled:
            self._written.setdefault(partition, _Written()).outcomes.extend(labeled)

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
            n = len(w.outcomes)
            if w.first is None or w.last is None or w.acknowledged < n:
                # Unreachable after the runtime's wait; said rather than guessed at.
                logger.error("partition=%d: %d labeled events without the broker's word on "
                             "each; their outcomes are left to the partition's next restore",
                             partition, n)
                continue
            if not w.refused and w.last - w.first + 1 == n:
                out += encode_outcomes(partition, w.outcomes, range(w.first, w.last + 1))
            else:
                out += encode_outcomes(partition, w.outcomes, within=(w.first, w.last))
        return out

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop what is held for ``partitions`` (lost to another worker, which restores
        them and writes the outcomes that are missing)."""
        for partition in partitions:
            self._written.pop(partition, None)


def encode_outcomes(partition: int, held: Outcomes, offsets: Sequence[int] | None = None, *,
                    within: tuple[int, int] | None = None) -> list[Output]:
    """The labeled events ``held`` of ``partition`` as outcomes records of at most
    ``MAX_OUTCOMES``: event ``i`` at ``offsets[i]``, or, when their offsets are not known
    one by one, all somewhere ``within`` a first and a last offset.

    >>> held = Outcomes(["a", "b"], [1, 1], [0, 1], [0.2, 0.9], [1.8e9, 1.8e9])
    >>> [(_, one, _)] = encode_outcomes(0, held, [7, 8])
    >>> [(_, other, _)] = encode_outcomes(0, held, within=(7, 9))
    >>> [(o.first_offset, o.last_offset, o.consecutive) for o in map(_OUTCOMES.decode,
    ...                                                             (one, other))]
    [(7, 8, True), (7, 9, False)]
    """
    out: list[Output] = []
    for lo in range(0, len(held), MAX_OUTCOMES):
        hi = min(lo + MAX_OUTCOMES, len(held))
        if offsets is not None:
            first, last = offsets[lo], offsets[hi - 1]
            consecutive = last - first + 1 == hi - lo
        elif within is not None:
            (first, last), consecutive = within, False
        else:
            raise ValueError("encode_outcomes needs the offsets, or a span they lie within")
        out.append((None, _ENCODER.encode(LabeledOutcomes(
            partition=partition, first_offset=first, last_offset=last, consecutive=consecutive,
            event_ids=held.event_ids[lo:hi], versions=pack(held.versions[lo:hi], VERSION),
            labels=pack(held.labels[lo:hi], LABEL), scores=pack(held.scores[lo:hi], FLOAT),
            ts=pack(held.ts[lo:hi], FLOAT))),
            partition))
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
    return encode_outcomes(partition, Outcomes.of(events), offsets)


__all__ = ["OutcomeBuffer", "Outcomes", "encode_outcomes", "outcomes_after"]
