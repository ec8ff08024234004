"""Where a change began, as alerts carry it in ``details["change_point"]``.

The monitor locates the change (ADWIN's cut, or the first window past a rule's
threshold) and the retrainer trains on what came after it. The JSON value is::

    {"at": "2026-01-01T00:12:34.567000+00:00",
     "offsets": [["labeled-events", 0, 1234], ["labeled-events", 1, 1180]],
     "source": "adwin"}

``offsets`` holds, per partition, the first offset at or after the change where it is
known (``[]`` when not). Alerts from older monitors have no change point; readers get
``None`` for a missing or malformed one rather than an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

import msgspec

from contracts.records import Alert

KEY = "change_point"

_NonNegative = Annotated[int, msgspec.Meta(ge=0)]


class _Wire(msgspec.Struct, frozen=True, kw_only=True):
    at: Annotated[datetime, msgspec.Meta(tz=True)]
    offsets: tuple[tuple[str, _NonNegative, _NonNegative], ...] = ()
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


_DECODER = msgspec.json.Decoder(_Wire)


@dataclass(frozen=True, kw_only=True)
class ChangePoint:
    """The event time a change began, the first offsets after it, and how it was found.

    Parameters
    ----------
    at
        Event time (timezone-aware) of the first item of the new concept.
    offsets
        ``(topic, partition, offset)`` of the first record at or after the change, per
        partition where known.
    source
        How it was located: ``"adwin"`` or ``"window"``.

    >>> from datetime import UTC, datetime
    >>> cp = ChangePoint(at=datetime(2026, 1, 1, 0, 12, 34, tzinfo=UTC),
    ...                  offsets=(("labeled-events", 0, 1234),), source="adwin")
    >>> cp.offset_of("labeled-events", 0), cp.offset_of("labeled-events", 1)
    (1234, None)
    """

    at: datetime
    offsets: tuple[tuple[str, int, int], ...] = ()
    source: str

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError(f"expected a timezone-aware change time, got {self.at!r}")

    def offset_of(self, topic: str, partition: int) -> int | None:
        """The first offset at or after the change in ``partition``, if known."""
        for t, p, offset in self.offsets:
            if t == topic and p == partition:
                return offset
        return None


def change_point_details(cp: ChangePoint) -> dict[str, msgspec.Raw]:
    """The ``details`` entry that carries ``cp`` in an alert.

    >>> from datetime import UTC, datetime
    >>> cp = ChangePoint(at=datetime(2026, 1, 1, tzinfo=UTC), source="window")
    >>> bytes(change_point_details(cp)["change_point"])
    b'{"at":"2026-01-01T00:00:00+00:00","offsets":[],"source":"window"}'
    """
    value = {
        "at": cp.at.astimezone(UTC).isoformat(),
        "offsets": [[t, p, o] for t, p, o in cp.offsets],
        "source": cp.source,
    }
    return {KEY: msgspec.Raw(msgspec.json.encode(value))}


def change_point_of(alert: Alert) -> ChangePoint | None:
    """The change point ``alert`` carries, or ``None`` when it has none or it is malformed.

    >>> from datetime import UTC, datetime
    >>> from contracts.records import Alert
    >>> cp = ChangePoint(at=datetime(2026, 1, 1, tzinfo=UTC), source="adwin")
    >>> alert = Alert(fingerprint="f", kind="drift", severity="warning", status="firing",
    ...               model="m", version=1, metric="concept", value=None, threshold=None,
    ...               window="", details=change_point_details(cp),
    ...               started_at=datetime(2026, 1, 1, tzinfo=UTC), runbook="")
    >>> change_point_of(alert) == cp
    True
    """
    raw = alert.details.get(KEY)
    if raw is None:
        return None
    try:
        wire = _DECODER.decode(raw)
    except (msgspec.DecodeError, TypeError):
        return None
    return ChangePoint(at=wire.at.astimezone(UTC), offsets=wire.offsets, source=wire.source)
