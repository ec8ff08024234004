"""The time range of a report, as people write it: an ISO 8601 instant, epoch seconds,
or a duration back from now (``30m``, ``2h``, ``7d``)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Final

Span = tuple[float, float]
_AGO: Final = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_TEXT: Final = 64
_FIRST: Final = datetime(1, 1, 2, tzinfo=UTC).timestamp()
_LAST: Final = datetime(9999, 12, 30, tzinfo=UTC).timestamp()


def instant(text: str, *, now: float) -> float:
    """Epoch seconds of ``text`` (an instant without a zone is UTC).

    >>> instant("2026-03-01T00:00:00Z", now=0), instant("90m", now=10_000.0)
    (1772323200.0, 4600.0)
    >>> instant("soon", now=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: 'soon' is not a time: give an ISO 8601 instant (2026-03-01T12:00:00Z), ...
    """
    text = text.strip()
    ago = _AGO.fullmatch(text)
    try:
        value = now - float(ago.group(1)) * _SECONDS[ago.group(2)] if ago else float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text[:MAX_TEXT])
        except ValueError:
            raise ValueError(
                f"{text[:MAX_TEXT]!r} is not a time: give an ISO 8601 instant "
                "(2026-03-01T12:00:00Z), epoch seconds, or a duration back from now "
                "(30m, 2h, 7d)") from None
        value = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    if not _FIRST <= value <= _LAST:
        raise ValueError(f"{text[:MAX_TEXT]!r} is not a time between the years 1 and 9999")
    return value


def span_of(since: str | None, until: str | None, *, now: float) -> Span | None:
    """The range ``[since, until]`` (either end open: the start of the run, or now), or
    None when neither is given.

    >>> span_of(None, None, now=100.0), span_of("1m", None, now=100.0)
    (None, (40.0, 100.0))
    >>> span_of("5", "4", now=100.0)
    Traceback (most recent call last):
    ...
    ValueError: the range ends (1970-01-01 00:00:04Z) before it starts (1970-01-01 00:00:05Z)
    """
    if since is None and until is None:
        return None
    start = -math.inf if since is None else instant(since, now=now)
    end = now if until is None else instant(until, now=now)
    if end < start:
        raise ValueError(f"the range ends ({_shown(end)}) before it starts ({_shown(start)})")
    return start, end


def _shown(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


__all__ = ["Span", "instant", "span_of"]
