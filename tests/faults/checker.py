"""The fault suite's one checker: what went in, what came out, what went missing.

It reads ``user-events``, ``predictions`` and ``dead-letters`` from their start (by
assignment, no consumer group, like ``tests/integration/topic_reader.py``) and keeps
reading, so a test can ask for figures again while the stream runs.

An input record is *answered* by a prediction carrying its ``event_id`` or by a dead
letter pointing at its partition and offset. Records are grouped by event id (a
record without a readable id is a group of its own), because an id sent twice on
purpose is answered once by a prediction and once by a ``duplicate-event-id`` dead
letter. Per group of ``k`` records with ``p`` predictions and ``d`` dead letters:
predicted ``min(k, p)``, dead-lettered up to the rest, lost what neither answers,
duplicates every answer beyond ``k``.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

import msgspec
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from contracts.kafka_clients import KafkaRecord, common_config
from contracts.records import DeadLetter, FeatureSummary, PredictionSummary
from contracts.settings import Settings
from contracts.topics import Topics
from tests.integration.topic_reader import read_topic

S = TypeVar("S", FeatureSummary, PredictionSummary)


class _Id(msgspec.Struct):
    event_id: str


_ID = msgspec.json.Decoder(_Id)
_DEAD_LETTER = msgspec.json.Decoder(DeadLetter)


def event_id_of(value: bytes | None) -> str | None:
    """The ``event_id`` of a JSON object, or None for anything else."""
    try:
        return _ID.decode(value or b"").event_id
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None


class TopicTail:
    """Every record of one topic from its start; :meth:`drain` reads what has arrived."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        self.records: list[KafkaRecord] = []
        self._consumer = Consumer({**common_config(settings), "group.id": "fault-checker",
                                   "enable.auto.commit": False})
        partitions = self._consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def drain(self, quiet: float = 0.3, *, at_most: float | None = None) -> int:
        """Read until nothing arrives for ``quiet`` seconds; the number of new records.

        ``at_most`` ends the read after that many seconds, for a topic still being written.
        """
        new = 0
        deadline = time.monotonic() + at_most if at_most is not None else float("inf")
        while time.monotonic() < deadline and (batch := self._consumer.consume(5000, quiet)):
            for m in batch:
                if m.error():
                    continue
                self.records.append(KafkaRecord(
                    topic=m.topic(), partition=m.partition(), offset=m.offset(),
                    key=m.key(), value=m.value(), timestamp_ms=m.timestamp()[1],
                    headers=tuple(m.headers() or ())))
                new += 1
        return new

    def close(self) -> None:
        self._consumer.close()


@dataclass(frozen=True)
class Figures:
    """What a fault test prints and asserts on."""

    sent: int
    predicted: int
    dead_lettered: int
    lost: int
    duplicates: int
    duplicate_predictions: int = 0
    unknown_predictions: int = 0
    lost_examples: tuple[str, ...] = ()
    reasons: Counter[str] = field(default_factory=Counter)

    def line(self, **extra: object) -> str:
        figures = (f"sent={self.sent} predicted={self.predicted} "
                   f"dead-lettered={self.dead_lettered} lost={self.lost} "
                   f"duplicates={self.duplicates}")
        return " ".join([figures, *(f"{k.replace('_', '-')}={v}" for k, v in extra.items())])


