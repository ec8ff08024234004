from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.records import Deployment
from scorer.routing import Assignment, assign, bucket, group_by_assignment

USERS = [f"user-{i}" for i in range(100_000)]


def deployment(**changes: object) -> Deployment:
    fields: dict[str, object] = {
        "model": "conversion", "champion": 3, "canary": 4, "canary_fraction": 0.2,
        "decided_by": "test", "reason": "canary v4", "decided_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    return Deployment(**{**fields, **changes})  # type: ignore[arg-type]


def canary_users(d: Deployment) -> set[str]:
    return {u for u in USERS if assign(d, u)[0].route == "canary"}


def test_a_fraction_of_one_fifth_routes_one_fifth_of_users_to_the_canary() -> None:
    share = len(canary_users(deployment(canary_fraction=0.2))) / len(USERS)

    assert share == pytest.approx(0.2, abs=0.02)


def test_a_user_always_gets_the_same_route() -> None:
    d = deployment()

    assert [assign(d, u) for u in USERS[:2000]] == [assign(d, u) for u in USERS[:2000]]


def test_raising_the_fraction_only_adds_users_to_the_canary() -> None:
    small = canary_users(deployment(canary_fraction=0.1))
    large = canary_users(deployment(canary_fraction=0.3))

    assert small < large


@pytest.mark.parametrize("changes", [{"canary_fraction": 0.0}, {"canary": None}, {"canary": 3}])
def test_without_a_live_canary_everyone_gets_the_champion(changes: dict[str, object]) -> None:
    d = deployment(**changes)

    assert {assign(d, u) for u in USERS[:5000]} == {(Assignment("champion", 3),)}


def test_a_fraction_of_one_sends_everyone_to_the_canary() -> None:
    d = deployment(canary_fraction=1.0)

    assert {assign(d, u)[0] for u in USERS[:5000]} == {Assignment("canary", 4)}


def test_a_shadow_scores_every_event_in_addition_and_is_never_shown() -> None:
    d = deployment(shadow=5)

    routes = [assign(d, u) for u in USERS[:1000]]

    assert all(len(r) == 2 and r[1] == Assignment("shadow", 5) for r in routes)
    assert all(r[0].shown and not r[1].shown for r in routes)


def test_a_shadow_equal_to_the_shown_version_is_not_scored_twice() -> None:
    assert assign(deployment(canary=None, shadow=3), "u1") == (Assignment("champion", 3),)


def test_each_model_takes_its_own_slice_of_users() -> None:
    first = {u for u in USERS[:10_000] if bucket("conversion", u) < 0.2}
    second = {u for u in USERS[:10_000] if bucket("churn", u) < 0.2}

    overlap = len(first & second) / len(first)
    assert overlap == pytest.approx(0.2, abs=0.03)  # independent slices overlap by the fraction


def test_grouping_gives_each_assignment_the_positions_of_its_events() -> None:
    d = deployment(shadow=5)
    users = USERS[:300]

    groups = group_by_assignment(d, users)

    assert groups[Assignment("shadow", 5)] == list(range(300))
    shown = groups[Assignment("champion", 3)] + groups[Assignment("canary", 4)]
    assert sorted(shown) == list(range(300))
    assert all(assign(d, users[i])[0].route == "canary" for i in groups[Assignment("canary", 4)])


@pytest.mark.parametrize("changes", [
    {}, {"shadow": 5}, {"canary": None}, {"canary": None, "shadow": 5},
    {"canary": None, "shadow": 3}, {"canary_fraction": 0.0, "shadow": 5}, {"canary": 3},
    {"canary_fraction": 1.0, "shadow": 4},
])
def test_grouping_gives_each_event_the_versions_its_user_is_assigned(
        changes: dict[str, object]) -> None:
    d = deployment(**changes)
    users = USERS[:500]
    expected: dict[Assignment, list[int]] = {}
    for i, user in enumerate(users):
        for a in assign(d, user):
            expected.setdefault(a, []).append(i)

    assert group_by_assignment(d, users) == expected
    assert group_by_assignment(d, []) == {}
