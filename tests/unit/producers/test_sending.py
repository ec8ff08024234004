"""Pacing and the send loop: events held to a rate, labels sent as they come."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from contracts.records import UserEvent
from contracts.settings import Settings
from producers import (
    EventProducer,
    InMemoryClient,
    LabelProducer,
    Pacer,
    SendCounts,
    Simulator,
    send_stream,
    with_labels,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacer_holds_the_rate_on_an_absolute_schedule() -> None:
    clock = FakeClock()
    pacer = Pacer(10.0, clock=clock, sleep=clock.sleep)

    for _ in range(5):
        pacer.wait()
    clock.now += 0.25  # a slow caller: the next waits are shorter, the lag does not add up
    for _ in range(5):
        pacer.wait()

    assert clock.now == pytest.approx(100.9)


def test_a_rate_of_zero_never_waits_and_a_negative_rate_is_refused() -> None:
    clock = FakeClock()
    pacer = Pacer(0.0, clock=clock, sleep=clock.sleep)
    for _ in range(100):
        pacer.wait()

    assert clock.sleeps == []
    with pytest.raises(ValueError, match="rate"):
        Pacer(-1.0)


def test_send_stream_sends_events_and_labels_to_their_topics_and_counts_them() -> None:
    client = InMemoryClient()
    settings = Settings(topic_prefix="p.")
    events = EventProducer(settings, client=client)
    labels = LabelProducer(settings, client=client)
    seen: list[int] = []
    simulator = Simulator(seed=1, label_delay_s=0.0)

    counts = send_stream(with_labels(simulator.events(1_200)), events=events, labels=labels,
                         progress=lambda c: seen.append(c.events), progress_every=500)

    assert counts == SendCounts(events=1_200, labels=1_200)
    assert seen == [500, 1_000, 1_200]
    topics = [m.topic for m in client.messages]
    assert topics.count("p.user-events") == 1_200 and topics.count("p.labels") == 1_200


def test_counts_survive_an_interrupted_loop() -> None:
    client = InMemoryClient()
    events = EventProducer(Settings(), client=client)
    counts = SendCounts()

    def interrupted() -> Iterator[UserEvent]:
        yield from (i.event for i in Simulator(seed=1).events(10))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        send_stream(interrupted(), events=events, labels=LabelProducer(Settings(), client=client),
                    counts=counts)

    assert counts.events == 10 and len(client.messages) == 10
