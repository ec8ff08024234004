"""When the demo's drifted stream stops: the rule that keeps a late canary's trial fed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contracts.records import Deployment
from streamml.demo.run import PROMOTION_WAIT_SECONDS, overtime_over


def deployment(champion: int, canary: int | None = None) -> Deployment:
    return Deployment(model="conversion", champion=champion, canary=canary,
                      canary_fraction=0.5 if canary else 0.0, decided_by="test", reason="r",
                      decided_at=datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize("past_deadline_s", [-100.0, 0.0, 1.0, 500.0])
def test_a_promoted_newer_champion_ends_it_at_once(past_deadline_s: float) -> None:
    assert overtime_over("sudden-concept", deployment(2), past_deadline_s)


def test_a_stable_run_has_no_overtime() -> None:
    assert overtime_over("stable", deployment(1), -PROMOTION_WAIT_SECONDS)


@pytest.mark.parametrize("serving", [None, deployment(1)])
def test_with_no_trial_under_way_it_ends_at_the_deadline(serving: Deployment | None) -> None:
    assert not overtime_over("sudden-concept", serving, -1.0)
    assert overtime_over("sudden-concept", serving, 1.0)


def test_a_canary_on_trial_at_the_deadline_gets_one_more_wait_and_no_more() -> None:
    on_trial = deployment(1, canary=2)
    assert not overtime_over("sudden-concept", on_trial, 1.0)
    assert not overtime_over("sudden-concept", on_trial, PROMOTION_WAIT_SECONDS - 1)
    assert overtime_over("sudden-concept", on_trial, PROMOTION_WAIT_SECONDS + 1)
    # A refining round's canary (v3 beside champion v2) waits for the deadline only.
    assert not overtime_over("sudden-concept", deployment(2, canary=3), -1.0)
    assert overtime_over("sudden-concept", deployment(2, canary=3), 1.0)
