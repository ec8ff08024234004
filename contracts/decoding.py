"""Turn raw bytes from a topic into a typed record, or into the reason it was refused.

Decoding never raises into the caller's loop: a bad record is data, returned as a
:class:`Rejection` whose ``code`` is one of a small fixed set (safe as a metric
label) and whose ``message`` says what was expected and how to fix it.
"""

from __future__ import annotations

import json
import math
import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, Generic, TypeVar

import msgspec

from contracts.records import (
    MAX_FEATURE_NAME_LENGTH,
    MAX_FEATURES,
    MAX_ID_LENGTH,
    MAX_STRING_VALUE_LENGTH,
    SCHEMA_VERSION,
    Label,
    LabeledEvent,
    Prediction,
    Record,
    UserEvent,
)

MAX_MESSAGE_BYTES: Final = 64 * 1024
OLDEST_TIMESTAMP: Final = datetime(2000, 1, 1, tzinfo=UTC).timestamp()
MAX_CLOCK_SKEW_SECONDS: Final = 24 * 3600.0

REASON_CODES: Final = (
    "oversize-message",
    "not-utf8",
    "not-json",
    "non-finite-number",
    "not-an-object",
    "missing-field",
    "unknown-field",
    "wrong-type",
    "bad-schema-version",
    "empty-value",
    "oversize-value",
    "out-of-range",
    "bad-timestamp",
    "unsafe-id",
    # Records in Confluent's wire format (contracts/wire_formats.py):
    "not-schema-framed",
    "unknown-schema",
    "bad-schema",
    "schema-mismatch",
)

if TYPE_CHECKING:
    from contracts.wire_formats import ConfluentFormat

R = TypeVar("R", bound=Record)


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record was refused.

    >>> decode_event(b"[1, 2]").code
    'not-an-object'
    """

    code: str
    message: str


class RecordDecoder(Generic[R]):
    """Decode and validate one record type; build once, call for every message.

    >>> dec = RecordDecoder(Label)
    >>> dec.decode(b'{"schema_version": 1, "event_id": "e1", "user_id": "u1",'
    ...            b' "ts": "2026-01-01T00:00:00Z", "label": 1}').label
    1
    """

    def __init__(self, record_type: type[R], *, max_bytes: int = MAX_MESSAGE_BYTES,
                 wire: ConfluentFormat | None = None) -> None:
        self._decoder = msgspec.json.Decoder(record_type)
        self._fields: tuple[str, ...] = record_type.__struct_fields__
        self._has_ids = {"event_id", "user_id"} <= set(self._fields)
        self._max_bytes = max_bytes
        self._wire = wire  # None: streamml's JSON

    def decode(self, raw: bytes | None, *, now: float | None = None) -> R | Rejection:
        """Return the record, or a :class:`Rejection` saying why not."""
        if not raw:
            return Rejection("not-json", "the message is empty; expected a JSON object")
        if len(raw) > self._max_bytes:
            return Rejection(
                "oversize-message",
                f"the message is {len(raw)} bytes; at most {self._max_bytes} are accepted",
            )
        if self._wire is not None:
            envelope = self._wire.envelope(raw, self._fields)
            if isinstance(envelope, Rejection):
                return envelope
            raw = envelope
        try:
            record = self._decoder.decode(raw)
        except UnicodeDecodeError as exc:
            # msgspec counts the position from the start of the string it was reading.
            return _utf8_problem(raw) or Rejection(
                "not-utf8", f"the message is not valid UTF-8 ({exc.reason})"
            )
        except msgspec.ValidationError as exc:
            if "features" in str(exc):
                return _explain_bad_feature(raw, str(exc))
            return _explain_validation_error(str(exc))
        except msgspec.DecodeError as exc:
            return _explain_malformed(raw, str(exc))
        if self._has_ids:
            ids = record.event_id + record.user_id  # type: ignore[attr-defined]
            # Printable ASCII is safe and NFC: the common case costs two str calls.
            if not (ids.isascii() and ids.isprintable()) and (unsafe := _unsafe_ids(record)):
                return unsafe
        return _check_values(record, time.time() if now is None else now)


    def decode_many(self, raws: Sequence[bytes | None], *, now: float | None = None) \
            -> list[R | Rejection]:
        """:meth:`decode` of each message, each on its own bytes.

        Never read as one joined JSON array: across the joins, two invalid halves
        (``{"a": 1`` and ``"b": 2}``) pair up into one valid record, and a message
        holding ``{...}, {...}`` splits into two, so the count can even match. One
        msgspec call per message costs no more than the join's copy saved.

        >>> dec = RecordDecoder(Label)
        >>> ok = (b'{"event_id": "e1", "user_id": "u1", "ts": "2026-01-01T00:00:00Z",'
        ...       b' "label": 0}')
        >>> [getattr(r, "code", "ok") for r in dec.decode_many([ok, b"[1]", ok])]
        ['ok', 'not-an-object', 'ok']
        """
        now = time.time() if now is None else now
        decode = self.decode
        return [decode(raw, now=now) for raw in raws]


_PATH = re.compile(r" - at `(?P<path>[^`]+)`$")
_EXAMPLE_TIME: Final = "2026-01-01T12:00:00Z"


def _explain_bad_feature(raw: bytes, text: str) -> Rejection:
    """Name the offending feature, which msgspec's path (``features[...]``) leaves out."""
    # The standard library reads 1e999 as infinity, where msgspec stops without a name.
    message, _ = _parse_leniently(raw)
    features = message.get("features") if isinstance(message, dict) else None
    if not isinstance(features, dict):
        return _explain_validation_error(text)
    if len(features) > MAX_FEATURES:
        return Rejection(
            "oversize-value", f"{len(features)} features sent; at most {MAX_FEATURES} are accepted"
        )
    for name, value in features.items():
        if not name:
            return Rejection("empty-value", "a feature has an empty name")
        if len(name) > MAX_FEATURE_NAME_LENGTH:
            return Rejection(
                "oversize-value",
                f"feature name `{name[:20]}...` is {len(name)} characters; "
                f"at most {MAX_FEATURE_NAME_LENGTH} are accepted",
            )
        if isinstance(value, str) and len(value) > MAX_STRING_VALUE_LENGTH:
            return Rejection(
                "oversize-value",
                f"feature `{name}` is a text of {len(value)} characters; "
                f"at most {MAX_STRING_VALUE_LENGTH} are accepted",
            )
        if not _is_finite(value):
            return Rejection(
                "non-finite-number", f"feature `{name}` is too large to be a finite number"
            )
        if isinstance(value, bool | list | dict):
            return Rejection(
                "wrong-type",
                f"feature `{name}` is {type(value).__name__} {_short(value)}; "
                "expected a number, a text or null",
            )
    return _explain_validation_error(text)


