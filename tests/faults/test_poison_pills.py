"""Poison pills through kcat, a client we didn't write: refused, kept, and harmless.

The processor's malformed catalogue (tests/integration/test_scoring.py) plus a seeded fuzz of 10,000
messages, one valid event after every ten. Every bad message lands in
``dead-letters`` with its original bytes and a reason, every valid event is scored,
the worker is never restarted, and its memory stays flat between the two halves.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from contracts.decoding import REASON_CODES
from contracts.settings import Settings
from contracts.topics import Topics
from producers.simulator import Simulator
from scorer.bundle import ModelBundle
from tests.faults.checker import Checker, event_id_of
from tests.faults.fuzz import ALLOWED_REASONS, Fuzzer, kcat_stream
from tests.faults.workers import Worker, rss_bytes
from tests.integration.scoring_fixtures import publish_champion, send_events, signed
from tests.integration.test_scoring import kcat_catalogue

FUZZ = 10_000
VALID_EVERY = 10
WARM_UP = 500
# Growth allowed over the second half of the fuzz, once buffers and caches are warm.
RSS_GROWTH_BYTES = 16 * 1024 * 1024


def kcat(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    topic = Topics(settings.topic_prefix).user_events
    subprocess.run(["kcat", "-b", settings.bootstrap_servers, "-P", "-t", topic,  # noqa: S607
                    "-D", "\x1e", "-K", "\x1f"], input=kcat_stream(messages), check=True,
                   timeout=60)


@pytest.mark.parametrize("runner", ["faust", "kafka"])
def test_catalogue_and_10000_fuzzed_messages_are_dead_lettered_and_valid_events_scored(
    settings: Settings, champion: ModelBundle, tmp_path: Path, runner: str
) -> None:
    settings = settings.with_overrides(scoring_runner=runner)
    publish_champion(settings, signed(champion))
    now = datetime.now(UTC)
    fuzzer = Fuzzer(seed=8, now=now)
    valid = iter(Simulator(seed=12, start=now - timedelta(minutes=5), id_prefix="ok",
                           events_per_second=100).events(FUZZ))
    expected: dict[bytes, frozenset[str]] = {}  # bad value -> reasons it may get
    kinds: dict[bytes, str] = {}
    catalogue = kcat_catalogue(now.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def batch(n: int) -> tuple[list[tuple[bytes, bytes]], int]:
        messages, good = [], 0
        for i, m in enumerate(fuzzer.messages(n)):
            messages.append((m.key, m.value))
            expected[m.value] = ALLOWED_REASONS[m.kind]
            kinds[m.value] = m.kind
            if i % VALID_EVERY == VALID_EVERY - 1:
                event = next(valid).event
                messages.append((event.user_id.encode(), msgspec.json.encode(event)))
                good += 1
        return messages, good

    worker = Worker(settings, tmp_path, "w").start()
    rss: list[int] = []
    try:
        worker.wait_healthy()
        with Checker(settings) as checker:
            send_events(settings, WARM_UP, prefix="warm")
            checker.settle(sent=WARM_UP, idle=1.0)
            rss.append(rss_bytes(worker.pid))
            sent, bad = WARM_UP, 0
            first, good = batch(FUZZ // 2)
            first = [(k, v) for _, k, v in catalogue] + first
            expected.update({v: frozenset({reason}) for reason, _, v in catalogue})
            kinds.update({v: "catalogue" for _, _, v in catalogue})
            for messages, n_good in ((first, good), batch(FUZZ // 2)):
                began = time.monotonic()
                kcat(settings, messages)
                sent += len(messages)
                bad += len(messages) - n_good
                figures = checker.settle(sent=sent, idle=1.0)
                rss.append(rss_bytes(worker.pid))
                print(f"half done in {time.monotonic() - began:.1f} s")
            letters = checker.letters()
            inputs = checker.input.records
            scored = {event_id_of(p.value) for p in checker.predictions.records}
        assert worker.alive() and worker.starts == 1, worker.output()[-3000:]
        assert worker.partitions(), "the worker still serves"
    finally:
        worker.stop()

    print(f"\n[poison pills, runner={runner}] " + figures.line(
        restarts=worker.starts - 1, rss_mib="/".join(f"{r / 2**20:.0f}" for r in rss),
        reasons=len(figures.reasons)))
    assert figures.lost == 0 and figures.duplicates == 0, figures.lost_examples
    scored_bad = [(kinds[v], v[:300]) for v in expected if event_id_of(v) in scored]
    assert not scored_bad, f"{len(scored_bad)} bad messages were scored: {scored_bad[:5]}"
    assert figures.dead_lettered == bad and figures.predicted == sent - bad
    known = set(REASON_CODES) | {"key-not-user-id", "bad-feature-value"}
    original = {(r.partition, r.offset): r.value for r in inputs}
    for letter in letters:
        value = original[(letter.source_partition, letter.source_offset)]
        assert letter.original == value, "the dead letter keeps the original bytes"
        assert letter.reason in expected[value], (letter.reason, value[:200])
        assert letter.reason in known and letter.error
    assert {v for v in expected} <= {d.original for d in letters}
    assert rss[2] - rss[1] <= RSS_GROWTH_BYTES, f"memory grew: {rss}"
