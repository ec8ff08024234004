"""Notices: decision alerts, and the status ``streamml models status`` reads back from them."""

from __future__ import annotations

from datetime import timedelta

from retrainer.notices import decision_alert, status_lines
from streamml.cli.main import build_parser
from tests.unit.retrainer.conftest import T0, alert


def notice(kind: str, reason: str, minutes: int, model: str = "conversion"):  # type: ignore[no-untyped-def]
    return decision_alert(model=model, version=1, kind=kind, reason=reason, metric="x",
                          value=None, threshold=None, details={},
                          now=T0 + timedelta(minutes=minutes))


def test_the_newest_retrainer_notice_is_the_status_and_older_ones_follow() -> None:
    lines = status_lines([
        notice("retrain-rejected", "not published: bound below 0", 1),
        notice("retrain-waiting", "waiting for 500 more post-change labels for alert X", 2),
        notice("retrain-waiting", "someone else's model", 3, model="other"),
        alert(kind="concept-drift"),
    ], model="conversion")
    assert lines[0].endswith("waiting for 500 more post-change labels for alert X")
    assert lines[1:] == ["before:", "  2026-03-01T00:01:00+00:00 retrain-rejected: "
                         "not published: bound below 0"]


def test_without_notices_the_status_says_so() -> None:
    assert "has said nothing yet" in status_lines([], model="conversion")[0]


def test_the_cli_knows_models_status() -> None:
    assert build_parser().parse_args(["models", "status"]).verb == "status"
