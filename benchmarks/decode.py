"""How long decoding and validating one ``user-events`` message takes.

Builds realistic events (ids, RFC 3339 times, a dozen numeric, categorical and
missing features), then times :func:`contracts.decoding.decode_event` over batches
of 1,000 of them, the way the scoring processor meets them, wall clock included.
With ``--formats``, the same events written in Confluent's wire format as Avro and
as JSON Schema (the ``schemas`` extra) are timed beside them
(``STREAMML_INPUT_FORMAT=confluent``), each as a multiple of the JSON figure.

    python -m benchmarks decode [--runs N] [--formats] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from contracts.decoding import JSON_INPUTS, InputDecoders, decode_event
from contracts.records import UserEvent

BATCH_SIZE = 1_000
BATCHES = 8  # distinct batches, so no one message stays hot in the caches
TARGET_US_PER_EVENT = 10.0
MIN_RUN_SECONDS = 0.2

DEVICES = ("mobile", "desktop", "tablet")
COUNTRIES = ("DE", "FR", "US", "GB", "BR", "IN", "JP")
CHANNELS = ("organic", "paid_search", "social", "email", "referral")
BROWSERS = ("chrome", "safari", "firefox", "edge")


def build_event(rng: random.Random, now: datetime) -> bytes:
    """One event as an application would send it: 12 features, a few of them missing."""
    ts = now - timedelta(seconds=rng.uniform(0, 3600))
    features: dict[str, float | str | None] = {
        "cart_value": round(rng.lognormvariate(3.5, 1.0), 2),
        "items_in_cart": rng.randint(0, 12),
        "session_seconds": round(rng.expovariate(1 / 240), 1),
        "page_views": rng.randint(1, 40),
        "discount_pct": rng.choice((0, 5, 10, 20)),
        "days_since_last_visit": rng.randint(0, 365),
        "scroll_depth": round(rng.random(), 3),
        "device": rng.choice(DEVICES),
        "country": rng.choice(COUNTRIES),
        "channel": rng.choice(CHANNELS),
        "browser": rng.choice(BROWSERS),
        "coupon_code": rng.choice((None, None, None, "SPRING10")),
    }
    if rng.random() < 0.3:
        features["scroll_depth"] = None
    message = {
        "schema_version": 1,
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "user_id": f"user-{rng.randrange(1_000_000):07d}",
        "ts": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "features": features,
    }
    return msgspec.json.encode(message)


def build_batches(seed: int = 7) -> list[list[bytes]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    batches = [[build_event(rng, now) for _ in range(BATCH_SIZE)] for _ in range(BATCHES)]
    rejected = [r for b in batches for r in map(decode_event, b) if not isinstance(r, UserEvent)]
    if rejected:  # timing rejections would measure the wrong path
        raise RuntimeError(f"the benchmark built invalid events, e.g. {rejected[0]}")
    return batches


AVRO_EVENT: dict[str, Any] = {
    "type": "record", "name": "UserEvent",
    "fields": [
        {"name": "schema_version", "type": "int"},
        {"name": "event_id", "type": "string"},
        {"name": "user_id", "type": "string"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "features", "type": {"type": "map", "values": ["null", "double", "string"]}},
    ],
}
JSON_SCHEMA_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {"schema_version": {"type": "integer"}, "event_id": {"type": "string"},
                   "user_id": {"type": "string"}, "ts": {"type": "string"},
                   "features": {"type": "object"}},
    "required": ["event_id", "user_id", "ts", "features"],
}


def framed(batches: list[list[bytes]]) -> dict[str, tuple[InputDecoders, list[list[bytes]]]]:
    """The batches in Confluent's wire format (Avro as id 1, JSON Schema as id 2), with
    the decoders that read them."""
    import io

    import fastavro

    from contracts.wire_formats import ConfluentFormat, WriterSchema

    schemas = {1: WriterSchema("AVRO", json.dumps(AVRO_EVENT)),
               2: WriterSchema("JSON", json.dumps(JSON_SCHEMA_EVENT))}
    decoders = InputDecoders.of(ConfluentFormat(schemas.get))
    parsed = fastavro.parse_schema(AVRO_EVENT)

    def avro(raw: bytes) -> bytes:
        message = json.loads(raw)
        message["ts"] = datetime.fromisoformat(message["ts"])
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, message)
        return b"\x00\x00\x00\x00\x01" + out.getvalue()

    return {"avro": (decoders, [[avro(r) for r in b] for b in batches]),
            "json-schema": (decoders, [[b"\x00\x00\x00\x00\x02" + r for r in b]
                                       for b in batches])}


def time_batches(batches: list[list[bytes]], rounds: int,
                 inputs: InputDecoders = JSON_INPUTS) -> float:
    """Seconds to decode every batch ``rounds`` times."""
    decode = inputs.events.decode
    start = time.perf_counter()
    for _ in range(rounds):
        for batch in batches:
            for raw in batch:
                decode(raw)
    return time.perf_counter() - start


def calibrate(batches: list[list[bytes]], inputs: InputDecoders = JSON_INPUTS) -> int:
    """Rounds that make one run last at least ``MIN_RUN_SECONDS`` (like ``timeit.autorange``)."""
    rounds = 1
    while time_batches(batches, rounds, inputs) < MIN_RUN_SECONDS:
        rounds *= 2
    return rounds


def per_event_us(batches: list[list[bytes]], runs: int,
                 inputs: InputDecoders = JSON_INPUTS) -> tuple[list[float], int]:
    """µs an event of each run, and the events a run decodes."""
    wrong = [r for b in batches for r in (inputs.events.decode(x) for x in b)
             if not isinstance(r, UserEvent)]
    if wrong:  # timing rejections would measure the wrong path
        raise RuntimeError(f"the benchmark's events were refused, e.g. {wrong[0]}")
    rounds = calibrate(batches, inputs)
    events_per_run = rounds * len(batches) * BATCH_SIZE
    return ([time_batches(batches, rounds, inputs) / events_per_run * 1e6 for _ in range(runs)],
            events_per_run)


def measure(runs: int, *, formats: bool = False) -> dict[str, Any]:
    batches = build_batches()
    per_event, events_per_run = per_event_us(batches, runs)
    best, median = min(per_event), statistics.median(per_event)
    others = {name: statistics.median(per_event_us(framed_batches, runs, inputs)[0])
              for name, (inputs, framed_batches) in (framed(batches) if formats else {}).items()}
    return {
        "benchmark": "decode",
        "function": "contracts.decoding.decode_event",
        "batch_size": BATCH_SIZE,
        "events_per_run": events_per_run,
        "runs": runs,
        "us_per_event_best": round(best, 3),
        "us_per_event_median": round(median, 3),
        "events_per_second_best": round(1e6 / best),
        "events_per_second_median": round(1e6 / median),
        "target_us_per_event": TARGET_US_PER_EVENT,
        "status": "PASS" if median <= TARGET_US_PER_EVENT else "MISS",
        "us_per_event_median_by_format": {k: round(v, 3) for k, v in others.items()},
        "python": platform.python_version(),
        "msgspec": msgspec.__version__,
        "machine": platform.machine(),
    }


def report(figures: dict[str, Any]) -> str:
    rows = [
        ("", "best", "median"),
        (
            "µs per event",
            f"{figures['us_per_event_best']:.2f}",
            f"{figures['us_per_event_median']:.2f}",
        ),
        (
            "events per second",
            f"{figures['events_per_second_best']:,}",
            f"{figures['events_per_second_median']:,}",
        ),
    ]
    lines = [
        f"decode+validate ({figures['function']}), batches of {figures['batch_size']:,}: "
        f"{figures['runs']} runs of {figures['events_per_run']:,} events",
        *(f"  {a:<20}{b:>12}{c:>12}" for a, b, c in rows),
        f"  target: <= {figures['target_us_per_event']:g} µs per event (median): "
        f"{figures['status']}",
    ]
    json_median = figures["us_per_event_median"]
    for name, median in figures["us_per_event_median_by_format"].items():
        lines.append(f"  {name + ' (Confluent wire format)':<34}{median:>8.2f} µs per event "
                     f"(median), {median / json_median:.1f}x JSON")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks decode", description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="timed runs (default 7)")
    parser.add_argument("--formats", action="store_true",
                        help="also time Avro and JSON Schema in Confluent's wire format")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    figures = measure(max(1, args.runs), formats=args.formats)
    print(report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
