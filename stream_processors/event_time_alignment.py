"""Read co-partitioned topics in step by event time, so a backlog joins as live traffic does.

On a backlog, librdkafka fetches each partition as fast as its bytes allow: small
labels run far ahead of large events, so labels wait for events the joiner has not
read yet, and its bounded stores fill and dead-letter what would have joined. Kafka
Streams avoids this by picking the record with the smallest timestamp next; with
librdkafka's consumer the same effect comes from pausing a partition whose event
time is ahead of a lagging one of its partition number, and resuming it once the
lagging one has caught up.

Pausing purges what librdkafka had fetched for the partition, and a batch of 2,000
records can span minutes of event time, so reading in step costs throughput: a topic
is paused only while the store its records wait in is crowded (the caller says when),
and with hysteresis: past ``lead_seconds`` ahead, resumed within half of that. Nothing
can hold a partition paused for long: a lagging partition counts only while it has
records left to read (its offset is below the high watermark) and while it moves
(it was read from within ``stall_seconds``). Event times come from records anyone can
write, so a time in the future counts as now, and a time in the past never takes a
partition's event time back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

DEFAULT_LEAD_SECONDS: Final = 10.0
DEFAULT_STALL_SECONDS: Final = 10.0

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class _Progress:
    event_time: float  # -inf until a record of the partition is read
    next_offset: int
    moved_at: float
    end: int | None = None  # the high watermark when assigned, until a fetch tells more


class EventTimeAlignment:
    """Which partitions to pause and resume; no Kafka, the caller applies the answer.

    >>> a = EventTimeAlignment(["events", "labels"], lead_seconds=10)
    >>> a.observe({("events", 0): 5, ("labels", 0): 900},
    ...           {("events", 0): 1000.0, ("labels", 0): 1500.0}, now=2000.0)
    >>> high = {("events", 0): 50, ("labels", 0): 901}
    >>> a.decide(lambda t, p: high[(t, p)], lambda t, p: True, now=2000.0)
    ([('labels', 0)], [])
    >>> a.observe({("events", 0): 50}, {("events", 0): 1496.0}, now=2001.0)
    >>> a.decide(lambda t, p: high[(t, p)], lambda t, p: True, now=2001.0)
    ([], [('labels', 0)])
    """

    def __init__(self, topics: Sequence[str], *, lead_seconds: float = DEFAULT_LEAD_SECONDS,
                 stall_seconds: float = DEFAULT_STALL_SECONDS) -> None:
        self.topics = frozenset(topics)
        self.lead_seconds = lead_seconds
        self.stall_seconds = stall_seconds
        self.paused: set[TopicPartition] = set()
        self._progress: dict[TopicPartition, _Progress] = {}

    def expect(self, tp: TopicPartition, *, next_offset: int, end: int | None,
               now: float) -> None:
        """A newly assigned partition, to be read from ``next_offset`` up to ``end``: until
        its first record is read, it holds back every other topic of its partition
        number, since nothing says how far ahead of it they are."""
        if tp[0] in self.topics:
            self._progress[tp] = _Progress(-float("inf"), next_offset, now, end)

    def observe(self, next_offsets: Mapping[TopicPartition, int],
                event_times: Mapping[TopicPartition, datetime | float], *, now: float) -> None:
        """Note what a batch read: the offset after it and the event time it reached."""
        for tp, when in event_times.items():
            if tp[0] not in self.topics:
                continue
            seconds = min(when if isinstance(when, float) else when.timestamp(), now)
            found = self._progress.get(tp)
            if found is None:
                self._progress[tp] = _Progress(seconds, next_offsets.get(tp, 0), now)
            elif seconds > found.event_time:
                found.event_time = seconds
        for tp, offset in next_offsets.items():
            found = self._progress.get(tp)
            if found is not None and offset > found.next_offset:
                found.next_offset, found.moved_at = offset, now

    def decide(self, high_watermark: Callable[[str, int], int | None],
               crowded: Callable[[str, int], bool], *, now: float) \
            -> tuple[list[TopicPartition], list[TopicPartition]]:
        """The partitions to pause and those to resume now (each sorted).

        ``high_watermark`` gives a partition's end as last seen, or None if unknown;
        a partition of unknown end holds nothing back. ``crowded`` says whether the
        store a partition's records wait in is crowded; only then is it paused.
        """
        floors: dict[int, float] = {}
        for tp, progress in self._progress.items():
            if tp in self.paused or now - progress.moved_at > self.stall_seconds:
                continue
            end = high_watermark(*tp)
            end = progress.end if end is None else end
            if end is None or progress.next_offset >= end:
                continue
            floor = floors.get(tp[1])
            if floor is None or progress.event_time < floor:
                floors[tp[1]] = progress.event_time
        pause, resume = [], []
        for tp, progress in self._progress.items():
            floor = floors.get(tp[1])
            if progress.event_time == -float("inf"):
                continue  # not read yet: never ahead
            ahead = -float("inf") if floor is None else progress.event_time - floor
            if tp in self.paused:
                if ahead <= self.lead_seconds / 2:
                    resume.append(tp)
            elif ahead > self.lead_seconds and crowded(*tp):
                pause.append(tp)
        self.paused.update(pause)
        self.paused.difference_update(resume)
        return sorted(pause), sorted(resume)

    def forget(self, partitions: Iterable[int]) -> list[TopicPartition]:
        """Drop what is known of these partition numbers; those of them paused, to resume."""
        gone = set(partitions)
        released = sorted(tp for tp in self.paused if tp[1] in gone)
        self.paused.difference_update(released)
        self._progress = {tp: p for tp, p in self._progress.items() if tp[1] not in gone}
        return released


__all__ = ["DEFAULT_LEAD_SECONDS", "DEFAULT_STALL_SECONDS", "EventTimeAlignment"]
