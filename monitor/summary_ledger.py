"""Which summaries the monitor counted lately, so that events scored again count once.

The scoring processor is at-least-once: after a crash or a hand-over, a worker scores
a partition again from its group's last commit, and summarises those events again.
Its runtime commits only at the ends of batches, and a summary never spans two
batches, so a repeat starts where a summary the monitor already counted started.
The ledger keeps the recent summaries of each key (feature summaries: version and
partition; prediction summaries: version, route and partition); a summary that starts
at or before the last offset counted there takes back every kept summary from its
start on, and the counts stay exact. A summary that starts inside a counted one (the
faust runner commits where faust does, not at batch ends) cannot be taken back in
part: the overlap is counted twice and said so (``straddled``).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Final

from contracts.records import FeatureSummary, PredictionSummary, RunSummary

# Summaries kept per (version, partition): 12,800 events at most 100 a summary, well
# past what a crash repeats (a commit every 0.25 s or 10,000 events).
KEPT_PER_PARTITION: Final = 128
# Keys kept: partition numbers are the writer's to choose.
MAX_KEYS: Final = 1024


def by_version(summary: FeatureSummary) -> Hashable:
    """A feature summary's key: its version's events of one partition."""
    return (summary.version, summary.partition)


def by_route(summary: PredictionSummary) -> Hashable:
    """A prediction summary's key: its version's predictions on one route, of one
    partition's events."""
    return (summary.version, summary.route, summary.partition)


@dataclass(slots=True)
class Counted:
    """A counted summary, and how to take it back out of what it went into."""

    summary: RunSummary
    take_back: Callable[[], None]


@dataclass
class Repeat:
    """What a summary's arrival takes back."""

    taken: list[Counted] = field(default_factory=list)
    straddled: bool = False  # it started inside a counted summary
    beyond_memory: bool = False  # it started before the oldest summary kept


class SummaryLedger:
    """Recent counted summaries per key (``key(summary)``).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> def summary(first, last):
    ...     return FeatureSummary(model="m", version=1, partition=0, first_offset=first,
    ...         last_offset=last, events=last - first + 1, start=t, end=t, numeric={},
    ...         categorical={})
    >>> ledger, back = SummaryLedger(), []
    >>> for first, last in [(0, 9), (10, 19), (20, 29)]:
    ...     s = summary(first, last)
    ...     _ = ledger.arrive(s); ledger.count(s, lambda s=s: back.append(s.first_offset))
    >>> repeat = ledger.arrive(summary(10, 24))
    >>> [c.take_back() for c in repeat.taken]; back
    [None, None]
    [10, 20]
    """

    def __init__(self, key: Callable[[Any], Hashable] = by_version, *,
                 kept: int = KEPT_PER_PARTITION, max_keys: int = MAX_KEYS) -> None:
        self.key = key
        self.kept = kept
        self.max_keys = max_keys
        self._counted: OrderedDict[Hashable, deque[Counted]] = OrderedDict()

    def arrive(self, summary: RunSummary) -> Repeat:
        """What ``summary`` repeats of the summaries counted; they leave the ledger."""
        repeat = Repeat()
        kept = self._counted.get(self.key(summary))
        first = summary.first_offset
        if not kept or first > kept[-1].summary.last_offset:
            return repeat
        while kept and kept[-1].summary.first_offset >= first:
            repeat.taken.append(kept.pop())
        repeat.straddled = bool(kept) and kept[-1].summary.last_offset >= first
        repeat.beyond_memory = not kept and len(repeat.taken) >= self.kept
        repeat.taken.reverse()
        return repeat

    def count(self, summary: RunSummary, take_back: Callable[[], None]) -> None:
        """Remember a summary just counted, with how to take it back."""
        key = self.key(summary)
        kept = self._counted.get(key)
        if kept is None:
            kept = self._counted[key] = deque(maxlen=self.kept)
            while len(self._counted) > self.max_keys:
                self._counted.popitem(last=False)
        else:
            self._counted.move_to_end(key)
        kept.append(Counted(summary, take_back))


__all__ = ["Counted", "Repeat", "SummaryLedger", "by_route", "by_version"]
