from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from contracts.bounded_ids import RecentIds
from contracts.records import DeadLetter, FeatureSummary, Prediction, PredictionSummary
from stream_processors.scoring_step import score_messages
from stream_processors.serving_state import ServingState
from tests.unit.stream_processors.fakes import (
    FakeModel,
    deployment,
    event_bytes,
    record,
    summarising_state,
)

NOW = datetime(2026, 6, 1, 12, 0, 5, tzinfo=UTC)


def ready_state(**changes: object) -> ServingState:
    state = ServingState().with_model(FakeModel(1)).with_model(FakeModel(2))
    return state.with_deployment(deployment(1, **changes))


def predictions(result) -> list[Prediction]:
    return [msgspec.json.decode(v, type=Prediction) for _, v, _ in result.predictions]


def test_every_valid_event_gets_one_prediction_keyed_by_user():
    messages = [record(event_bytes(f"e{i}", f"u{i}"), offset=i) for i in range(5)]
    result = score_messages(messages, ready_state(), RecentIds(), now=NOW)
    out = predictions(result)
    assert [p.event_id for p in out] == [f"e{i}" for i in range(5)]
    assert [k for k, _, _ in result.predictions] == [f"u{i}".encode() for i in range(5)]
    assert {(p.model, p.version, p.route) for p in out} == {("conversion", 1, "champion")}
    assert out[0].score == 0.5 and out[0].decision == 1
    assert result.event_lag_seconds == [5.0] * 5


def test_bad_bytes_become_dead_letters_with_origin_and_the_rest_is_scored():
    messages = [record(event_bytes("e1")), record(b"{nope", offset=7), record(event_bytes("e2"))]
    result = score_messages(messages, ready_state(), RecentIds(), now=NOW)
    assert [p.event_id for p in predictions(result)] == ["e1", "e2"]
    (key, raw, _), = result.dead_letters
    letter = msgspec.json.decode(raw, type=DeadLetter)
    assert (key, letter.reason, letter.original, letter.source_offset) == (
        b"u1", "not-json", b"{nope", 7)
    assert result.rejected == {"not-json": 1}


def test_outputs_go_to_their_events_partition_whatever_their_key_hashes_to():
    """Any partitioner may have placed an event; its outputs follow it, not a hash."""
    messages = [record(event_bytes(f"e{i}", "u1"), offset=i, partition=i) for i in range(3)]
    messages.append(record(b"{nope", offset=9, partition=5))
    result = score_messages(messages, ready_state(shadow=2), RecentIds(), now=NOW)
    assert sorted(p for _, _, p in result.predictions) == [0, 0, 1, 1, 2, 2]
    assert [p for _, _, p in result.dead_letters] == [5]


def test_a_feature_value_the_model_refuses_dead_letters_only_that_event():
    messages = [record(event_bytes(f"e{i}", cart_value="lots" if i == 2 else 10.0), offset=i)
                for i in range(5)]
    result = score_messages(messages, ready_state(), RecentIds(), now=NOW)
    assert [p.event_id for p in predictions(result)] == ["e0", "e1", "e3", "e4"]
    assert result.rejected == {"bad-feature-value": 1}


def test_a_repeated_event_id_is_dead_lettered_not_scored_twice():
    seen = RecentIds()
    score_messages([record(event_bytes("e1"))], ready_state(), seen, now=NOW)
    result = score_messages([record(event_bytes("e1"))], ready_state(), seen, now=NOW)
    assert result.predictions == []
    assert result.rejected == {"duplicate-event-id": 1}


def test_canary_and_shadow_routes_score_with_their_versions():
    state = ready_state(canary=2, canary_fraction=1.0, shadow=2)
    messages = [record(event_bytes(f"e{i}", f"u{i}")) for i in range(4)]
    out = predictions(score_messages(messages, state, RecentIds(), now=NOW))
    assert {(p.route, p.version) for p in out} == {("canary", 2)}

    state = ready_state(shadow=2)
    out = predictions(score_messages(messages, state, RecentIds(), now=NOW))
    assert sorted((p.route, p.version) for p in out) == [("champion", 1)] * 4 + [("shadow", 2)] * 4


def test_each_version_scores_its_events_in_one_batch():
    state = ready_state()
    model = state.models[1]
    score_messages([record(event_bytes(f"e{i}", f"u{i}")) for i in range(100)], state,
                   RecentIds(), now=NOW)
    assert model.batches == [100]  # type: ignore[attr-defined]


def test_an_event_not_keyed_by_its_user_id_is_dead_lettered():
    messages = [record(event_bytes("e1", "u1"), key=b""), record(event_bytes("e2", "u2"),
                                                                 key=b"u3")]
    result = score_messages(messages, ready_state(), RecentIds(), now=NOW)
    assert result.predictions == []
    assert result.rejected == {"key-not-user-id": 2}


