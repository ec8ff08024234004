"""The training window: recent labeled events, bounded by count, bytes and event-time age.

Each labeled event is kept once (by ``event_id``: a replayed or re-joined event does
not count twice), with the topic, partition and offset it was read from so a model
trained on the window can name its lineage.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from contracts.change_point import ChangePoint
from contracts.records import LabeledEvent, TopicRange
from scorer.datasets import TrainingRow

# Per held event beyond its encoded bytes: the key, the ordered dict's node, the entry.
ENTRY_OVERHEAD_BYTES = 512
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class WindowEntry:
    """One labeled event in the window and where it was read."""

    event: LabeledEvent
    topic: str
    partition: int
    offset: int

    def row(self) -> TrainingRow:
        return TrainingRow(dict(self.event.features), self.event.label, self.event.ts)

    def after(self, change: ChangePoint) -> bool:
        """At or after ``change``: by event time, and by offset where the change names one."""
        first = change.offset_of(self.topic, self.partition)
        return self.event.ts >= change.at and (first is None or self.offset >= first)


@dataclass(frozen=True, slots=True)
class WindowSnapshot:
    """An immutable copy of the window, in event-time order, for a training job."""

    entries: tuple[WindowEntry, ...]

    def __len__(self) -> int:
        return len(self.entries)

    def rows(self) -> list[TrainingRow]:
        return [e.row() for e in self.entries]

    def lineage(self) -> list[TopicRange]:
        """First and last offset per partition the snapshot holds, sorted by topic and partition."""
        spans: dict[tuple[str, int], tuple[int, int]] = {}
        for e in self.entries:
            first, last = spans.get((e.topic, e.partition), (e.offset, e.offset))
            spans[(e.topic, e.partition)] = (min(first, e.offset), max(last, e.offset))
        return [TopicRange(topic=t, partition=p, first=f, last=last)
                for (t, p), (f, last) in sorted(spans.items())]

    def since(self, change: ChangePoint | None) -> WindowSnapshot:
        """Only the events at or after ``change`` (all of them when it is unknown)."""
        if change is None:
            return self
        return WindowSnapshot(tuple(e for e in self.entries if e.after(change)))

    def split(self, holdout_fraction: float) -> tuple[WindowSnapshot, WindowSnapshot]:
        """The older part and the most recent ``holdout_fraction`` (never a random split)."""
        n_holdout = max(1, round(len(self.entries) * holdout_fraction))
        cut = len(self.entries) - n_holdout
        return WindowSnapshot(self.entries[:cut]), WindowSnapshot(self.entries[cut:])

    @property
    def span(self) -> tuple[datetime, datetime] | None:
        if not self.entries:
            return None
        return self.entries[0].event.ts, self.entries[-1].event.ts


class TrainingWindow:
    """Recent labeled events, deduplicated by event id, bounded by count and by age.

    Parameters
    ----------
    max_events : int
        The oldest arrivals leave first when more are held.
    max_age : timedelta
        Events older (event time) than this before the newest one held leave.
    max_bytes : int, optional
        The oldest arrivals leave first while the events' encoded bytes, plus
        ``ENTRY_OVERHEAD_BYTES`` each, exceed this (they stay on the topic).

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> def labeled(i):
    ...     return LabeledEvent(event_id=f"e{i}", user_id="u", features={"x": float(i)},
    ...                         label=i % 2, score=0.5, version=1, ts=t0 + timedelta(hours=i))
    >>> window = TrainingWindow(max_events=3, max_age=timedelta(hours=10))
    >>> [window.add(labeled(i), "labeled-events", 0, i) for i in (0, 1, 1, 2, 3)]
    [True, True, False, True, True]
    >>> [e.event.event_id for e in window.snapshot().entries]
    ['e1', 'e2', 'e3']
    >>> window.snapshot().lineage()[0].first, window.snapshot().lineage()[0].last
    (1, 3)
    """

    def __init__(self, *, max_events: int, max_age: timedelta,
                 max_bytes: int | None = None) -> None:
        if max_events < 1 or max_age <= timedelta(0) or (max_bytes is not None and max_bytes < 1):
            raise ValueError(f"expected max_events >= 1, a positive max_age and max_bytes, got "
                             f"{max_events}, {max_age} and {max_bytes}")
        self.max_events = max_events
        self.max_age = max_age
        self.max_bytes = max_bytes
        self.bytes = 0
        self.left_for_bytes = 0  # events pushed out by max_bytes, for a metric or log
        self._entries: OrderedDict[str, WindowEntry] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._newest: datetime | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[WindowEntry]:
        return iter(self._entries.values())

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._entries

    def add(self, event: LabeledEvent, topic: str, partition: int, offset: int,
            size: int | None = None) -> bool:
        """Hold ``event``; False when it was already held (a duplicate) or is too old.

        ``size`` is its message's length; it is encoded again when not given.
        """
        if event.event_id in self._entries:
            return False
        if self._newest is not None and event.ts < self._newest - self.max_age:
            return False
        self._entries[event.event_id] = WindowEntry(event, topic, partition, offset)
        size = ENTRY_OVERHEAD_BYTES + (len(_ENCODER.encode(event)) if size is None else size)
        self._sizes[event.event_id] = size
        self.bytes += size
        if self._newest is None or event.ts > self._newest:
            self._newest = event.ts
        self._evict()
        return True

    def snapshot(self) -> WindowSnapshot:
        """The events held and young enough, in event-time order (ties keep arrival order)."""
        oldest_kept = self._oldest_kept()
        kept = (e for e in self._entries.values()
                if oldest_kept is None or e.event.ts >= oldest_kept)
        return WindowSnapshot(tuple(sorted(kept, key=lambda e: e.event.ts)))

    def _oldest_kept(self) -> datetime | None:
        return None if self._newest is None else self._newest - self.max_age

    def _evict(self) -> None:
        while len(self._entries) > self.max_events:
            self._pop_oldest()
        while self.max_bytes is not None and self.bytes > self.max_bytes and self._entries:
            self._pop_oldest()
            self.left_for_bytes += 1
        oldest_kept = self._oldest_kept()
        # Arrival order is close to event-time order, so the old ones sit at the front;
        # a rare straggler further in is left out by ``snapshot`` and leaves by count.
        while oldest_kept and self._entries and \
                next(iter(self._entries.values())).event.ts < oldest_kept:
            self._pop_oldest()

    def _pop_oldest(self) -> None:
        event_id, _ = self._entries.popitem(last=False)
        self.bytes -= self._sizes.pop(event_id)
