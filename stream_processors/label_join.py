"""Labels meet their scored events: pure join logic with bounded, time-limited stores.

An event's features (from ``user-events``) and its champion or canary score (from
``predictions``) wait for the label; a label that arrives first waits for them. One
join holds one partition number; the joiner brings every piece of a join to the same
one (:mod:`stream_processors.repartition`). Each store is bounded by count and by age.

The three topics are read side by side, so their records meet in any order: a
prediction may be read before its event, a label before both. Whatever arrives
first waits for the rest; the first of each piece wins and later copies are counted
as duplicates. A joined event id is remembered (bounded) so a replayed label, event
or prediction never yields a second labeled event.

Besides their counts, the stores of one join share a budget in bytes: each entry
counts its records' encoded size plus a fixed overhead, and past the budget the
oldest entry of either store leaves, reported so it is dead-lettered, not lost.

The labeled event's ``ts`` is the event's time, when its features were observed
and its score given; how long the label took is reported as ``label_delays``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

import msgspec

from contracts.bounded_ids import RecentIds
from contracts.kafka_clients import KafkaRecord
from contracts.records import Features, Label, LabeledEvent, Prediction, UserEvent
from stream_processors.aged_store import AgedStore

NO_SCORED_EVENT = "no-scored-event"
LABEL_STORE_FULL = "label-store-full"
MEMORY_BUDGET_FULL = "memory-budget-full"
UNMATCHED_REASONS = (NO_SCORED_EVENT, LABEL_STORE_FULL, MEMORY_BUDGET_FULL)
# Per stored entry beyond its records' bytes: the key, the store's tuple and slot,
# the dataclass, the decoded fields' object headers.
ENTRY_OVERHEAD_BYTES: Final = 512

_ENCODER = msgspec.json.Encoder()


# Not frozen, like KafkaRecord: built twice for every event joined.
@dataclass(slots=True)
class Scored:
    """What is known of one event so far: its features, its score, or both."""

    features: Features | None = None
    ts: datetime | None = None
    score: float | None = None
    version: int | None = None
    user_id: str | None = None
    model: str | None = None


@dataclass(slots=True)
class Waiting:
    """A label waiting for its scored event, with the message it came in."""

    label: Label
    origin: KafkaRecord | None = None


@dataclass(frozen=True)
class Unmatched:
    """A label that will never be joined, why (a fixed code) and in words."""

    label: Label
    reason: str
    error: str
    origin: KafkaRecord | None = None


@dataclass(frozen=True)
class Evicted:
    """An unlabeled event or prediction pushed out by the memory budget, and why."""

    event_id: str
    scored: Scored
    error: str


@dataclass
class JoinOutput:
    """What feeding the join produced; the caller sends and counts it."""

    labeled: list[LabeledEvent] = field(default_factory=list)
    unmatched_labels: list[Unmatched] = field(default_factory=list)
    label_delays: list[tuple[str, float]] = field(default_factory=list)  # (model, seconds)
    duplicates: Counter[str] = field(default_factory=Counter)
    events_dropped: Counter[str] = field(default_factory=Counter)
    evicted_events: list[Evicted] = field(default_factory=list)


class LabelJoin:
    """The join's state; feed it records in arrival order, collect what it emits.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> join, out = LabelJoin(label_wait_seconds=5), JoinOutput()
    >>> join.on_label(Label(event_id="e1", user_id="u1", ts=t, label=1), 0.0, out)
    >>> join.on_event(UserEvent(event_id="e1", user_id="u1", ts=t, features={"x": 1.0}), 1.0, out)
    >>> join.on_prediction(Prediction(event_id="e1", user_id="u1", ts=t, model="m", version=2,
    ...     route="champion", score=0.8, decision=1, scored_at=t), 2.0, out)
    >>> [(e.event_id, e.label, e.score, e.version) for e in out.labeled]
    [('e1', 1, 0.8, 2)]
    """

    def __init__(self, *, capacity: int = 200_000, ttl_seconds: float = 3600.0,
                 label_wait_seconds: float = 30.0, partition: int | None = None,
                 max_bytes: int | None = None) -> None:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"expected max_bytes >= 1 or None, got {max_bytes}")
        self.partition = partition  # named in dead letters
        self.max_bytes = max_bytes
        self.events: AgedStore[Scored] = AgedStore(capacity=capacity, ttl_seconds=ttl_seconds)
        self.waiting_labels: AgedStore[Waiting] = AgedStore(
            capacity=capacity, ttl_seconds=label_wait_seconds
        )
        self.joined = RecentIds(capacity=capacity)

    def on_event(self, event: UserEvent, now: float, out: JoinOutput,
                 size: int | None = None) -> None:
        """Feed an event; ``size`` is its message's length (encoded again when not given)."""
        known = self.events.get(event.event_id) or Scored()
        if event.event_id in self.joined or known.features is not None:
            out.duplicates["event"] += 1
            return
        # Built whole: dataclasses.replace cost more than the rest of this method.
        scored = Scored(features=event.features, ts=event.ts, score=known.score,
                        version=known.version, user_id=event.user_id, model=known.model)
        self._store(event.event_id, scored, _size(event, size), now, out)
        self._try_join(event.event_id, out)

    def on_prediction(self, prediction: Prediction, now: float, out: JoinOutput,
                      size: int | None = None) -> None:
        if prediction.route == "shadow":
            return  # the shadow model's score was never acted on
        known = self.events.get(prediction.event_id) or Scored()
        if prediction.event_id in self.joined or known.score is not None:
            out.duplicates["prediction"] += 1
            return
        self._store(prediction.event_id, Scored(
            features=known.features, ts=known.ts or prediction.ts, score=prediction.score,
            version=prediction.version, user_id=prediction.user_id, model=prediction.model,
        ), _size(prediction, size), now, out)
        self._try_join(prediction.event_id, out)

    def on_label(self, label: Label, now: float, out: JoinOutput,
                 origin: KafkaRecord | None = None) -> None:
        if label.event_id in self.joined or label.event_id in self.waiting_labels:
            out.duplicates["label"] += 1
            return
        size = ENTRY_OVERHEAD_BYTES + (len(origin.value or b"") if origin else _size(label, None))
        full = self.waiting_labels.put(label.event_id, Waiting(label, origin), now=now, size=size)
        for _, dropped in full:
            out.unmatched_labels.append(Unmatched(
                dropped.label, LABEL_STORE_FULL,
                f"{self.waiting_labels.capacity} labels were already waiting for their "
                "events; raise the capacity or check that predictions are flowing",
                dropped.origin,
            ))
        self._keep_budget(out)
        self._try_join(label.event_id, out)

    def crowded(self, *, labels: bool) -> bool:
        """Whether the store labels (or else events and predictions) wait in is over half
        full, by count or by the byte budget: reading more of them ahead risks pushing
        out what would have joined.

        >>> join = LabelJoin(capacity=4)
        >>> for i in range(3):
        ...     join.waiting_labels.put(f"e{i}", None, now=0.0)
        []
        []
        []
        >>> join.crowded(labels=True), join.crowded(labels=False)
        (True, False)
        """
        store = self.waiting_labels if labels else self.events
        if len(store) > store.capacity // 2:
            return True
        return self.max_bytes is not None and \
            2 * (self.events.bytes + self.waiting_labels.bytes) > self.max_bytes

    def expire(self, now: float, out: JoinOutput) -> None:
        """Give up on labels that waited too long and forget events nobody labeled."""
        for event_id, waiting in self.waiting_labels.expire(now=now):
            out.unmatched_labels.append(Unmatched(
                waiting.label, NO_SCORED_EVENT, self._why_unmatched(event_id, waiting),
                waiting.origin,
            ))
        expired = self.events.expire(now=now)
        if expired:
            out.events_dropped["expired"] += len(expired)

    def _store(self, event_id: str, scored: Scored, size: int, now: float,
               out: JoinOutput) -> None:
        # An event pushed out of a full store can no longer be joined; its label,
        # if it comes, is dead-lettered when it has waited long enough.
        size += self.events.size_of(event_id) or ENTRY_OVERHEAD_BYTES
        evicted = self.events.put(event_id, scored, now=now, size=size)
        if evicted:
            out.events_dropped["store-full"] += len(evicted)
        self._keep_budget(out)

    def _keep_budget(self, out: JoinOutput) -> None:
        """Push out the oldest entries, events or labels, until both stores fit the budget."""
        if self.max_bytes is None:
            return
        while self.events.bytes + self.waiting_labels.bytes > self.max_bytes:
            event_time, label_time = self.events.oldest_time(), self.waiting_labels.oldest_time()
            full = f"joiner memory budget of {self.max_bytes} bytes full"
            if label_time is None or (event_time is not None and event_time <= label_time):
                event_id, scored = self.events.pop_oldest()
                out.evicted_events.append(Evicted(
                    event_id, scored, f"{full}: oldest waiting event evicted before its label "
                    "came; raise STREAMML_JOINER_MEMORY_BUDGET_BYTES or send labels sooner"))
                out.events_dropped[MEMORY_BUDGET_FULL] += 1
            else:
                _, waiting = self.waiting_labels.pop_oldest()
                out.unmatched_labels.append(Unmatched(
                    waiting.label, MEMORY_BUDGET_FULL,
                    f"{full}: oldest waiting label evicted before its scored event came",
                    waiting.origin))

    def _why_unmatched(self, event_id: str, waiting: Waiting) -> str:
        known = self.events.get(event_id)
        where = "" if self.partition is None else f" in partition {self.partition}"
        wait = f"within the {self.waiting_labels.ttl_seconds:g}s label wait"
        label = _described(waiting)
        if known is None:
            return (f"no event with id `{event_id}` was seen{where} {wait}, nor in the "
                    f"{self.events.ttl_seconds:g}s before ({label}); send each event, keyed "
                    "by its user_id, before its label")
        if known.score is None:
            return (f"event `{event_id}` was seen{where} but no champion or canary prediction "
                    f"of it {wait} ({label}); it may have been dead-lettered when scored")
        return (f"the prediction for `{event_id}` was seen{where} but not its event "
                f"{wait} ({label})")

    def _try_join(self, event_id: str, out: JoinOutput) -> None:
        scored = self.events.get(event_id)
        waiting = self.waiting_labels.get(event_id)
        if scored is None or waiting is None:
            return
        features, ts, score, version = scored.features, scored.ts, scored.score, scored.version
        if features is None or ts is None or score is None or version is None:
            return
        self.waiting_labels.pop(event_id)
        self.events.pop(event_id)
        self.joined.add(event_id)
        label = waiting.label
        out.labeled.append(LabeledEvent(
            event_id=event_id, user_id=label.user_id, features=features,
            label=label.label, score=score, version=version, ts=ts,
        ))
        out.label_delays.append((scored.model or "unknown", (label.ts - ts).total_seconds()))


def _size(record: UserEvent | Prediction | Label, size: int | None) -> int:
    return len(_ENCODER.encode(record)) if size is None else size


def _described(waiting: Waiting) -> str:
    """Where a label was read and its key, for a dead letter's message."""
    origin = waiting.origin
    if origin is None:
        return f"label of user `{waiting.label.user_id}`"
    key = "no key" if origin.key is None else f"key `{origin.key.decode(errors='replace')}`"
    return f"label from `{origin.topic}` partition {origin.partition}, {key}"
