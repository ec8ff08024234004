"""Which partitions the joiner pauses so its topics are read in step by event time."""

from __future__ import annotations

from datetime import UTC, datetime

from stream_processors.event_time_alignment import EventTimeAlignment

EVENTS, LABELS, PREDICTIONS = ("user-events", 0), ("labels", 0), ("predictions", 0)
NOW = 10_000.0


def crowded(topic: str, partition: int) -> bool:
    return True


def ends(**by_topic: int | None) -> object:
    table = {(topic.replace("_", "-"), 0): end for topic, end in by_topic.items()}
    return lambda topic, partition: table.get((topic, partition))


def alignment() -> EventTimeAlignment:
    return EventTimeAlignment(["user-events", "labels", "predictions"], lead_seconds=10,
                              stall_seconds=5)


def test_a_topic_ahead_of_one_with_records_left_is_paused_until_it_is_caught_up_to() -> None:
    a = alignment()
    a.observe({EVENTS: 10, LABELS: 500}, {EVENTS: 100.0, LABELS: 400.0}, now=NOW)
    high = ends(user_events=1000, labels=1000)
    assert a.decide(high, crowded, now=NOW) == ([LABELS], [])
    assert a.decide(high, crowded, now=NOW) == ([], [])  # already paused: nothing to do

    a.observe({EVENTS: 600}, {EVENTS: 392.0}, now=NOW + 1)  # within the lead, not yet half
    assert a.decide(high, crowded, now=NOW + 1) == ([], [])
    a.observe({EVENTS: 700}, {EVENTS: 396.0}, now=NOW + 2)
    assert a.decide(high, crowded, now=NOW + 2) == ([], [LABELS])
    assert a.paused == set()


def test_nothing_is_held_back_by_a_partition_read_to_its_end_or_of_unknown_end() -> None:
    a = alignment()
    a.observe({EVENTS: 1000, LABELS: 10}, {EVENTS: 100.0, LABELS: 400.0}, now=NOW)
    assert a.decide(ends(user_events=1000, labels=1000), crowded, now=NOW) == ([], [])
    assert a.decide(ends(user_events=None, labels=1000), crowded, now=NOW) == ([], [])


def test_a_lagging_partition_that_stops_moving_releases_the_others() -> None:
    a = alignment()
    a.observe({EVENTS: 10, LABELS: 500}, {EVENTS: 100.0, LABELS: 400.0}, now=NOW)
    high = ends(user_events=1000, labels=1000)
    assert a.decide(high, crowded, now=NOW) == ([LABELS], [])
    assert a.decide(high, crowded, now=NOW + 6) == ([], [LABELS])  # events unread for 6 s > 5 s


def test_the_lowest_of_several_lagging_topics_sets_the_pace() -> None:
    a = alignment()
    a.observe({EVENTS: 10, PREDICTIONS: 10, LABELS: 10},
              {EVENTS: 300.0, PREDICTIONS: 100.0, LABELS: 305.0}, now=NOW)
    high = ends(user_events=1000, predictions=1000, labels=1000)
    assert a.decide(high, crowded, now=NOW) == ([LABELS, EVENTS], [])
    assert a.decide(high, crowded, now=NOW) == ([], [])


def test_each_partition_number_is_paced_on_its_own() -> None:
    a = alignment()
    a.observe({("user-events", 0): 1, ("labels", 1): 1, ("user-events", 1): 1},
              {("user-events", 0): 100.0, ("labels", 1): 400.0, ("user-events", 1): 395.0},
              now=NOW)
    assert a.decide(lambda topic, partition: 1000, crowded, now=NOW) == ([], [])


def test_written_event_times_cannot_hold_a_partition_paused() -> None:
    a = alignment()
    far_future = datetime(2999, 1, 1, tzinfo=UTC)
    a.observe({EVENTS: 10, LABELS: 10}, {EVENTS: NOW - 100, LABELS: far_future}, now=NOW)
    high = ends(user_events=1000, labels=1000)
    assert a.decide(high, crowded, now=NOW) == ([LABELS], [])
    # The future counts as now; a record dated far back does not take events back.
    a.observe({EVENTS: 20}, {EVENTS: 0.0}, now=NOW)
    a.observe({EVENTS: 30}, {EVENTS: NOW - 4}, now=NOW)
    assert a.decide(high, crowded, now=NOW) == ([], [LABELS])


def test_a_newly_assigned_partition_holds_the_others_back_until_its_first_record() -> None:
    a = alignment()
    a.expect(EVENTS, next_offset=0, end=800, now=NOW)
    a.expect(LABELS, next_offset=0, end=800, now=NOW)
    a.observe({LABELS: 250}, {LABELS: 400.0}, now=NOW)
    # The cached end is unknown before the first fetch: the end at assignment stands in.
    assert a.decide(ends(), crowded, now=NOW) == ([LABELS], [])
    a.observe({EVENTS: 250}, {EVENTS: 396.0}, now=NOW)
    assert a.decide(ends(), crowded, now=NOW) == ([], [LABELS])
    a.expect(("other-topic", 0), next_offset=0, end=5, now=NOW)  # not aligned: ignored
    assert a.decide(ends(), crowded, now=NOW) == ([], [])


def test_forgetting_partitions_hands_back_those_paused() -> None:
    a = alignment()
    a.observe({EVENTS: 10, LABELS: 500, ("labels", 1): 5, ("user-events", 1): 1},
              {EVENTS: 100.0, LABELS: 400.0, ("labels", 1): 400.0,
               ("user-events", 1): 100.0}, now=NOW)
    every_end = lambda topic, partition: 1000  # noqa: E731
    assert a.decide(every_end, crowded, now=NOW) == ([LABELS, ("labels", 1)], [])
    assert a.forget({0}) == [LABELS]
    assert a.paused == {("labels", 1)}
    assert a.decide(lambda topic, partition: 1000, crowded, now=NOW) == ([], [])


def test_a_topic_ahead_is_left_alone_while_its_store_has_room() -> None:
    a = alignment()
    a.observe({EVENTS: 10, LABELS: 500}, {EVENTS: 100.0, LABELS: 400.0}, now=NOW)
    high = ends(user_events=1000, labels=1000)
    assert a.decide(high, lambda topic, partition: topic != "labels", now=NOW) == ([], [])
    assert a.decide(high, crowded, now=NOW) == ([LABELS], [])