class Checker:
    """Tails the input and both output topics of the scoring processor."""

    def __init__(self, settings: Settings) -> None:
        topics = Topics(settings.topic_prefix)
        self.input = TopicTail(settings, topics.user_events)
        self.predictions = TopicTail(settings, topics.predictions)
        self.dead_letters = TopicTail(settings, topics.dead_letters)

    def __enter__(self) -> Checker:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        for tail in (self.input, self.predictions, self.dead_letters):
            tail.close()

    def letters(self) -> list[DeadLetter]:
        return [_DEAD_LETTER.decode(r.value or b"") for r in self.dead_letters.records]

    def figures(self) -> Figures:
        """Read what arrived and count."""
        for tail in (self.input, self.predictions, self.dead_letters):
            tail.drain()
        return self._count()

    def settle(self, *, sent: int, timeout: float = 120.0, idle: float = 3.0) -> Figures:
        """Figures once ``sent`` records are in, none is lost and outputs stay quiet ``idle`` s.

        Waiting for quiet after the last answer lets late duplicates arrive and be counted.
        A count decodes every record read so far (over 100,000 after a failover test),
        so it runs once the topics have been quiet for ``idle`` s, not at every poll
        while the worker being waited for catches up.
        """
        tails = (self.input, self.predictions, self.dead_letters)
        deadline = time.monotonic() + timeout
        arrived, quiet_since = -1, time.monotonic()
        figures: Figures | None = None
        while True:
            for tail in tails:
                tail.drain()
            now = time.monotonic()
            if (total := sum(len(tail.records) for tail in tails)) != arrived:
                arrived, quiet_since, figures = total, now, None
            elif figures is None and now - quiet_since >= idle:
                figures = self._count()
                if figures.sent >= sent and figures.lost == 0:
                    return figures
            if now >= deadline:
                return figures or self._count()
            time.sleep(0.2)

    def _count(self) -> Figures:
        return count(self.input.records, self.predictions.records, self.letters())


def count(inputs: list[KafkaRecord], predictions: list[KafkaRecord],
          letters: list[DeadLetter]) -> Figures:
    """The figures of one run; see the module docstring for the rules."""
    input_topic = inputs[0].topic if inputs else None
    groups: dict[object, list[tuple[int, int]]] = defaultdict(list)
    for r in inputs:
        event_id = event_id_of(r.value)
        key = event_id if event_id is not None else ("at", r.partition, r.offset)
        groups[key].append((r.partition, r.offset))
    predicted_ids = Counter(_ID.decode(p.value or b"").event_id for p in predictions)
    at = Counter((d.source_partition, d.source_offset) for d in letters
                 if d.source_topic == input_topic)
    predicted = dead_lettered = lost = duplicates = 0
    lost_examples: list[str] = []
    for group, positions in groups.items():
        k = len(positions)
        p = predicted_ids.get(group, 0) if isinstance(group, str) else 0
        d_positions = sum(1 for pos in positions if at[pos])
        d_total = sum(at[pos] for pos in positions)
        answered_p = min(k, p)
        answered_d = min(k - answered_p, d_positions)
        missing = k - answered_p - answered_d
        predicted += answered_p
        dead_lettered += answered_d
        lost += missing
        duplicates += p + d_total - answered_p - answered_d
        if missing and len(lost_examples) < 10:
            lost_examples.append(f"{group} at {positions}")
    repeated = sum(n - 1 for n in predicted_ids.values())
    unknown = sum(n for event_id, n in predicted_ids.items() if event_id not in groups)
    return Figures(sent=len(inputs), predicted=predicted, dead_lettered=dead_lettered,
                   lost=lost, duplicates=duplicates, duplicate_predictions=repeated,
                   unknown_predictions=unknown,
                   lost_examples=tuple(lost_examples),
                   reasons=Counter(d.reason for d in letters))


def summaries_of(settings: Settings) -> list[FeatureSummary]:
    """Every record of ``feature-summaries``, each partition's in its order. Read once the
    predictions are settled: a batch's summaries go out with its predictions."""
    return _read_all(settings, Topics(settings.topic_prefix).feature_summaries, FeatureSummary)


def prediction_summaries_of(settings: Settings) -> list[PredictionSummary]:
    """Every record of ``prediction-summaries``, as :func:`summaries_of`."""
    return _read_all(settings, Topics(settings.topic_prefix).prediction_summaries,
                     PredictionSummary)


def _read_all(settings: Settings, topic: str, kind: type[S]) -> list[S]:
    decoder = msgspec.json.Decoder(kind)
    records = read_topic(settings, topic, idle=2.0)
    return [decoder.decode(r.value)
            for r in sorted(records, key=lambda r: (r.partition, r.offset))]