def test_with_explanations_a_linear_models_predictions_carry_its_top_terms() -> None:
    from scorer.training import TrainingConfig, train
    from tests.unit.scorer.conftest import make_rows

    bundle, _ = train(make_rows(600), model="conversion", version=1,
                      config=TrainingConfig(param_grid={"model__C": [1.0]}))
    state = ServingState(models={1: bundle}, deployment=deployment(1))
    messages = [record(event_bytes(f"e{i}", f"u{i}", cart_value=10.0 * i), offset=i)
                for i in range(5)]
    now = datetime(2026, 6, 1, 13, tzinfo=UTC)

    plain = score_messages(messages, state, RecentIds(), now=now)
    explained = score_messages(messages, state, RecentIds(), now=now, explain_top_k=2)

    assert all(b"contributions" not in value for _, value, _ in plain.predictions)
    for (_, value, _), (_, bare, _) in zip(explained.predictions, plain.predictions,
                                           strict=True):
        prediction = msgspec.json.decode(value, type=Prediction)
        assert len(prediction.contributions) == 2
        assert set(prediction.contributions) <= set(bundle.schema.names)
        assert msgspec.structs.replace(prediction, contributions=msgspec.UNSET) == \
            msgspec.json.decode(bare, type=Prediction)


def summaries(result) -> list[tuple[bytes, FeatureSummary, int]]:
    return [(k, msgspec.json.decode(v, type=FeatureSummary), p) for k, v, p in result.summaries]


def test_valid_events_are_summarised_on_their_partition_for_each_served_version():
    messages = [record(event_bytes(f"e{i}", "u1"), offset=10 + i, partition=i % 2)
                for i in range(6)]
    messages.append(record(b"{nope", offset=99, partition=0))  # a dead letter is no event
    result = score_messages(messages, summarising_state(shadow=2), RecentIds(), now=NOW,
                            summarise=True)
    out = summaries(result)
    # Version 3 is loaded but serves no route: nothing is judged against it.
    assert sorted((s.version, s.partition, s.first_offset, s.last_offset, s.events)
                  for _, s, _ in out) == [(1, 0, 10, 14, 3), (1, 1, 11, 15, 3),
                                          (2, 0, 10, 14, 3), (2, 1, 11, 15, 3)]
    assert all(key == b"conversion" and p == s.partition for key, s, p in out)
    assert all(list(s.numeric["cart_value"].coarse) == [0, 3] for _, s, _ in out)
    assert all(s.start == s.end and s.start.year == 2026 for _, s, _ in out)


def test_nothing_is_summarised_unless_asked():
    messages = [record(event_bytes(f"e{i}", "u1"), offset=i) for i in range(3)]
    assert score_messages(messages, summarising_state(), RecentIds(), now=NOW).summaries == []


def prediction_summaries(result) -> list[PredictionSummary]:
    return [msgspec.json.decode(v, type=PredictionSummary)
            for _, v, _ in result.prediction_summaries]


def test_each_routes_predictions_are_summarised_on_their_events_partition():
    messages = [record(event_bytes(f"e{i}", f"u{i}", cart_value=float(i)), offset=20 + i,
                       partition=i % 2) for i in range(200)]
    messages.append(record(event_bytes("bad", "ub", cart_value="text"), offset=999))
    result = score_messages(messages, summarising_state(canary=2, canary_fraction=0.3,
                                                        shadow=3), RecentIds(), now=NOW,
                            summarise=True)
    predicted = [msgspec.json.decode(v, type=Prediction) for _, v, _ in result.predictions]
    out = prediction_summaries(result)
    assert all(k == b"conversion" and p == s.partition for (k, _, p), s in
               zip(result.prediction_summaries, out, strict=True))
    for route in ("champion", "canary", "shadow"):
        mine = [p for p in predicted if p.route == route]
        theirs = [s for s in out if s.route == route]
        assert mine and {s.version for s in theirs} == {mine[0].version}
        assert sum(s.events for s in theirs) == len(mine)
        assert sum(sum(s.table.counts) for s in theirs) == len(mine)
        positives = sum(c for s in theirs for cell, c in zip(s.table.cells, s.table.counts,
                                                             strict=True) if cell >= 100)
        assert positives == sum(p.decision for p in mine)
        assert sum(sum(s.table.sums) for s in theirs) == pytest.approx(
            sum(p.score for p in mine))
        # The reference has one score bin, so every prediction is counted in it.
        assert all(s.scores == [s.events] for s in theirs)
        for s in theirs:  # offsets are those of the summarised events, in their partition
            offsets = [20 + int(p.event_id[1:]) for p in mine
                       if int(p.event_id[1:]) % 2 == s.partition
                       and s.first_offset <= 20 + int(p.event_id[1:]) <= s.last_offset]
            assert (min(offsets), max(offsets), len(offsets)) == (s.first_offset,
                                                                 s.last_offset, s.events)
    # The event the model refused was predicted on no route, so it is in no summary.
    assert sum(s.events for s in out) == len(predicted) == 2 * 200


def test_predictions_are_not_summarised_unless_asked():
    messages = [record(event_bytes(f"e{i}", "u1"), offset=i) for i in range(3)]
    result = score_messages(messages, summarising_state(), RecentIds(), now=NOW)
    assert result.prediction_summaries == []