def _parse_leniently(raw: bytes) -> tuple[object, list[str]]:
    """The message as the standard library reads it (NaN and Infinity allowed), or None.

    Only called once msgspec has refused the message, to say more precisely why; the
    second list holds the NaN / Infinity tokens met on the way.
    """
    tokens: list[str] = []

    def constant(token: str) -> float:
        tokens.append(token)
        return math.nan

    try:
        return json.loads(raw.decode("utf-8"), parse_constant=constant), tokens
    except (ValueError, RecursionError):
        return None, tokens


def _is_finite(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return True
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond any float
        return False


def _short(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _explain_validation_error(text: str) -> Rejection:
    match = _PATH.search(text)
    path = match.group("path") if match else "$"
    detail = text[: match.start()] if match else text
    where = f"field `{path.removeprefix('$.')}`" if path != "$" else "the message"
    if path.startswith("$.features["):
        where = "a feature"
    if path == "$" and detail.startswith("Expected `object`"):
        return Rejection("not-an-object", f"expected a JSON object, {detail.split(', ', 1)[-1]}")
    if detail.startswith("Object missing required field"):
        field = detail.split("`")[1]
        return Rejection("missing-field", f"required field `{_join(path, field)}` is missing")
    if detail.startswith("Object contains unknown field"):
        field = detail.split("`")[1]
        return Rejection(
            "unknown-field", f"field `{_join(path, field)}` is not part of the contract"
        )
    if path.endswith("schema_version"):
        return Rejection(
            "bad-schema-version",
            f"schema_version must be {SCHEMA_VERSION}; "
            "this reader does not understand other versions",
        )
    if "length >= 1" in detail:
        return Rejection("empty-value", f"{where} must not be empty")
    if "length <=" in detail:
        return Rejection("oversize-value", f"{where} is too long: {_limits_hint(path)}")
    if detail.startswith("Expected `datetime`, got"):
        return Rejection(
            "wrong-type",
            f"{where}: expected an RFC 3339 time as text, e.g. '{_EXAMPLE_TIME}', "
            f"{detail.split(', ', 1)[-1]}",
        )
    if "timezone" in detail:
        return Rejection("bad-timestamp", f"{where} needs a timezone, e.g. '{_EXAMPLE_TIME}'")
    if "datetime" in detail:
        return Rejection(
            "bad-timestamp", f"{where} is not an RFC 3339 time; expected e.g. '{_EXAMPLE_TIME}'"
        )
    if detail.startswith("Expected `int` >=") or detail.startswith("Expected `int` <=") \
            or detail.startswith("Expected `float` >=") or detail.startswith("Expected `float` <="):
        return Rejection(
            "out-of-range", f"{where} is out of range: expected {detail.removeprefix('Expected ')}"
        )
    if detail.startswith("Number out of range"):
        return Rejection("non-finite-number", f"{where} is too large to be a finite number")
    return Rejection("wrong-type", f"{where}: {detail.lower()}")


def _join(path: str, field: str) -> str:
    return field if path == "$" else f"{path.removeprefix('$.')}.{field}"


def _limits_hint(path: str) -> str:
    if path.endswith("_id"):
        return f"ids have at most {MAX_ID_LENGTH} characters"
    return "see the contract's limits"


def _utf8_problem(raw: bytes) -> Rejection | None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(
            "not-utf8",
            f"the message is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
            "send text encoded as UTF-8",
        )
    return None


def _explain_malformed(raw: bytes, text: str) -> Rejection:
    not_utf8 = _utf8_problem(raw)
    if not_utf8 is not None:
        return not_utf8
    message, tokens = _parse_leniently(raw)
    if tokens and message is not None:
        return Rejection(
            "non-finite-number",
            f"{_where_non_finite(message)} is {tokens[0]}, which JSON has no place for; "
            "send a finite number, or null for a missing value",
        )
    return Rejection("not-json", f"the message is not JSON: {text}")


def _where_non_finite(message: object) -> str:
    if isinstance(message, dict):
        features = message.get("features")
        if isinstance(features, dict):
            for name, value in features.items():
                if not _is_finite(value):
                    return f"feature `{name}`"
        for name, value in message.items():
            if not _is_finite(value):
                return f"field `{name}`"
    return "a value"


def _check_values(record: R, now: float) -> R | Rejection:
    ts = getattr(record, "ts", None)
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            return Rejection(
                "bad-timestamp", f"field `ts` needs a timezone, e.g. '{_EXAMPLE_TIME}'"
            )
        epoch = ts.timestamp()
        if epoch < OLDEST_TIMESTAMP or epoch > now + MAX_CLOCK_SKEW_SECONDS:
            return Rejection(
                "bad-timestamp",
                f"field `ts` is {ts.isoformat()}; expected a time after 2000-01-01 and "
                "no more than a day in the future",
            )
    # Feature values need no check here: msgspec refuses NaN, Infinity and numbers out
    # of a float's range while decoding (explained by _explain_malformed).
    return record


def safe_id(value: str) -> bool:
    """Whether ``value`` may be an id: visible text in NFC (:func:`_unsafe_id` says why
    the others are refused).

    >>> safe_id("user-1"), safe_id("caf\u00e9"), safe_id("cafe\u0301"), safe_id("a\u202eb")
    (True, True, False, False)
    """
    return value.isprintable() and unicodedata.is_normalized("NFC", value)


def _unsafe_ids(record: Record) -> Rejection | None:
    for field in ("event_id", "user_id"):
        value: str = getattr(record, field)
        if not safe_id(value):
            return _unsafe_id(field, value)
    return None


def _unsafe_id(field: str, value: str) -> Rejection:
    """Why an id is refused.

    Ids are keys compared byte for byte across topics and shown in logs and on-call
    pages. Control characters, format characters (bidirectional overrides and
    isolates U+202A-U+202E and U+2066-U+2069, zero-width U+200B-U+200D, U+2060,
    U+FEFF) and separators other than the space (``str.isprintable``) make two ids
    look alike or hide text around them. An id not in NFC is refused, not
    normalised: it is also the Kafka key and the producer's own reference, which a
    rewritten id would no longer match.
    """
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        return Rejection(
            "unsafe-id",
            f"field `{field}` holds the invisible or control character U+{ord(bad):04X} "
            f"({unicodedata.name(bad, 'unnamed')}); ids must be visible text",
        )
    return Rejection(
        "unsafe-id",
        f"field `{field}` is not in Unicode normal form NFC; "
        "send it normalised (unicodedata.normalize('NFC', ...))",
    )


@dataclass(frozen=True, slots=True)
class InputDecoders:
    """Decoders of what applications write (``user-events`` and ``labels``), in the
    format they write it: streamml's JSON, or Confluent's wire format."""

    events: RecordDecoder[UserEvent]
    labels: RecordDecoder[Label]

    wire: ConfluentFormat | None = None

    @classmethod
    def of(cls, wire: ConfluentFormat | None) -> InputDecoders:
        return cls(RecordDecoder(UserEvent, wire=wire), RecordDecoder(Label, wire=wire), wire)

    def prepare(self, raws: Sequence[bytes | None]) -> None:
        """Have the writers' schemas of ``raws`` at hand (see ``ConfluentFormat.prepare``)."""
        if self.wire is not None:
            self.wire.prepare(raws)


JSON_INPUTS: Final = InputDecoders.of(None)


def decode_event(raw: bytes | None, *, now: float | None = None) -> UserEvent | Rejection:
    """Decode one ``user-events`` message.

    >>> decode_event(b'{"schema_version": 1, "event_id": "", "user_id": "u",'
    ...              b' "ts": "2026-01-01T00:00:00Z", "features": {}}').message
    'field `event_id` must not be empty'
    """
    return JSON_INPUTS.events.decode(raw, now=now)


__all__ = [
    "JSON_INPUTS",
    "MAX_MESSAGE_BYTES",
    "InputDecoders",
    "REASON_CODES",
    "Label",
    "LabeledEvent",
    "Prediction",
    "RecordDecoder",
    "Rejection",
    "decode_event",
    "safe_id",
]
