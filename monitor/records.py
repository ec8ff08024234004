"""How the monitor reads ``labeled-events``: every field checked but the features.

The monitor takes a labeled event's label, score, version and time; its features
already came, and were checked, on ``user-events``. Leaving them as raw JSON skips
the costliest part of decoding (a third of the monitor's time per event). The
fields mirror :class:`contracts.records.LabeledEvent`; a test keeps them in step.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from contracts.records import Identifier, Probability, Record, Timestamp


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


__all__ = ["LabeledOutcome"]
