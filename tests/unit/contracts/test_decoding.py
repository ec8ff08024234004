"""Decoding: every bad input gets its own reason and an actionable message; nothing raises."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.decoding import (
    MAX_CLOCK_SKEW_SECONDS,
    MAX_MESSAGE_BYTES,
    REASON_CODES,
    RecordDecoder,
    Rejection,
    decode_event,
)
from contracts.records import (
    MAX_FEATURE_NAME_LENGTH,
    MAX_FEATURES,
    MAX_ID_LENGTH,
    MAX_STRING_VALUE_LENGTH,
    Label,
    LabeledEvent,
    Prediction,
    UserEvent,
)

NOW_DT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NOW = NOW_DT.timestamp()
TS = "2026-05-01T11:59:00Z"
PLACEHOLDER = "__raw__"


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "schema_version": 1,
        "event_id": "evt-1",
        "user_id": "user-1",
        "ts": TS,
        "features": {"cart_value": 12.5, "device": "mobile", "coupon": None},
    }
    return {**base, **changes}


def without(field: str) -> dict[str, Any]:
    return {k: v for k, v in event().items() if k != field}


def encode(message: object) -> bytes:
    return json.dumps(message).encode()


def with_raw_feature(token: bytes, name: str = "cart_value") -> bytes:
    """An event whose feature ``name`` is the literal JSON token ``token``."""
    message = encode(event(features={"device": "mobile", name: PLACEHOLDER}))
    return message.replace(f'"{PLACEHOLDER}"'.encode(), token)


def with_raw_field(field: str, token: bytes) -> bytes:
    return encode(event(**{field: PLACEHOLDER})).replace(f'"{PLACEHOLDER}"'.encode(), token)


def bad_utf8_in_event_id() -> tuple[bytes, int]:
    message = encode(event(event_id="evt-X")).replace(b"evt-X", b"evt-\xff")
    return message, message.index(b"\xff")


BAD_ID_BYTES, BAD_ID_POSITION = bad_utf8_in_event_id()
LONG_NAME = "f" * (MAX_FEATURE_NAME_LENGTH + 1)

# (raw message, expected code, texts the message must contain)
EVENT_CATALOGUE = [
    pytest.param(encode(event(user_id="u\u202eevil")), "unsafe-id", ["`user_id`", "U+202E"],
                 id="bidirectional-override-in-an-id"),
    pytest.param(b"\xff\xfe{}", "not-utf8", ["UTF-8", "byte 0"], id="not-utf8-at-top-level"),
    pytest.param(
        BAD_ID_BYTES,
        "not-utf8",
        ["UTF-8", f"byte {BAD_ID_POSITION}"],
        id="not-utf8-inside-a-string",
    ),
    pytest.param(
        encode(event(features={"device": "X"})).replace(b'"X"', b'"mob\xc3"'),
        "not-utf8",
        ["UTF-8"],
        id="not-utf8-inside-a-feature-text",
    ),
    pytest.param(b"hello", "not-json", ["not JSON"], id="plain-text"),
    pytest.param(encode(event())[:-5], "not-json", ["not JSON"], id="truncated-json"),
    pytest.param(encode(event()) + b" }", "not-json", ["not JSON"], id="trailing-garbage"),
    pytest.param(b"[1, 2]", "not-an-object", ["JSON object", "array"], id="json-array"),
    pytest.param(b'"evt-1"', "not-an-object", ["JSON object", "str"], id="json-string"),
    pytest.param(b"42", "not-an-object", ["JSON object", "int"], id="json-number"),
    pytest.param(b"null", "not-an-object", ["JSON object", "null"], id="json-null"),
    pytest.param(encode(without("user_id")), "missing-field", ["`user_id`"], id="missing-user-id"),
    pytest.param(encode(without("ts")), "missing-field", ["`ts`"], id="missing-ts"),
    pytest.param(
        encode(without("features")), "missing-field", ["`features`"], id="missing-features"
    ),
    pytest.param(
        encode(event(colour="red")), "unknown-field", ["`colour`", "contract"], id="unknown-field"
    ),
    pytest.param(
        encode(event(ts=1_777_000_000)),
        "wrong-type",
        ["`ts`", "RFC 3339", "int"],
        id="ts-as-number",
    ),
    pytest.param(
        encode(event(user_id=42)), "wrong-type", ["`user_id`", "str"], id="user-id-as-number"
    ),
    pytest.param(encode(event(event_id=None)), "wrong-type", ["`event_id`"], id="event-id-as-null"),
    pytest.param(
        encode(event(features=[1, 2])), "wrong-type", ["`features`"], id="features-as-list"
    ),
    pytest.param(
        encode(event(features={"clicked": True})),
        "wrong-type",
        ["`clicked`", "bool", "number, a text or null"],
        id="feature-as-bool",
    ),
    pytest.param(
        encode(event(features={"tags": ["a", "b"]})),
        "wrong-type",
        ["`tags`", "list"],
        id="feature-as-list",
    ),
    pytest.param(
        encode(event(features={"geo": {"lat": 1.0}})),
        "wrong-type",
        ["`geo`", "dict"],
        id="feature-as-object",
    ),
    pytest.param(
        with_raw_feature(b"NaN"),
        "non-finite-number",
        ["`cart_value`", "NaN", "null"],
        id="NaN-feature",
    ),
    pytest.param(
        with_raw_feature(b"Infinity"),
        "non-finite-number",
        ["`cart_value`", "Infinity", "null"],
        id="Infinity-feature",
    ),
    pytest.param(
        with_raw_feature(b"-Infinity"),
        "non-finite-number",
        ["`cart_value`", "-Infinity"],
        id="minus-Infinity-feature",
    ),
    pytest.param(with_raw_field("ts", b"NaN"), "non-finite-number", ["`ts`", "NaN"], id="NaN-ts"),
    pytest.param(
        with_raw_feature(b"1e999"),
        "non-finite-number",
        ["`cart_value`", "finite"],
        id="1e999-feature",
    ),
    pytest.param(
        with_raw_feature(b"-1e999"), "non-finite-number", ["`cart_value`"], id="minus-1e999-feature"
    ),
    pytest.param(
        with_raw_feature(b"1" + b"0" * 400),
        "non-finite-number",
        ["`cart_value`"],
        id="integer-beyond-any-float",
    ),
    pytest.param(with_raw_field("ts", b"1e999"), "non-finite-number", ["`ts`"], id="1e999-ts"),
    pytest.param(
        encode(event(schema_version=2)),
        "bad-schema-version",
        ["schema_version", "1"],
        id="schema-v2",
    ),
    pytest.param(
        encode(event(schema_version="1")),
        "bad-schema-version",
        ["schema_version"],
        id="schema-version-as-text",
    ),
    pytest.param(
        encode(event(event_id="")), "empty-value", ["`event_id`", "empty"], id="empty-event-id"
    ),
    pytest.param(
        encode(event(user_id="")), "empty-value", ["`user_id`", "empty"], id="empty-user-id"
    ),
    pytest.param(
        encode(event(features={"": 1.0})),
        "empty-value",
        ["feature", "empty name"],
        id="empty-feature-name",
    ),
    pytest.param(
        encode(event(event_id="e" * (MAX_ID_LENGTH + 1))),
        "oversize-value",
        ["`event_id`", str(MAX_ID_LENGTH)],
        id="over-long-event-id",
    ),
    pytest.param(
        encode(event(user_id="u" * (MAX_ID_LENGTH + 1))),
        "oversize-value",
        ["`user_id`", str(MAX_ID_LENGTH)],
        id="over-long-user-id",
    ),
    pytest.param(
        encode(event(features={LONG_NAME: 1.0})),
        "oversize-value",
        [LONG_NAME[:20], str(MAX_FEATURE_NAME_LENGTH + 1), str(MAX_FEATURE_NAME_LENGTH)],
        id="over-long-feature-name",
    ),
    pytest.param(
        encode(event(features={"device": "m" * (MAX_STRING_VALUE_LENGTH + 1)})),
        "oversize-value",
        ["`device`", str(MAX_STRING_VALUE_LENGTH)],
        id="over-long-text-value",
    ),
    pytest.param(
        encode(event(features={f"f{i}": 1.0 for i in range(MAX_FEATURES + 1)})),
        "oversize-value",
        [str(MAX_FEATURES + 1), str(MAX_FEATURES)],
        id="too-many-features",
    ),
    pytest.param(
        encode(event(ts="2099-01-01T00:00:00Z")),
        "bad-timestamp",
        ["`ts`", "2099", "future"],
        id="far-future-ts",
    ),
    pytest.param(
        encode(event(ts="1990-01-01T00:00:00Z")),
        "bad-timestamp",
        ["`ts`", "1990", "2000-01-01"],
        id="ancient-ts",
    ),
    pytest.param(
        encode(event(ts="2026-05-01T11:59:00")),
        "bad-timestamp",
        ["`ts`", "timezone", "2026-01-01T12:00:00Z"],
        id="naive-ts",
    ),
    pytest.param(
        encode(event(ts="yesterday")), "bad-timestamp", ["`ts`", "RFC 3339"], id="ts-not-a-time"
    ),
    pytest.param(
        encode(event(ts="2026-13-01T00:00:00Z")),
        "bad-timestamp",
        ["`ts`", "RFC 3339"],
        id="ts-month-13",
    ),
    pytest.param(
        encode(event(ts="2026-05-01")), "bad-timestamp", ["`ts`", "RFC 3339"], id="ts-date-only"
    ),
    pytest.param(b"", "not-json", ["empty"], id="empty-message"),
    pytest.param(None, "not-json", ["empty"], id="tombstone-none"),
    pytest.param(
        encode(event()) + b" " * MAX_MESSAGE_BYTES,
        "oversize-message",
        [str(MAX_MESSAGE_BYTES)],
        id="oversize-message",
    ),
]


@pytest.mark.parametrize(("raw", "code", "mentions"), EVENT_CATALOGUE)
def test_bad_event_is_rejected_with_its_reason(
    raw: bytes | None, code: str, mentions: list[str]
) -> None:
    result = decode_event(raw, now=NOW)

    assert isinstance(result, Rejection), result
    assert result.code == code, result.message
    for text in mentions:
        assert text in result.message


PREDICTION = {
    "schema_version": 1,
    "event_id": "evt-1",
    "user_id": "user-1",
    "ts": TS,
    "model": "conversion",
    "version": 3,
    "route": "canary",
    "score": 0.7,
    "decision": 1,
    "scored_at": "2026-05-01T11:59:01Z",
}
LABEL = {"schema_version": 1, "event_id": "evt-1", "user_id": "user-1", "ts": TS, "label": 1}

OTHER_CATALOGUE = [
    pytest.param(Label, {**LABEL, "label": 2}, "out-of-range", ["`label`", "<= 1"], id="label-2"),
    pytest.param(
        Label, {**LABEL, "label": -1}, "out-of-range", ["`label`", ">= 0"], id="label-minus-1"
    ),
    pytest.param(
        Label, {**LABEL, "label": "1"}, "wrong-type", ["`label`", "int"], id="label-as-text"
    ),
    pytest.param(
        Label, {**LABEL, "label": True}, "wrong-type", ["`label`", "bool"], id="label-as-bool"
    ),
    pytest.param(
        Label,
        {k: v for k, v in LABEL.items() if k != "label"},
        "missing-field",
        ["`label`"],
        id="label-missing",
    ),
    pytest.param(
        Label,
        {**LABEL, "ts": "2099-01-01T00:00:00Z"},
        "bad-timestamp",
        ["`ts`"],
        id="label-from-the-future",
    ),
    pytest.param(
        Prediction,
        {**PREDICTION, "score": 1.5},
        "out-of-range",
        ["`score`", "<= 1.0"],
        id="score-above-1",
    ),
    pytest.param(
        Prediction,
        {**PREDICTION, "version": 0},
        "out-of-range",
        ["`version`", ">= 1"],
        id="version-0",
    ),
    pytest.param(
        Prediction,
        {**PREDICTION, "route": "blue"},
        "wrong-type",
        ["`route`", "blue"],
        id="unknown-route",
    ),
    pytest.param(
        Prediction,
        {**PREDICTION, "scored_at": "2026-05-01T11:59:01"},
        "bad-timestamp",
        ["`scored_at`", "timezone"],
        id="naive-scored-at",
    ),
    pytest.param(
        Prediction, {**PREDICTION, "model": ""}, "empty-value", ["`model`"], id="empty-model"
    ),
    pytest.param(
        Prediction,
        {**PREDICTION, "score": PLACEHOLDER},
        "non-finite-number",
        ["`score`", "NaN"],
        id="NaN-score",
    ),
]


@pytest.mark.parametrize(("record_type", "message", "code", "mentions"), OTHER_CATALOGUE)
def test_bad_label_or_prediction_is_rejected_with_its_reason(
    record_type: type[Label] | type[Prediction],
    message: dict[str, Any],
    code: str,
    mentions: list[str],
) -> None:
    raw = encode(message).replace(f'"{PLACEHOLDER}"'.encode(), b"NaN")

    result = RecordDecoder(record_type).decode(raw, now=NOW)

    assert isinstance(result, Rejection), result
    assert result.code == code, result.message
    for text in mentions:
        assert text in result.message


def test_catalogues_cover_every_reason_code() -> None:
    from tests.unit.contracts.test_wire_formats import BAD_SCHEMAS, WIRE_CATALOGUE

    covered = {p.values[1] for p in EVENT_CATALOGUE} | {p.values[2] for p in OTHER_CATALOGUE}
    covered |= {p.values[1] for p in WIRE_CATALOGUE} | ({"bad-schema"} if BAD_SCHEMAS else set())

    assert covered == set(REASON_CODES)


def test_reason_codes_are_distinct_metric_safe_labels() -> None:
    assert len(set(REASON_CODES)) == len(REASON_CODES)
    assert all(code.replace("-", "").isalnum() and code.islower() for code in REASON_CODES)


def test_valid_event_decodes_to_user_event_with_its_values() -> None:
    result = decode_event(encode(event()), now=NOW)

    assert result == UserEvent(
        event_id="evt-1",
        user_id="user-1",
        ts=datetime(2026, 5, 1, 11, 59, tzinfo=UTC),
        features={"cart_value": 12.5, "device": "mobile", "coupon": None},
    )


def test_integer_feature_becomes_float() -> None:
    result = decode_event(encode(event(features={"items": 3})), now=NOW)

    assert isinstance(result, UserEvent)
    assert result.features["items"] == 3.0
    assert type(result.features["items"]) is float


def test_null_feature_is_kept_as_none() -> None:
    result = decode_event(encode(event(features={"coupon": None})), now=NOW)

    assert isinstance(result, UserEvent)
    assert "coupon" in result.features
    assert result.features["coupon"] is None


def test_text_that_looks_like_nan_stays_text() -> None:
    result = decode_event(encode(event(features={"label": "NaN"})), now=NOW)

    assert isinstance(result, UserEvent)
    assert result.features["label"] == "NaN"


def test_timestamp_with_offset_keeps_its_instant() -> None:
    result = decode_event(encode(event(ts="2026-05-01T13:59:00+02:00")), now=NOW)

    assert isinstance(result, UserEvent)
    assert result.ts == datetime(2026, 5, 1, 11, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ts", "accepted"),
    [
        pytest.param(datetime(2000, 1, 1, tzinfo=UTC), True, id="oldest-allowed"),
        pytest.param(datetime(1999, 12, 31, 23, 59, tzinfo=UTC), False, id="just-before-2000"),
        pytest.param(NOW_DT + timedelta(seconds=MAX_CLOCK_SKEW_SECONDS), True, id="a-day-ahead"),
        pytest.param(
            NOW_DT + timedelta(seconds=MAX_CLOCK_SKEW_SECONDS + 1), False, id="beyond-a-day-ahead"
        ),
    ],
)
def test_timestamp_bounds_tolerate_a_day_of_clock_skew(ts: datetime, accepted: bool) -> None:
    result = decode_event(encode(event(ts=ts.isoformat())), now=NOW)

    assert isinstance(result, UserEvent) is accepted


def test_decode_checks_freshness_against_the_wall_clock_by_default() -> None:
    fresh = datetime.now(UTC).isoformat()

    assert isinstance(decode_event(encode(event(ts=fresh))), UserEvent)


def test_message_of_exactly_the_size_limit_is_not_oversize() -> None:
    valid = encode(event())
    padded = valid + b" " * (MAX_MESSAGE_BYTES - len(valid))

    assert isinstance(decode_event(padded, now=NOW), UserEvent)


def test_decoder_honours_its_own_size_limit() -> None:
    result = RecordDecoder(UserEvent, max_bytes=50).decode(encode(event()), now=NOW)

    assert isinstance(result, Rejection)
    assert result.code == "oversize-message"
    assert "at most 50" in result.message


def test_valid_label_decodes() -> None:
    result = RecordDecoder(Label).decode(encode(LABEL), now=NOW)

    assert result == Label(
        event_id="evt-1", user_id="user-1", ts=datetime(2026, 5, 1, 11, 59, tzinfo=UTC), label=1
    )


def test_valid_prediction_decodes() -> None:
    result = RecordDecoder(Prediction).decode(encode(PREDICTION), now=NOW)

    assert isinstance(result, Prediction)
    assert (result.route, result.score, result.version) == ("canary", 0.7, 3)
    assert result.scored_at == datetime(2026, 5, 1, 11, 59, 1, tzinfo=UTC)


def test_labeled_event_names_its_bad_feature() -> None:
    message = {
        "event_id": "evt-1",
        "user_id": "user-1",
        "features": {"clicked": True},
        "label": 1,
        "score": 0.4,
        "version": 2,
        "ts": TS,
    }

    result = RecordDecoder(LabeledEvent).decode(encode(message), now=NOW)

    assert isinstance(result, Rejection)
    assert (result.code, "`clicked`" in result.message) == ("wrong-type", True)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(encode(event(features={"a": True}))[:-1], id="bad-feature-then-truncated"),
        pytest.param(
            encode(event(features={"a": True, "b": "X"})).replace(b'"X"', b'"\xff"'),
            id="bad-feature-then-bad-utf8",
        ),
        pytest.param(
            encode(event(features={"a": True}))[:-1]
            + b', "x": '
            + b"[" * 20_000
            + b"]" * 20_000
            + b"}",
            id="bad-feature-then-deep-nesting",
        ),
        pytest.param(b"[" * 30_000 + b"]" * 30_000, id="deep-nesting"),
        pytest.param(b"\xef\xbb\xbf" + encode(event()), id="utf8-byte-order-mark"),
    ],
)
def test_message_broken_in_two_ways_is_still_a_rejection(raw: bytes) -> None:
    result = decode_event(raw, now=NOW)

    assert isinstance(result, Rejection)
    assert result.code in REASON_CODES


def assert_decodes_or_rejects(samples: list[bytes]) -> set[str]:
    """Decode every sample; return the codes met. Fails listing the samples that raised."""
    codes: set[str] = set()
    failures: list[str] = []
    for raw in samples:
        try:
            result = decode_event(raw, now=NOW)
        except Exception as exc:  # the point is that nothing escapes
            failures.append(f"{raw[:80]!r}: {type(exc).__name__}: {exc}")
            continue
        if isinstance(result, Rejection):
            if result.code not in REASON_CODES or not result.message:
                failures.append(f"{raw[:80]!r}: {result}")
            codes.add(result.code)
        elif not isinstance(result, UserEvent):
            failures.append(f"{raw[:80]!r}: returned {result!r}")
    assert not failures, f"{len(failures)} failures, e.g.\n" + "\n".join(failures[:5])
    return codes


def test_decode_never_raises_on_random_bytes() -> None:
    rng = random.Random(20260501)
    samples = [rng.randbytes(rng.randrange(0, 200)) for _ in range(5_000)]

    assert_decodes_or_rejects(samples)


TOKENS = [
    b"NaN",
    b"Infinity",
    b"1e999",
    b"-",
    b"null",
    b"true",
    b"[",
    b"]",
    b"{",
    b"}",
    b'"',
    b",",
    b":",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"\xff",
    b"\xc3",
    b"0",
    b"1" * 30,
    b"    ",
]


def mutate(rng: random.Random, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(0, len(data) + 1)
        kind = rng.randrange(5)
        if kind == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif kind == 1:
            del data[at : at + rng.randint(1, 8)]
        elif kind == 2:
            data[at:at] = rng.choice(TOKENS)
        elif kind == 3:
            start = rng.randrange(0, len(data) + 1)
            data[at:at] = data[start : start + rng.randint(1, 20)]
        else:
            data[at : at + rng.randint(1, 6)] = rng.choice(TOKENS)
    return bytes(data)


def test_decode_never_raises_on_mutations_of_a_valid_event() -> None:
    rng = random.Random(1)
    valid = encode(
        event(features={"cart_value": 12.5, "items": 3, "device": "mobile", "coupon": None})
    )
    samples = [mutate(rng, valid) for _ in range(5_000)]

    codes = assert_decodes_or_rejects(samples)

    assert len(codes) >= 5, f"the mutations reached too few rejection paths: {codes}"


LABEL_A = b'{"event_id": "a", "user_id": "u1", "ts": "2026-05-01T11:00:00Z", "label": 0}'
LABEL_B = b'{"event_id": "b", "user_id": "u1", "ts": "2026-05-01T11:00:00Z", "label": 1}'
# Halves of LABEL_A that a comma joins back into it; neither is JSON alone.
HEAD_A, TAIL_A = LABEL_A.split(b", ", 1)


@pytest.mark.parametrize("raws", [
    # Three messages, none valid, that read as one JSON array hold three labels.
    [HEAD_A, TAIL_A, LABEL_B + b", " + LABEL_A],
    [LABEL_B + b"," + LABEL_A, HEAD_A, TAIL_A],
    [HEAD_A, TAIL_A, LABEL_B],
    [LABEL_A, LABEL_B + b" " + LABEL_A, b"[" + LABEL_B, LABEL_A + b"]"],
])
def test_each_message_gets_the_verdict_of_its_own_bytes_in_a_batch(raws: list[bytes]) -> None:
    decoder = RecordDecoder(Label)
    alone = [decoder.decode(raw, now=NOW) for raw in raws]
    together = decoder.decode_many(raws, now=NOW)
    assert together == alone
    assert sum(isinstance(r, Label) for r in together) == sum(raw in (LABEL_A, LABEL_B)
                                                              for raw in raws)


@pytest.mark.parametrize("character", [
    "\x00", "\t", "\n", "\x1b", "\x7f", "\x85", "\u200b", "\u200c", "\u200d", "\u2060",
    "\ufeff", "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067",
    "\u2068", "\u2069",
])
@pytest.mark.parametrize("field", ["event_id", "user_id"])
def test_an_id_with_a_hidden_or_reordering_character_is_refused(field: str,
                                                                 character: str) -> None:
    for record_type, message in ((UserEvent, event()), (Label, dict(LABEL))):
        message[field] = f"user{character}42"
        result = RecordDecoder(record_type).decode(encode(message), now=NOW)
        assert isinstance(result, Rejection) and result.code == "unsafe-id", result
        assert f"`{field}`" in result.message


@pytest.mark.parametrize("field", ["event_id", "user_id"])
def test_an_id_not_in_nfc_is_refused_and_its_nfc_form_accepted(field: str) -> None:
    decomposed, composed = "jose\u0301", "jos\u00e9"
    refused = decode_event(encode(event(**{field: decomposed})), now=NOW)
    accepted = decode_event(encode(event(**{field: composed})), now=NOW)
    assert isinstance(refused, Rejection) and refused.code == "unsafe-id"
    assert "NFC" in refused.message and f"`{field}`" in refused.message
    assert isinstance(accepted, UserEvent) and getattr(accepted, field) == composed


def test_an_id_of_visible_text_beyond_ascii_in_nfc_is_accepted() -> None:
    result = decode_event(encode(event(user_id="Zoë-東京")), now=NOW)
    assert isinstance(result, UserEvent) and result.user_id == "Zoë-東京"
