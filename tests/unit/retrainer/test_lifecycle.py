"""Deployment changes: what each does, what each refuses, and where rollback goes."""

from __future__ import annotations

import pytest

from retrainer.exceptions import LifecycleError
from retrainer.lifecycle import (
    champion_line,
    describe,
    promote,
    rollback,
    start_canary,
    start_shadow,
    statuses,
    withdraw,
)
from tests.unit.retrainer.conftest import T0, deployment

WHO = {"decided_by": "me", "reason": "because", "now": T0}
VERSIONS = {1, 2, 3, 4}


def test_promote_makes_the_champion_and_takes_the_version_off_other_routes() -> None:
    d = promote(deployment(1, canary=2, fraction=0.3, shadow=3), VERSIONS, 2,
                model="conversion", **WHO)
    assert (d.champion, d.canary, d.canary_fraction, d.shadow) == (2, None, 0.0, 3)
    assert (d.decided_by, d.reason, d.decided_at) == ("me", "because", T0)


def test_promote_refuses_unknown_versions_and_the_current_champion() -> None:
    with pytest.raises(LifecycleError, match="version 9 is not in the registry"):
        promote(deployment(1), VERSIONS, 9, model="conversion", **WHO)
    with pytest.raises(LifecycleError, match="already the champion"):
        promote(deployment(1), VERSIONS, 1, model="conversion", **WHO)


def test_a_first_promotion_needs_no_deployment() -> None:
    assert promote(None, {1}, 1, model="conversion", **WHO).model == "conversion"


def test_canary_checks_its_fraction_and_version() -> None:
    d = start_canary(deployment(1, shadow=2), VERSIONS, 2, 0.25, **WHO)
    assert (d.canary, d.canary_fraction, d.shadow) == (2, 0.25, None)
    for fraction in (0.0, 1.5):
        with pytest.raises(LifecycleError, match="fraction"):
            start_canary(deployment(1), VERSIONS, 2, fraction, **WHO)
    with pytest.raises(LifecycleError, match="is the champion"):
        start_canary(deployment(1), VERSIONS, 1, 0.1, **WHO)
    with pytest.raises(LifecycleError, match="no deployment yet"):
        start_canary(None, VERSIONS, 2, 0.1, **WHO)


def test_shadow_replaces_a_canary_of_the_same_version() -> None:
    d = start_shadow(deployment(1, canary=2, fraction=0.1), VERSIONS, 2, **WHO)
    assert (d.champion, d.canary, d.canary_fraction, d.shadow) == (1, None, 0.0, 2)
    with pytest.raises(LifecycleError, match="is the champion"):
        start_shadow(deployment(1), VERSIONS, 1, **WHO)


def test_withdraw_takes_one_version_off_its_route_and_keeps_the_rest() -> None:
    d = withdraw(deployment(1, canary=2, fraction=0.1, shadow=3), 2, **WHO)
    assert (d.champion, d.canary, d.canary_fraction, d.shadow) == (1, None, 0.0, 3)
    d = withdraw(deployment(1, canary=2, fraction=0.1, shadow=3), 3, **WHO)
    assert (d.champion, d.canary, d.canary_fraction, d.shadow) == (1, 2, 0.1, None)


def test_rollback_goes_to_the_previous_champion_and_clears_the_other_routes() -> None:
    history = [deployment(1), deployment(1, canary=2, fraction=0.1), deployment(2),
               deployment(2, canary=3, fraction=0.1), deployment(3)]
    current = deployment(3, canary=4, fraction=0.1)
    d = rollback(current, history, VERSIONS, **WHO)
    assert (d.champion, d.canary, d.shadow) == (2, None, None)
    twice = rollback(d, [*history, current, d], VERSIONS, **WHO)
    assert twice.champion == 1, "a second rollback goes one more step back"


def test_rollback_with_one_champion_only_says_there_is_nothing_to_go_back_to() -> None:
    with pytest.raises(LifecycleError, match="nothing to roll back to"):
        rollback(deployment(1), [deployment(1)], VERSIONS, **WHO)


def test_champion_line_pops_rolled_back_champions() -> None:
    history = [deployment(c) for c in (1, 2, 3, 2, 4)]
    assert champion_line(history) == [1, 2, 4]


def test_statuses_and_descriptions() -> None:
    history = [deployment(1), deployment(1, canary=2, fraction=0.1), deployment(2)]
    assert statuses(VERSIONS, deployment(2, shadow=4), history) == {
        1: "retired", 2: "champion", 3: "available", 4: "shadow"}
    assert describe(None, deployment(1)) == "champion v1"
    assert describe(deployment(1, canary=2, fraction=0.1), deployment(2)) == "champion v1 -> v2"
    assert describe(deployment(1, canary=2, fraction=0.1),
                    deployment(1, canary=2, fraction=0.5)) == "canary v2 at 50%"
    assert describe(deployment(1), deployment(1, shadow=3)) == "shadow v3"
    assert describe(deployment(1), deployment(1)) == "no change"
