"""The series behind the ops page's charts and reports, fed a batch of windows at a time."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from monitor.history import History, SeriesTable
from monitor.report import WindowFeatures, WindowReport
from scorer.bundle import ModelBundle
from tests.unit.monitor.conftest import make_pipeline, play, simulator


def same(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0] and (x[1] == y[1] or (math.isnan(x[1]) and math.isnan(y[1])))
        for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("seed", range(40))
def test_windows_added_together_make_the_series_added_one_at_a_time(seed: int) -> None:
    """Runs of windows, each run reporting one set of figures (some not finite), across
    the archive's merges: the points and the recent windows are those of one add a
    window."""
    rng = random.Random(seed)
    capacity = rng.choice([2, 4, 8, 16, 512])
    one, together = SeriesTable(capacity, 7), SeriesTable(capacity, 7)
    end = 0.0
    for _ in range(rng.randint(1, 30)):
        names = rng.choice([["x", "y"], ["x"], ["y", "z"]])
        ends, rows = [], []
        for _ in range(rng.randint(1, 40)):
            end += 1.0
            ends.append(end)
            rows.append([rng.choice([rng.random(), math.inf, -math.inf, math.nan])
                         for _ in names])
        for at, row in zip(ends, rows, strict=True):
            one.add(at, names, row)
        together.add_many(ends, names, rows)
    assert one.stride == together.stride
    for name in ("x", "y", "z"):
        assert same(one.points(name), together.points(name))
        assert same(one.last(name, 7), together.last(name, 7))


@pytest.fixture(scope="module")
def batches(bundle: ModelBundle) -> list[list[WindowReport]]:
    """The reports of a shifted stream, as the pipeline judged them: a batch at a time."""
    pipeline = make_pipeline(bundle)
    seen: list[list[WindowReport]] = []
    add_all = pipeline.history.add_all

    def keep(reports: Sequence[WindowReport]) -> None:
        seen.append(list(reports))
        add_all(reports)

    pipeline.history.add_all = keep  # type: ignore[method-assign]
    play(pipeline, bundle, simulator("covariate-shift", drift_at=3000), 12_000)
    return seen


def test_a_batch_of_reports_makes_the_history_one_report_at_a_time_makes(
        batches: list[list[WindowReport]]) -> None:
    together, one = History(points=30, archive=16), History(points=30, archive=16)
    for reports in batches:
        together.add_all(reports)
        for report in reports:
            one.add(report)
    assert sum(map(len, batches)) > 16 * 4  # the archive merged its points
    assert together.series.keys() == one.series.keys() and together.latest == one.latest
    for key, table in together.series.items():
        assert table.stride == one.series[key].stride
        for name in table.columns:
            assert same(table.points(name), one.series[key].points(name))
            assert same(table.last(name, 30), one.series[key].last(name, 30))
    for scope, kept in together.kept_features.items():
        assert [(n, r.end) for n, r in kept._kept] == \
            [(n, r.end) for n, r in one.kept_features[scope]._kept]


def test_a_kept_window_keeps_its_own_figures_and_none_of_its_batch(
        batches: list[list[WindowReport]]) -> None:
    history = History()
    for reports in batches:
        history.add_all(reports)
    judged = {(r.scope, r.end): r for reports in batches for r in reports
              if r.kind == "features" and r.judged}
    [kept] = history.kept_features.values()
    assert len(kept._kept) > 10
    for _, report in kept._kept:
        assert isinstance(report.features, WindowFeatures)
        assert dict(report.features) == dict(judged[(report.scope, report.end)].features)
        # Its tables hold its own window alone, not its batch's dozens.
        assert all(len(getattr(table, "moments")) == 1  # noqa: B009
                   for _, table in report.features._tables.groups)
