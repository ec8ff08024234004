"""Turn the values of a CSV cell or a JSON field into feature values, times and labels.

Each parser returns the value or a :class:`~contracts.decoding.Rejection` saying what
was expected, so one bad cell costs one row, never the run.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Final

from contracts.decoding import Rejection

FeatureValue = float | str | None

NUMBER: Final = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
NON_FINITE: Final = re.compile(r"[+-]?(nan|inf|infinity)", re.IGNORECASE)
# Epoch numbers above this are taken as milliseconds (1e11 s is the year 5138).
MILLISECONDS_ABOVE: Final = 1e11
_TRUE_LABELS: Final = frozenset({"1", "1.0", "true"})
_FALSE_LABELS: Final = frozenset({"0", "0.0", "false"})


def text_feature(name: str, text: str) -> FeatureValue | Rejection:
    """A CSV cell: empty is missing, a decimal number is a float, anything else is text.

    >>> text_feature("cart_value", " 12.5"), text_feature("device", "mobile")
    (12.5, 'mobile')
    >>> text_feature("cart_value", ""), text_feature("cart_value", "NaN").code
    (None, 'non-finite-number')
    """
    stripped = text.strip()
    if not stripped:
        return None
    if NUMBER.fullmatch(stripped):
        return _finite(name, float(stripped), text)
    if NON_FINITE.fullmatch(stripped):
        return Rejection(
            "non-finite-number",
            f"feature `{name}` is {text!r}; leave the cell empty for a missing value",
        )
    return text


def json_feature(name: str, value: object) -> FeatureValue | Rejection:
    """A JSON field: numbers become floats, texts and null stay, anything else is refused.

    >>> json_feature("pages_viewed", 3), json_feature("flag", True).code
    (3.0, 'wrong-type')
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _finite(name, float(value), value)
    return Rejection(
        "wrong-type",
        f"feature `{name}` is {type(value).__name__} {str(value)[:40]}; "
        "expected a number, a text or null",
    )


def timestamp(value: object, *, assume_utc: bool = False) -> datetime | Rejection:
    """An ISO 8601 time with a timezone, or epoch seconds (milliseconds above 1e11), in UTC.

    >>> timestamp("2026-01-01T12:00:00+02:00").isoformat()
    '2026-01-01T10:00:00+00:00'
    >>> timestamp(1767225600000).isoformat()
    '2026-01-01T00:00:00+00:00'
    >>> timestamp("2026-01-01 12:00").code
    'bad-timestamp'
    """
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = value / 1000.0 if value > MILLISECONDS_ABOVE else float(value)
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return Rejection("bad-timestamp", f"`ts` {value!r} is not a usable epoch time")
    if not isinstance(value, str):
        return Rejection("wrong-type", f"`ts` is {type(value).__name__}; expected a text or a "
                                       "number of seconds since 1970")
    try:
        ts = datetime.fromisoformat(value.strip())
    except ValueError:
        return Rejection(
            "bad-timestamp",
            f"`ts` {value!r} is neither an ISO 8601 time nor epoch seconds; "
            "expected e.g. '2026-01-01T12:00:00Z'",
        )
    if ts.tzinfo is None:
        if not assume_utc:
            return Rejection(
                "bad-timestamp",
                f"`ts` {value!r} has no timezone; add 'Z' or '+00:00', or pass --assume-utc",
            )
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)


def label(value: object) -> int | None | Rejection:
    """0 or 1 (also ``true``/``false``, ``1.0``); empty means the outcome is not known yet.

    >>> label("1"), label(False), label(""), label("yes").code
    (1, 0, None, 'out-of-range')
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float) and value in (0, 1):
        return int(value)
    text = str(value).strip().lower()
    if text in _TRUE_LABELS:
        return 1
    if text in _FALSE_LABELS:
        return 0
    return Rejection("out-of-range", f"`label` must be 0 or 1, got {str(value)[:40]!r}")


def identifier(role: str, value: object) -> str | Rejection:
    """An id from a text or a whole number (ids exported as numbers are common)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value.strip() if value.strip() else Rejection(
            "empty-value", f"`{role}` is empty"
        )
    if value is None:
        return Rejection("empty-value", f"`{role}` is empty")
    return Rejection("wrong-type", f"`{role}` is {type(value).__name__}; expected a text")


def _finite(name: str, number: float, shown: object) -> float | Rejection:
    if math.isfinite(number):
        return number
    return Rejection("non-finite-number", f"feature `{name}` is {shown!r}, too large to be "
                                          "a finite number")
