"""Send a stream of events and labels through the SDK at a steady rate."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from contracts.records import Label, UserEvent
from producers.sdk import EventProducer, LabelProducer


class Pacer:
    """Hold ``rate`` calls of :meth:`wait` per second; a rate of 0 never waits.

    Waits aim at an absolute schedule, so a late call is followed by shorter waits
    rather than the lag adding up.

    Parameters
    ----------
    rate : float
        Calls per second; 0 for no limit.
    clock, sleep : callable
        Time source and sleeper, replaceable by fakes in tests.

    Examples
    --------
    >>> now = [0.0]
    >>> pacer = Pacer(2.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    >>> for _ in range(3):
    ...     pacer.wait()
    >>> now[0]
    1.0
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate < 0:
            raise ValueError(f"rate must be >= 0 events per second (0: no limit), got {rate}")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._count = 0

    def wait(self) -> None:
        if self.rate == 0:
            return
        if self._start is None:
            self._start = self._clock()
        delay = self._start + self._count / self.rate - self._clock()
        self._count += 1
        if delay > 0:
            self._sleep(delay)


@dataclass
class SendCounts:
    """Records handed to the producers so far (their delivery is in the producers' reports)."""

    events: int = 0
    labels: int = 0


def send_stream(
    records: Iterable[UserEvent | Label],
    *,
    events: EventProducer,
    labels: LabelProducer,
    pacer: Pacer | None = None,
    counts: SendCounts | None = None,
    progress: Callable[[SendCounts], None] | None = None,
    progress_every: int = 500,
) -> SendCounts:
    """Send each record to its topic; only events are paced, labels go as they fall due.

    Pass ``counts`` to keep what was sent when the loop is interrupted (Ctrl-C).
    """
    counts = counts if counts is not None else SendCounts()
    for record in records:
        if isinstance(record, UserEvent):
            if pacer is not None:
                pacer.wait()
            events.send_record(record)
            counts.events += 1
            if progress is not None and counts.events % progress_every == 0:
                progress(counts)
        else:
            labels.send_record(record)
            counts.labels += 1
    if progress is not None:
        progress(counts)
    return counts
