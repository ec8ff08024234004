"""The model pipelines of ``deploy/ci/``, their steps run as the files list them, on a broker.

Each file's steps run in a shell, in the file's order, with the file's variables and
the test broker's settings, until one fails, as a CI runner would. Three steps are
not run, for reasons of this machine, not of the pipeline: ``install`` (the test runs
inside the installed project), ``test`` (the suite runs the unit tests itself) and
``image`` (no Docker engine here; the Dockerfile is checked in ``tests/unit/deploy``).
A step added to a file without a decision here fails the test.

The champion the pipeline meets was trained on shuffled labels (a damaged model) in
one run, and on the same history as the snapshot in the other. The data come from
fixed simulator seeds; the verdicts do not hang on them, since a model of the rule
beats one of noise by far more than the gate's margin, and a model no better than the
champion is refused by any margin.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from contracts.settings import Settings
from producers.simulator import Simulator
from retrainer.registry_io import read_view
from scorer.datasets import TrainingRow
from scorer.training import train
from tests.integration.processes import settings_env
from tests.integration.scoring_fixtures import publish_champion, signed
from tests.integration.test_retrainer_support import signed_settings

CI = Path(__file__).resolve().parents[2] / "deploy" / "ci"
NOT_RUN = {"install", "test", "image"}
RUN = ["train", "evaluate", "publish"]


def github_steps() -> tuple[list[tuple[str, str]], dict[str, str]]:
    workflow = yaml.safe_load((CI / "github-actions.yml").read_text())
    steps = [(step["id"], step["run"]) for step in workflow["jobs"]["model"]["steps"]
             if "run" in step]
    return steps, workflow["env"]


def gitlab_steps() -> tuple[list[tuple[str, str]], dict[str, str]]:
    pipeline = yaml.safe_load((CI / "gitlab-ci.yml").read_text())
    jobs = [(name, job) for name, job in pipeline.items()
            if isinstance(job, dict) and "stage" in job]
    jobs.sort(key=lambda item: pipeline["stages"].index(item[1]["stage"]))
    install = ("install", "\n".join(pipeline["default"]["before_script"]))
    return ([install, *((name, "\n".join(job["script"])) for name, job in jobs)],
            pipeline["variables"])


PIPELINES = {"github": github_steps, "gitlab": gitlab_steps}


def history(seed: int, n: int, *, shuffled: bool = False) -> list[TrainingRow]:
    items = Simulator(seed=seed, start=datetime(2026, 1, 1, tzinfo=UTC)).events(n)
    rows = [TrainingRow(dict(i.event.features), i.label, i.event.ts) for i in items]
    if shuffled:
        labels = [row.label for row in rows]
        random.Random(seed).shuffle(labels)
        rows = [row._replace(label=label) for row, label in zip(rows, labels, strict=True)]
    return rows


def write_csv(path: Path, rows: list[TrainingRow]) -> None:
    """The flat CSV a data snapshot is: a timestamp, one column per feature, the label."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted({name for row in rows for name in row.features})
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["ts", *names, "converted"])
        for row in rows:
            values = ("" if row.features.get(n) is None else row.features[n] for n in names)
            writer.writerow([row.ts.isoformat() if row.ts else "", *values, row.label])


def run_pipeline(steps: list[tuple[str, str]], variables: dict[str, str], env: dict[str, str],
                 workdir: Path) -> list[tuple[str, int, str]]:
    """Run the steps not in NOT_RUN until one fails: (step, exit code, output) of each.

    Variables the CI platform fills in (secrets, its registry) come from ``env``.
    """
    own = {k: str(v) for k, v in variables.items() if "${{" not in str(v)
           and not str(v).startswith("$")}
    env = {**env, **own, "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
           # One OpenMP thread for the boosted trees `--model auto` tries: idle OpenMP
           # threads spin, which on a loaded 2-core machine makes a fit ten times slower.
           "OMP_NUM_THREADS": "1"}
    ran = []
    for name, script in steps:
        if name in NOT_RUN:
            continue
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=workdir,
                              env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        ran.append((name, done.returncode, done.stdout + done.stderr))
        if done.returncode != 0:
            break
    return ran


@pytest.fixture
def settings(kafka_settings: Settings) -> Settings:
    return signed_settings(kafka_settings)


def environment(settings: Settings) -> dict[str, Any]:
    return settings_env(settings, GITHUB_SHA="0" * 40, GITHUB_RUN_ID="7",
                        CI_COMMIT_SHA="0" * 40, CI_PIPELINE_ID="7")


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
def test_every_step_of_the_pipeline_is_run_here_or_skipped_for_a_stated_reason(
        pipeline: str) -> None:
    steps, _ = PIPELINES[pipeline]()

    names = [name for name, _ in steps]

    assert [n for n in names if n not in NOT_RUN] == RUN
    assert set(names) == NOT_RUN | set(RUN)


@pytest.mark.parametrize("pipeline", sorted(PIPELINES))
def test_a_better_candidate_is_judged_then_published_as_a_canary_beside_the_champion(
    pipeline: str, settings: Settings, tmp_path: Path
) -> None:
    damaged, _ = train(history(1, 1500, shuffled=True), model=settings.model_name, version=1)
    publish_champion(settings, signed(damaged))
    steps, variables = PIPELINES[pipeline]()
    write_csv(tmp_path / variables["DATA_SNAPSHOT"], history(2, 1500))
    write_csv(tmp_path / variables["DATA_HOLDOUT"], history(3, 1500))

    ran = run_pipeline(steps, variables, environment(settings), tmp_path)

    assert [(name, code) for name, code, _ in ran] == [(n, 0) for n in RUN], ran
    assert "PASSED" in ran[1][2]
    verdict = json.loads((tmp_path / "artifacts" / "verdict.json").read_text())
    assert verdict["passed"] and verdict["champion_version"] == 1
    deployment = read_view(settings).state.deployment
    assert deployment is not None
    assert (deployment.champion, deployment.canary) == (1, 2)
    assert deployment.canary_fraction == float(variables["CANARY_FRACTION"])
    assert deployment.decided_by.startswith("streamml models publish")


def test_a_candidate_no_better_than_the_champion_stops_the_pipeline_before_publishing(
    settings: Settings, tmp_path: Path
) -> None:
    champion, _ = train(history(2, 1500), model=settings.model_name, version=1)
    publish_champion(settings, signed(champion))
    steps, variables = github_steps()
    write_csv(tmp_path / variables["DATA_SNAPSHOT"], history(2, 1500, shuffled=True))
    write_csv(tmp_path / variables["DATA_HOLDOUT"], history(3, 1500))

    ran = run_pipeline(steps, variables, environment(settings), tmp_path)

    assert [(name, code) for name, code, _ in ran] == [("train", 0), ("evaluate", 1)], ran
    assert "REFUSED" in ran[1][2]
    view = read_view(settings)
    assert sorted(view.state.versions) == [1]
    assert view.state.deployment is not None and view.state.deployment.canary is None
