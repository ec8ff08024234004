"""Build contract records from what applications hand over, and check them before sending.

The check encodes the record and runs it through the same decoder the consumers
use, so a record the SDK lets through is one the scoring processor accepts.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from numbers import Integral, Real
from typing import Final, TypeVar

import msgspec

from contracts.decoding import RecordDecoder, Rejection
from contracts.records import Label, UserEvent
from producers.exceptions import InvalidRecordError

FeatureValue = float | str | None
T = TypeVar("T")

_ENCODER: Final = msgspec.json.Encoder()
_EVENTS: Final = RecordDecoder(UserEvent)
_LABELS: Final = RecordDecoder(Label)


def make_event(
    *,
    user_id: str,
    features: Mapping[str, object],
    event_id: str | None = None,
    ts: datetime | None = None,
) -> UserEvent:
    """A checked ``user-events`` record; a fresh UUID and the current UTC time fill the gaps.

    >>> make_event(user_id="u1", features={"pages_viewed": 3}).features
    {'pages_viewed': 3.0}
    >>> make_event(user_id="u1", features={"cart_value": float("nan")})
    Traceback (most recent call last):
    ...
    producers.exceptions.InvalidRecordError: feature `cart_value` is nan; \
send None for a missing value
    """
    return prepare_event(user_id=user_id, features=features, event_id=event_id, ts=ts)[0]


def prepare_event(
    *,
    user_id: str,
    features: Mapping[str, object],
    event_id: str | None = None,
    ts: datetime | None = None,
) -> tuple[UserEvent, bytes]:
    """:func:`make_event` plus the JSON bytes to send, checked once."""
    clean = _or_raise(_normalise_features(features))
    event = UserEvent(
        event_id=uuid.uuid4().hex if event_id is None else event_id,
        user_id=user_id,
        ts=_utc(ts),
        features=clean,
    )
    return event, encode_event(event)


def make_label(
    *, event_id: str, user_id: str, label: int | bool, ts: datetime | None = None
) -> Label:
    """A checked ``labels`` record; ``ts`` (default now) is when the outcome became known.

    >>> make_label(event_id="e1", user_id="u1", label=True).label
    1
    """
    return prepare_label(event_id=event_id, user_id=user_id, label=label, ts=ts)[0]


def prepare_label(
    *, event_id: str, user_id: str, label: int | bool, ts: datetime | None = None
) -> tuple[Label, bytes]:
    """:func:`make_label` plus the JSON bytes to send, checked once."""
    if isinstance(label, bool | Integral):
        label = int(label)
    record = Label(event_id=event_id, user_id=user_id, ts=_utc(ts), label=label)
    return record, encode_label(record)


def check_event(event: UserEvent, *, now: float | None = None) -> bytes | Rejection:
    """The record's JSON bytes if it follows the contract, else why it does not."""
    clean = _normalise_features(event.features)
    if isinstance(clean, Rejection):
        return clean
    return _check(_EVENTS, msgspec.structs.replace(event, features=clean), now)


def check_label(label: Label, *, now: float | None = None) -> bytes | Rejection:
    """The label's JSON bytes if it follows the contract, else why it does not."""
    return _check(_LABELS, label, now)


def encode_event(event: UserEvent) -> bytes:
    """JSON bytes of a valid event; raises :class:`InvalidRecordError` naming the field."""
    return _or_raise(check_event(event))


def encode_label(label: Label) -> bytes:
    """JSON bytes of a valid label; raises :class:`InvalidRecordError` naming the field."""
    return _or_raise(check_label(label))


def _check(decoder: RecordDecoder[UserEvent] | RecordDecoder[Label],
           record: UserEvent | Label, now: float | None) -> bytes | Rejection:
    if not isinstance(record.ts, datetime):
        kind = type(record.ts).__name__
        return Rejection("wrong-type", f"field `ts` must be a datetime, got {kind}")
    if record.ts.tzinfo is None:
        return Rejection("bad-timestamp", "field `ts` needs a timezone, e.g. datetime.now(UTC)")
    if record.ts.utcoffset():
        record = msgspec.structs.replace(record, ts=record.ts.astimezone(UTC))
    try:
        raw = _ENCODER.encode(record)
    except (TypeError, ValueError, OverflowError) as exc:
        return Rejection("wrong-type", f"the record cannot be encoded as JSON: {exc}")
    decoded = decoder.decode(raw, now=now)
    return decoded if isinstance(decoded, Rejection) else raw


def _or_raise(result: T | Rejection) -> T:
    if isinstance(result, Rejection):
        raise InvalidRecordError(result)
    return result


def _normalise_features(features: object) -> dict[str, FeatureValue] | Rejection:
    """Plain floats, texts and None, with numpy numbers unwrapped and NaN refused."""
    if not isinstance(features, Mapping):
        return Rejection("wrong-type", f"field `features` must be a mapping, got "
                                       f"{type(features).__name__}")
    clean: dict[str, FeatureValue] = {}
    for name, value in features.items():
        if not isinstance(name, str):
            return Rejection("wrong-type", f"feature names must be texts, got {name!r}")
        if value is None or isinstance(value, str):
            clean[name] = value
        elif isinstance(value, Real) and not isinstance(value, bool):
            number = float(value)
            if not math.isfinite(number):
                return Rejection(
                    "non-finite-number",
                    f"feature `{name}` is {number}; send None for a missing value",
                )
            clean[name] = number
        else:
            return Rejection(
                "wrong-type",
                f"feature `{name}` is {type(value).__name__} {value!r:.40}; "
                "expected a number, a text or None",
            )
    return clean


def _utc(ts: datetime | None) -> datetime:
    # Naive times are left as they are so the check can refuse them by name.
    if ts is None:
        return datetime.now(UTC)
    return ts.astimezone(UTC) if ts.tzinfo is not None else ts
