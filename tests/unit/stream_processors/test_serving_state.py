from __future__ import annotations

import pytest

from contracts.feature_summary import Summariser
from stream_processors.serving_state import KEPT_VERSIONS, ServingState
from tests.unit.stream_processors.fakes import REFERENCE, FakeModel, deployment


def test_not_ready_until_the_deployment_names_a_loaded_champion():
    state = ServingState().with_model(FakeModel(1))
    assert not state.ready
    with pytest.raises(LookupError):
        state.champion()
    state = state.with_deployment(deployment(1))
    assert state.ready and state.champion().version == 1


def test_keeps_the_newest_versions_and_every_version_a_route_names():
    state = ServingState().with_model(FakeModel(1)).with_deployment(deployment(1))
    for version in range(2, 12):
        state = state.with_model(FakeModel(version))
    assert len(state.models) == KEPT_VERSIONS
    assert 1 in state.models, "the champion is never dropped"
    assert max(state.models) == 11


def test_missing_versions_lists_what_a_deployment_names_but_is_not_loaded():
    state = ServingState().with_model(FakeModel(1))
    assert state.missing_versions(deployment(1, canary=3, shadow=4)) == [3, 4]


def test_swapping_builds_a_new_state_and_leaves_the_old_one_untouched():
    old = ServingState().with_model(FakeModel(1)).with_deployment(deployment(1))
    new = old.with_model(FakeModel(2)).with_deployment(deployment(2))
    assert old.champion().version == 1 and new.champion().version == 2


def test_a_versions_summariser_goes_when_the_version_goes():
    state = ServingState().with_deployment(deployment(1))
    for version in range(1, KEPT_VERSIONS + 3):
        state = state.with_model(FakeModel(version), Summariser("conversion", version, REFERENCE))
    assert set(state.summarisers) == set(state.models) and 1 in state.models
    assert [s.version for s in state.served_summarisers()] == [1]
