"""How the monitor reads ``labeled-events`` (every field checked but the features) and
``labeled-outcomes`` (each column checked as the fields of a labeled event are, its
numbers as arrays or packed).

The monitor takes a labeled event's label, score, version and time; its features
already came, and were checked, on ``user-events``. Leaving them as raw JSON skips
the costliest part of decoding (a third of the monitor's time per event). The
fields mirror :class:`contracts.records.LabeledEvent`; a test keeps them in step.
"""

from __future__ import annotations

from typing import Annotated, NamedTuple

import msgspec
import numpy as np
from numpy.typing import NDArray

from contracts.decoding import MAX_CLOCK_SKEW_SECONDS, OLDEST_TIMESTAMP, safe_id
from contracts.packed import FLOAT, LABEL, VERSION, unpack
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


class OutcomeColumns(NamedTuple):
    """An outcomes record's number columns as arrays."""

    versions: NDArray[np.int64]
    labels: NDArray[np.int64]
    scores: NDArray[np.float64]
    ts: NDArray[np.float64]


def outcome_columns(outcomes: LabeledOutcomes, now: float) -> OutcomeColumns | str:
    """The number columns of an outcomes record, or why it cannot be read: a column of
    another length, a number a labeled event could not have (packed columns are checked
    here, as decoding checks arrays), offsets that cannot hold its events, an event time
    a labeled event could not have, or an id a labeled event could not have
    (:func:`contracts.decoding` refuses those).

    >>> good = LabeledOutcomes(partition=0, first_offset=5, last_offset=6, consecutive=True,
    ...     event_ids=["e1", "e2"], versions=[1, 1], labels=[0, 1], scores=[0.2, 0.9],
    ...     ts=[1.8e9, 1.8e9])
    >>> outcome_columns(good, 1.8e9).labels.tolist(), outcome_columns(
    ...     msgspec.structs.replace(good, labels=[0]), 1.8e9)
    ([0, 1], 'outcomes-columns-differ')
    """
    n = len(outcomes.event_ids)
    try:
        columns = OutcomeColumns(unpack(outcomes.versions, VERSION, np.int64),
                                 unpack(outcomes.labels, LABEL, np.int64),
                                 unpack(outcomes.scores, FLOAT, np.float64),
                                 unpack(outcomes.ts, FLOAT, np.float64))
    except ValueError:
        return "outcomes-columns-differ"
    if any(c.size != n for c in columns):
        return "outcomes-columns-differ"
    versions, labels, scores, ts = columns
    if versions.min() < 1 or labels.min() < 0 or labels.max() > 1 \
            or not (np.all(scores >= 0.0) and np.all(scores <= 1.0)):  # NaN fails too
        return "outcomes-values-out-of-range"
    span = outcomes.last_offset - outcomes.first_offset + 1
    if span < n or (outcomes.consecutive and span != n):
        return "outcomes-out-of-range"
    latest = now + MAX_CLOCK_SKEW_SECONDS
    if not (np.all(ts >= OLDEST_TIMESTAMP) and np.all(ts <= latest)):  # NaN fails too
        return "bad-timestamp"
    ids = "".join(outcomes.event_ids)
    # Printable ASCII is safe and NFC: the common case costs two str calls a record.
    if not (ids.isascii() and ids.isprintable()) \
            and not all(safe_id(i) for i in outcomes.event_ids):
        return "unsafe-id"
    return columns


__all__ = ["LabeledOutcome", "OutcomeColumns", "outcome_columns"]
