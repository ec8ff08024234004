"""The pure join: any arrival order, duplicates, shadow scores, bounds by count and age."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from contracts.records import Label, Prediction, Route, UserEvent
from stream_processors.label_join import (
    LABEL_STORE_FULL,
    NO_SCORED_EVENT,
    AgedStore,
    JoinOutput,
    LabelJoin,
)

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def event(event_id: str = "e1", user_id: str = "u1") -> UserEvent:
    return UserEvent(event_id=event_id, user_id=user_id, ts=T0,
                     features={"cart_value": 12.5, "device": "mobile"})


def prediction(event_id: str = "e1", *, route: Route = "champion", score: float = 0.7,
               version: int = 3) -> Prediction:
    return Prediction(event_id=event_id, user_id="u1", ts=T0, model="conversion",
                      version=version, route=route, score=score, decision=int(score > 0.5),
                      scored_at=T0 + timedelta(seconds=1))


def label(event_id: str = "e1", value: int = 1, delay: float = 90.0) -> Label:
    return Label(event_id=event_id, user_id="u1", ts=T0 + timedelta(seconds=delay), label=value)


def feed(join: LabelJoin, record: object, now: float, out: JoinOutput) -> None:
    if isinstance(record, UserEvent):
        join.on_event(record, now, out)
    elif isinstance(record, Prediction):
        join.on_prediction(record, now, out)
    else:
        assert isinstance(record, Label)
        join.on_label(record, now, out)


@pytest.mark.parametrize("order", list(itertools.permutations(["event", "prediction", "label"])))
def test_every_arrival_order_gives_one_labeled_event(order: tuple[str, ...]) -> None:
    records = {"event": event(), "prediction": prediction(), "label": label()}
    join, out = LabelJoin(), JoinOutput()

    for now, name in enumerate(order):
        feed(join, records[name], float(now), out)

    assert [(e.event_id, e.user_id, e.label, e.score, e.version) for e in out.labeled] == [
        ("e1", "u1", 1, 0.7, 3)
    ]
    assert out.labeled[0].features == {"cart_value": 12.5, "device": "mobile"}
    assert out.labeled[0].ts == T0
    assert out.label_delays == [("conversion", 90.0)]
    assert len(join.events) == 0 and len(join.waiting_labels) == 0


def test_duplicates_of_every_record_give_one_labeled_event() -> None:
    join, out = LabelJoin(), JoinOutput()
    records = [label(), event(), label(), prediction(), event(), prediction(score=0.1),
               label(), event(), prediction()]

    for now, record in enumerate(records):
        feed(join, record, float(now), out)

    assert len(out.labeled) == 1
    assert out.labeled[0].score == 0.7
    assert out.duplicates == {"label": 2, "event": 2, "prediction": 2}


def test_a_repeated_prediction_before_the_label_keeps_the_first_score() -> None:
    join, out = LabelJoin(), JoinOutput()

    join.on_event(event(), 0.0, out)
    join.on_prediction(prediction(score=0.9, version=1), 1.0, out)
    join.on_prediction(prediction(score=0.2, version=2), 2.0, out)
    join.on_label(label(), 3.0, out)

    assert [(e.score, e.version) for e in out.labeled] == [(0.9, 1)]
    assert out.duplicates["prediction"] == 1


def test_shadow_predictions_are_ignored() -> None:
    join, out = LabelJoin(label_wait_seconds=10), JoinOutput()

    join.on_event(event(), 0.0, out)
    join.on_prediction(prediction(route="shadow", score=0.1, version=9), 1.0, out)
    join.on_label(label(), 2.0, out)
    assert out.labeled == []

    join.on_prediction(prediction(route="canary", score=0.6, version=4), 3.0, out)
    assert [(e.score, e.version) for e in out.labeled] == [(0.6, 4)]


def test_label_without_scored_event_is_unmatched_after_the_wait() -> None:
    join, out = LabelJoin(label_wait_seconds=5), JoinOutput()
    join.on_label(label("lost"), 0.0, out)

    join.expire(5.0, out)
    assert out.unmatched_labels == []
    join.expire(5.5, out)

    assert [(u.label.event_id, u.reason) for u in out.unmatched_labels] == [
        ("lost", NO_SCORED_EVENT)
    ]
    assert out.unmatched_labels[0].error.startswith(
        "no event with id `lost` was seen within the 5s label wait")
    assert len(join.waiting_labels) == 0


def test_label_of_an_unscored_event_says_so() -> None:
    join, out = LabelJoin(label_wait_seconds=5), JoinOutput()
    join.on_event(event(), 0.0, out)
    join.on_label(label(), 0.0, out)

    join.expire(6.0, out)

    assert out.unmatched_labels[0].reason == NO_SCORED_EVENT
    assert "no champion or canary prediction" in out.unmatched_labels[0].error


def test_a_late_label_still_joins_within_the_event_ttl() -> None:
    join, out = LabelJoin(ttl_seconds=100, label_wait_seconds=5), JoinOutput()
    join.on_event(event(), 0.0, out)
    join.on_prediction(prediction(), 0.0, out)

    join.expire(99.0, out)
    join.on_label(label(), 99.0, out)

    assert len(out.labeled) == 1


def test_events_leave_after_their_ttl_and_their_label_is_unmatched() -> None:
    join, out = LabelJoin(ttl_seconds=100, label_wait_seconds=5), JoinOutput()
    join.on_event(event(), 0.0, out)
    join.on_prediction(prediction(), 0.0, out)

    join.expire(101.0, out)
    join.on_label(label(), 101.0, out)
    join.expire(107.0, out)

    assert out.labeled == []
    assert out.events_dropped == {"expired": 1}
    assert [u.reason for u in out.unmatched_labels] == [NO_SCORED_EVENT]


def test_a_full_label_store_pushes_out_the_oldest_label() -> None:
    join, out = LabelJoin(capacity=2), JoinOutput()

    for i in range(3):
        join.on_label(label(f"e{i}"), float(i), out)

    assert [(u.label.event_id, u.reason) for u in out.unmatched_labels] == [
        ("e0", LABEL_STORE_FULL)
    ]
    assert len(join.waiting_labels) == 2


def test_a_full_event_store_forgets_the_oldest_event() -> None:
    join, out = LabelJoin(capacity=2), JoinOutput()

    for i in range(3):
        join.on_event(event(f"e{i}"), float(i), out)

    assert out.events_dropped == {"store-full": 1}
    assert "e0" not in join.events and len(join.events) == 2


def test_joined_ids_are_bounded() -> None:
    join, out = LabelJoin(capacity=3), JoinOutput()

    for i in range(10):
        for record in (event(f"e{i}"), prediction(f"e{i}"), label(f"e{i}")):
            feed(join, record, float(i), out)

    assert len(out.labeled) == 10
    assert len(join.joined) == 3 and len(join.events) == 0


def test_aged_store_refreshes_a_key_put_again() -> None:
    store = AgedStore[int](capacity=3, ttl_seconds=10)
    store.put("a", 1, now=0)
    store.put("b", 2, now=1)
    store.put("a", 3, now=5)

    assert store.expire(now=11.5) == [("b", 2)]
    assert store.get("a") == 3
    assert store.expire(now=15.5) == [("a", 3)]


def test_aged_store_refuses_a_capacity_below_one() -> None:
    with pytest.raises(ValueError, match="capacity >= 1"):
        AgedStore[int](capacity=0, ttl_seconds=1)
