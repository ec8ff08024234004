"""The simulator: reproducible, valid records, and each scenario changes what it says, when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import msgspec
import numpy as np
import pytest

from contracts.decoding import decode_event
from contracts.records import Label, UserEvent
from producers import (
    CATEGORICAL_FEATURES,
    NUMERIC_FEATURES,
    SCENARIOS,
    Batch,
    Simulator,
    SimulatorError,
    with_labels,
)

N = 40_000
DRIFT_AT = 20_000


@cache
def columns(scenario: str, gradual: int = 0, return_at: int | None = None) -> Batch:
    """All of a seeded run's batches joined into one set of columns."""
    simulator = Simulator(seed=11, scenario=scenario, drift_at=DRIFT_AT, gradual=gradual,
                          return_at=return_at)
    parts = list(simulator.batches(N))

    def join(name: str) -> Any:
        return np.concatenate([getattr(b, name) for b in parts])

    features = {k: np.concatenate([b.features[k] for b in parts]) for k in parts[0].features}
    return Batch(join("index"), join("offset_s"), join("user"), features, join("weight"),
                 join("regime"), join("probability"), join("label"))


def halves(scenario: str) -> tuple[np.ndarray, np.ndarray]:
    index = columns(scenario).index
    return index < DRIFT_AT, index >= DRIFT_AT


def mean(scenario: str, feature: str, mask: np.ndarray) -> float:
    return float(np.nanmean(columns(scenario).features[feature][mask].astype(float)))


def share(scenario: str, feature: str, value: str, mask: np.ndarray) -> float:
    return float(np.mean(columns(scenario).features[feature][mask] == value))


def rate(scenario: str, mask: np.ndarray) -> float:
    return float(columns(scenario).label[mask].mean())


def test_same_seed_gives_the_same_events_and_another_seed_others() -> None:
    first = [i.event for i in Simulator(seed=5).events(300)]
    again = [i.event for i in Simulator(seed=5).events(300)]
    other = [i.event for i in Simulator(seed=6).events(300)]

    assert first == again
    assert [e.features for e in first] != [e.features for e in other]


def test_a_longer_run_starts_with_the_events_of_a_shorter_one() -> None:
    short = [i.event for i in Simulator(seed=2).events(10_000)]
    long = [i.event for i in Simulator(seed=2).events(20_000)]

    assert long[:10_000] == short


def test_event_ids_are_unique_and_users_come_back() -> None:
    events = [i.event for i in Simulator(seed=1, n_users=500).events(5_000)]

    assert len({e.event_id for e in events}) == 5_000
    visits = np.unique([e.user_id for e in events], return_counts=True)[1]
    assert len(visits) <= 500 and visits.max() > 10


def test_event_time_advances_from_start_at_the_configured_rate() -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    ts = [i.event.ts for i in Simulator(start=start, events_per_second=4.0).events(4_000)]

    assert ts[0] >= start and all(a <= b for a, b in zip(ts, ts[1:], strict=False))
    assert (ts[-1] - start).total_seconds() == pytest.approx(1_000, rel=0.1)
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in ts)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_event_passes_the_contract_decoder(scenario: str) -> None:
    simulator = Simulator(seed=3, scenario=scenario, drift_at=1_000)
    now = (simulator.start + timedelta(days=1)).timestamp()

    for item in simulator.events(3_000):
        decoded = decode_event(msgspec.json.encode(item.event), now=now)
        assert isinstance(decoded, UserEvent), decoded


def test_missing_values_show_up_as_nulls_and_as_absent_fields() -> None:
    events = [i.event for i in Simulator(seed=4).events(10_000)]

    nulls = sum(e.features.get("cart_value", 0.0) is None for e in events)
    absent = sum("channel" not in e.features for e in events)
    assert 150 < nulls < 600 and 150 < absent < 600
    assert all(e.features["session_length_s"] is not None for e in events)


def test_stable_base_rate_is_between_ten_and_twenty_percent() -> None:
    assert 0.10 < columns("stable").label.mean() < 0.20


def test_stable_scenario_changes_nothing_at_drift_at() -> None:
    before, after = halves("stable")

    assert rate("stable", after) == pytest.approx(rate("stable", before), abs=0.015)
    for feature in NUMERIC_FEATURES:
        assert mean("stable", feature, after) == pytest.approx(
            mean("stable", feature, before), rel=0.05), feature


