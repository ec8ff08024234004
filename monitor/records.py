"""How the monitor reads ``labeled-events`` (every field checked but the features) and
``labeled-outcomes`` (each column checked as the fields of a labeled event are).

The monitor takes a labeled event's label, score, version and time; its features
already came, and were checked, on ``user-events``. Leaving them as raw JSON skips
the costliest part of decoding (a third of the monitor's time per event). The
fields mirror :class:`contracts.records.LabeledEvent`; a test keeps them in step.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np

from contracts.decoding import MAX_CLOCK_SKEW_SECONDS, OLDEST_TIMESTAMP, safe_id
from contracts.records import Identifier, LabeledOutcomes, Probability, Record, Timestamp


class LabeledOutcome(Record, frozen=True, kw_only=True):
    """A ``labeled-events`` record with its features left undecoded.

    >>> from contracts.decoding import RecordDecoder
    >>> r = RecordDecoder(LabeledOutcome).decode(
    ...     b'{"schema_version": 1, "event_id": "e1", "user_id": "u1", "features": {"x": 1},'
    ...     b' "label": 1, "score": 0.7, "version": 2, "ts": "2026-01-01T00:00:00Z"}')
    >>> r.label, r.score, r.version
    (1, 0.7, 2)
    """

    event_id: Identifier
    user_id: Identifier
    features: msgspec.Raw
    label: Annotated[int, msgspec.Meta(ge=0, le=1)]
    score: Probability
    version: Annotated[int, msgspec.Meta(ge=1)]
    ts: Timestamp


def outcomes_problem(outcomes: LabeledOutcomes, now: float) -> str | None:
    """Why an outcomes record cannot be read, if it cannot: a column of another length,
    offsets that cannot hold its events, an event time a labeled event could not have,
    or an id a labeled event could not have (:func:`contracts.decoding` refuses those).

    >>> good = LabeledOutcomes(partition=0, first_offset=5, last_offset=6, consecutive=True,
    ...     event_ids=["e1", "e2"], versions=[1, 1], labels=[0, 1], scores=[0.2, 0.9],
    ...     ts=[1.8e9, 1.8e9])
    >>> outcomes_problem(good, 1.8e9), outcomes_problem(msgspec.structs.replace(
    ...     good, labels=[0]), 1.8e9)
    (None, 'outcomes-columns-differ')
    """
    n = len(outcomes.event_ids)
    if not len(outcomes.versions) == len(outcomes.labels) == len(outcomes.scores) \
            == len(outcomes.ts) == n:
        return "outcomes-columns-differ"
    span = outcomes.last_offset - outcomes.first_offset + 1
    if span < n or (outcomes.consecutive and span != n):
        return "outcomes-out-of-range"
    latest = now + MAX_CLOCK_SKEW_SECONDS
    ts = np.asarray(outcomes.ts, dtype=np.float64)
    if not (np.all(ts >= OLDEST_TIMESTAMP) and np.all(ts <= latest)):  # NaN fails too
        return "bad-timestamp"
    ids = "".join(outcomes.event_ids)
    # Printable ASCII is safe and NFC: the common case costs two str calls a record.
    if not (ids.isascii() and ids.isprintable()) \
            and not all(safe_id(i) for i in outcomes.event_ids):
        return "unsafe-id"
    return None


__all__ = ["LabeledOutcome", "outcomes_problem"]
