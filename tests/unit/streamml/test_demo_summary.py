"""What the demo says when it ends without a newer champion."""

from __future__ import annotations

from pathlib import Path

from streamml.demo.summary import retrainer_decisions

LOG = """\
2026-12-03T20:23:30+0000 INFO retrainer.loop concept-drift alert f1 about v1 opens a drift episode
2026-12-03T20:23:31+0000 DEBUG retrainer.window window holds 4000 events
2026-12-03T20:23:36+0000 INFO retrainer.service job done published=2 seconds=8.3 reason='x'
2026-12-03T20:23:37+0000 INFO retrainer.service status: waiting for the canary trial of v2
"""


def test_the_retrainers_decisions_are_picked_from_its_log(tmp_path: Path) -> None:
    log = tmp_path / "retrainer.log"
    log.write_text(LOG)
    said = retrainer_decisions(log).splitlines()
    assert [line.split(" ", 3)[3][:20] for line in said] == [
        "concept-drift alert ", "job done published=2", "status: waiting for "]
    assert len(retrainer_decisions(log, lines=1).splitlines()) == 1


def test_a_missing_or_silent_log_is_said_in_words(tmp_path: Path) -> None:
    assert retrainer_decisions(tmp_path / "absent.log").startswith("(no retrainer log:")
    (tmp_path / "quiet.log").write_text("started\n")
    assert retrainer_decisions(tmp_path / "quiet.log") == "(the retrainer logged no decision)"