def test_covariate_shift_moves_the_named_features_only_after_drift_at() -> None:
    changes = SCENARIOS["covariate-shift"].changes
    before, after = halves("covariate-shift")
    first, second = before & (columns("covariate-shift").index < DRIFT_AT // 2), \
        before & (columns("covariate-shift").index >= DRIFT_AT // 2)

    for feature in NUMERIC_FEATURES:
        old, new = mean("covariate-shift", feature, before), mean("covariate-shift", feature, after)
        assert mean("covariate-shift", feature, first) == pytest.approx(
            mean("covariate-shift", feature, second), rel=0.06), feature
        if feature in changes:
            assert abs(new - old) / old > 0.15, feature
        else:
            assert new == pytest.approx(old, rel=0.05), feature
    assert share("covariate-shift", "device", "mobile", before) == pytest.approx(0.55, abs=0.02)
    assert share("covariate-shift", "device", "mobile", after) == pytest.approx(0.80, abs=0.02)


def test_concept_drift_changes_the_rule_but_not_the_features_or_base_rate() -> None:
    before, after = halves("concept-drift")
    device = columns("concept-drift").features["device"]

    def mobile_minus_desktop(mask: np.ndarray) -> float:
        return rate("concept-drift", mask & (device == "mobile")) \
            - rate("concept-drift", mask & (device == "desktop"))

    assert mobile_minus_desktop(before) < -0.05
    assert mobile_minus_desktop(after) > 0.05
    assert rate("concept-drift", after) == pytest.approx(rate("concept-drift", before), abs=0.02)
    for feature in NUMERIC_FEATURES:
        assert mean("concept-drift", feature, after) == pytest.approx(
            mean("concept-drift", feature, before), rel=0.05), feature


def test_concept_drift_turns_browsing_from_a_good_sign_into_a_bad_one() -> None:
    data = columns("concept-drift")
    browsing = data.features["items_in_cart"] == 0

    def correlation(mask: np.ndarray) -> float:
        pages = np.log1p(data.features["pages_viewed"][mask])
        return float(np.corrcoef(pages, data.label[mask])[0, 1])

    before, after = halves("concept-drift")
    assert correlation(before & browsing) > 0.04
    assert correlation(after & browsing) < -0.04


def test_label_shift_raises_the_base_rate_and_leaves_the_features() -> None:
    before, after = halves("label-shift")

    assert rate("label-shift", before) == pytest.approx(0.14, abs=0.015)
    assert rate("label-shift", after) == pytest.approx(0.32, abs=0.02)
    for feature in NUMERIC_FEATURES:
        assert mean("label-shift", feature, after) == pytest.approx(
            mean("label-shift", feature, before), rel=0.05), feature


def test_new_category_appears_only_after_drift_at_and_often() -> None:
    before, after = halves("new-category")

    assert share("new-category", "channel", "tiktok_shop", before) == 0.0
    assert share("new-category", "channel", "tiktok_shop", after) == pytest.approx(0.29, abs=0.02)


def test_covariate_shift_return_goes_back_to_the_original_distributions() -> None:
    data = columns("covariate-shift-return", return_at=30_000)
    index = data.index
    before, during, back = index < DRIFT_AT, (index >= DRIFT_AT) & (index < 30_000), \
        index >= 30_000

    def median(mask: np.ndarray) -> float:
        return float(np.nanmedian(data.features["session_length_s"][mask]))

    assert median(during) < 0.6 * median(before)
    assert median(back) == pytest.approx(median(before), rel=0.06)
    assert data.regime[back].sum() == 0


def test_gradual_drift_mixes_the_new_regime_in_over_the_window() -> None:
    data = columns("label-shift", gradual=8_000)
    index = data.index

    def drifted(low: int, high: int) -> float:
        return float(data.regime[(index >= low) & (index < high)].mean())

    assert drifted(0, DRIFT_AT) == 0.0
    assert drifted(DRIFT_AT, DRIFT_AT + 2_000) == pytest.approx(0.125, abs=0.03)
    assert drifted(DRIFT_AT + 6_000, DRIFT_AT + 8_000) == pytest.approx(0.875, abs=0.03)
    assert drifted(DRIFT_AT + 8_000, N) == 1.0


def test_labels_follow_their_event_after_the_delay_in_time_and_events() -> None:
    simulator = Simulator(seed=9, label_delay_s=60.0, label_delay_events=20)
    events_sent = 0
    sent_when: dict[str, tuple[int, datetime]] = {}
    labels = 0

    for record in with_labels(simulator.events(2_000)):
        if isinstance(record, UserEvent):
            events_sent += 1
            sent_when[record.event_id] = (events_sent, record.ts)
            continue
        assert isinstance(record, Label)
        labels += 1
        count, ts = sent_when[record.event_id]
        assert record.ts - ts == timedelta(seconds=60)
        # Labels still pending when the events run out are drained at the end.
        assert (events_sent - count >= 20 and sent_when_last(sent_when) >= record.ts) \
            or events_sent == 2_000
    assert labels == 2_000


def sent_when_last(sent: dict[str, tuple[int, datetime]]) -> datetime:
    return next(reversed(sent.values()))[1]


def test_training_line_is_the_event_plus_its_label() -> None:
    item = next(Simulator(seed=1).events(1))

    line = msgspec.json.decode(item.training_line())

    assert line["label"] == item.label and line["schema_version"] == 1
    assert line["event_id"] == item.event.event_id and set(line["features"]) <= set(
        NUMERIC_FEATURES + CATEGORICAL_FEATURES)


def test_unknown_scenario_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(SimulatorError, match="covariate-shift-return"):
        Simulator(scenario="sideways")



def test_the_cli_offers_every_scenario() -> None:
    from streamml.cli.commands.simulate import SCENARIO_NAMES

    assert SCENARIO_NAMES == tuple(SCENARIOS)
