"""How long decoding and validating one ``user-events`` message takes.

Builds realistic events (ids, RFC 3339 times, a dozen numeric, categorical and
missing features), then times :func:`contracts.decoding.decode_event` over batches
of 1,000 of them, the way the scoring processor meets them, wall clock included.

    python -m benchmarks decode [--runs N] [--json PATH]
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

from contracts.decoding import decode_event
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


def time_batches(batches: list[list[bytes]], rounds: int) -> float:
    """Seconds to decode every batch ``rounds`` times."""
    decode = decode_event
    start = time.perf_counter()
    for _ in range(rounds):
        for batch in batches:
            for raw in batch:
                decode(raw)
    return time.perf_counter() - start


def calibrate(batches: list[list[bytes]]) -> int:
    """Rounds that make one run last at least ``MIN_RUN_SECONDS`` (like ``timeit.autorange``)."""
    rounds = 1
    while time_batches(batches, rounds) < MIN_RUN_SECONDS:
        rounds *= 2
    return rounds


def measure(runs: int) -> dict[str, Any]:
    batches = build_batches()
    rounds = calibrate(batches)
    events_per_run = rounds * len(batches) * BATCH_SIZE
    per_event = [time_batches(batches, rounds) / events_per_run * 1e6 for _ in range(runs)]
    best, median = min(per_event), statistics.median(per_event)
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
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks decode", description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="timed runs (default 7)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    figures = measure(max(1, args.runs))
    print(report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
