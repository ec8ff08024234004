"""Which topics a new demo run deletes: only those of this folder's earlier runs."""

from __future__ import annotations

from pathlib import Path

from streamml.demo.run import earlier_run_topics

ON_BROKER = [
    "demo-20261201-101010-ab12.user-events", "demo-20261201-101010-ab12.predictions",
    "demo-20261202-090000-cd34.user-events",  # someone else's run on a shared broker
    "demo-20261203-120000-ef56.user-events",  # this run
    "payments.user-events", "demo-notes",
]


def test_only_the_runs_in_the_output_folder_are_deleted(tmp_path: Path) -> None:
    (tmp_path / "20261201-101010-ab12" / "logs").mkdir(parents=True)
    (tmp_path / "20261203-120000-ef56").mkdir()
    (tmp_path / "report.html").write_text("not a run")
    assert earlier_run_topics(ON_BROKER, tmp_path, "demo-20261203-120000-ef56.") == [
        "demo-20261201-101010-ab12.predictions", "demo-20261201-101010-ab12.user-events"]


def test_a_first_run_in_a_folder_deletes_nothing(tmp_path: Path) -> None:
    assert earlier_run_topics(ON_BROKER, tmp_path / "demo-output", "demo-x.") == []
