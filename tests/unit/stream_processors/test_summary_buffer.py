"""Summaries held across batches until a commit, as the confluent-kafka runner makes them."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import msgspec
import pytest

from contracts.bounded_ids import RecentIds
from contracts.kafka_clients import KafkaRecord
from contracts.records import FeatureSummary, PredictionSummary
from stream_processors.scoring_step import score_messages, score_values
from stream_processors.summary_buffer import HOLD_EVENTS, SummaryBuffer
from tests.unit.stream_processors.fakes import event_bytes, record, summarising_state

NOW = datetime(2026, 6, 1, 12, 0, 5, tzinfo=UTC)
PARTITIONS = 3


def stream(n: int, seed: int) -> list[KafkaRecord]:
    """Events over three partitions at consecutive offsets of each, some not valid."""
    rng = random.Random(seed)
    next_offset = [0] * PARTITIONS
    out = []
    for i in range(n):
        p = rng.randrange(PARTITIONS)
        value = b"{nope" if rng.random() < 0.02 else event_bytes(
            f"e{i}", f"u{i}", cart_value=rng.choice([5.0, 50.0, None]))
        out.append(record(value, offset=next_offset[p], partition=p))
        next_offset[p] += 1
    return out


def held_in_batches(messages: list[KafkaRecord], sizes: list[int],
                    **deployment: object) -> tuple[list[bytes], list[bytes]]:
    """Score ``messages`` in batches of ``sizes`` into one buffer, then take it."""
    state, seen, buffer = summarising_state(**deployment), RecentIds(), SummaryBuffer()
    lo = 0
    for size in sizes:
        batch = messages[lo:lo + size]
        score_values([m.value for m in batch], [m.key for m in batch],
                     [m.partition for m in batch], batch.__getitem__, state, seen, now=NOW,
                     summaries=buffer)
        lo += size
    features, predictions = buffer.take()
    assert buffer.take() == ([], [])  # taken once
    return [v for _, v, _ in features], [v for _, v, _ in predictions]


def sizes_of(n: int, rng: random.Random, most: int) -> list[int]:
    sizes = []
    while sum(sizes) < n:
        sizes.append(min(rng.randint(1, most), n - sum(sizes)))
    return sizes


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_small_batches_held_until_a_commit_are_summarised_as_one_batch(seed: int) -> None:
    """Batches of 1 to 30 events, held, give the very summaries of one batch of them all:
    runs of 100 events, not one summary a partition a batch."""
    messages = stream(1_500, seed)
    routes = {"canary": 2, "canary_fraction": 0.3, "shadow": 3}

    features, predictions = held_in_batches(messages, sizes_of(1_500, random.Random(seed), 30),
                                            **routes)

    whole = score_messages(messages, summarising_state(**routes), RecentIds(), now=NOW,
                           summarise=True)
    assert features == [v for _, v, _ in whole.summaries]
    assert predictions == [v for _, v, _ in whole.prediction_summaries]
    decoded = [msgspec.json.decode(v, type=FeatureSummary) for v in features]
    valid = sum(1 for m in messages if m.value != b"{nope")
    # Three served versions, each summarising every valid event in runs of up to 100.
    assert sum(s.events for s in decoded) == 3 * valid
    assert len(decoded) <= 3 * (valid // 100 + PARTITIONS)
    routed = [msgspec.json.decode(v, type=PredictionSummary) for v in predictions]
    assert {s.route for s in routed} == {"champion", "canary", "shadow"}
    assert sum(s.events for s in routed if s.route != "shadow") == valid


def test_a_change_of_served_versions_summarises_what_was_held_against_the_old_ones() -> None:
    """Events scored before a version was served are not in its feature summaries."""
    messages = stream(400, seed=4)
    buffer, seen = SummaryBuffer(), RecentIds()
    for state, batch in ((summarising_state(), messages[:250]),
                         (summarising_state(shadow=2), messages[250:])):
        score_values([m.value for m in batch], [m.key for m in batch],
                     [m.partition for m in batch], batch.__getitem__, state, seen, now=NOW,
                     summaries=buffer)
    features, _ = buffer.take()

    decoded = [msgspec.json.decode(v, type=FeatureSummary) for _, v, _ in features]
    valid_after = sum(1 for m in messages[250:] if m.value != b"{nope")
    valid = sum(1 for m in messages if m.value != b"{nope")
    assert sum(s.events for s in decoded if s.version == 2) == valid_after
    assert sum(s.events for s in decoded if s.version == 1) == valid


def test_the_summaries_of_lost_partitions_are_left_to_their_new_owner() -> None:
    messages = stream(600, seed=5)
    buffer = SummaryBuffer()
    score_values([m.value for m in messages], [m.key for m in messages],
                 [m.partition for m in messages], messages.__getitem__, summarising_state(),
                 RecentIds(), now=NOW, summaries=buffer)

    buffer.forget({1})
    features, predictions = buffer.take()

    assert {p for _, _, p in features} == {p for _, _, p in predictions} == {0, 2}
    kept = sum(1 for m in messages if m.partition != 1 and m.value != b"{nope")
    assert sum(msgspec.json.decode(v, type=FeatureSummary).events
               for _, v, _ in features) == kept


def test_what_is_held_is_summarised_once_there_is_enough_of_it() -> None:
    """A commit far off (a busy topic): once a batch brings HOLD_EVENTS, what is held is
    summarised, so no more than that and a batch is ever held."""
    messages = stream(6_000, seed=6)
    state, seen, buffer = summarising_state(), RecentIds(), SummaryBuffer()
    most = 0
    for lo in range(0, len(messages), 700):
        batch = messages[lo:lo + 700]
        score_values([m.value for m in batch], [m.key for m in batch],
                     [m.partition for m in batch], batch.__getitem__, state, seen, now=NOW,
                     summaries=buffer)
        most = max(most, buffer.events)
    features, _ = buffer.take()

    assert 0 < most < HOLD_EVENTS
    valid = sum(1 for m in messages if m.value != b"{nope")
    assert sum(msgspec.json.decode(v, type=FeatureSummary).events
               for _, v, _ in features) == valid
