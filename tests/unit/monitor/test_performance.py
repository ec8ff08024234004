"""Realised performance from labeled events: the figures match scikit-learn's, exactly or,
for the ranking figures counted on a grid of scores, within a stated bound."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
)

from monitor.concept import make_detector
from monitor.labeled_window import LabeledBlock, LabeledWindow, window_figures
from monitor.performance import LabeledScope
from monitor.report import Scope
from monitor.windows import PASS_EVENTS

SCOPE = Scope("m", 1, "champion")
ROC_AUC_BOUND = 0.002  # off the exact figure, from scores on the grid
PR_AUC_BOUND = 0.01


def stream(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.beta(1, 5, n)
    return (rng.random(n) < scores).astype(np.int64), scores


def figures_of(labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5) \
        -> dict[str, float]:
    """The rolling figures of a window holding these events alone."""
    n = labels.size
    window = LabeledWindow(size=n, max_seconds=1e9, threshold=threshold)
    window.add(LabeledBlock.of(np.arange(float(n)), labels, scores, np.zeros(n), np.zeros(n),
                               threshold))
    return window_figures([window.counts()])[0]


def scope(**kwargs: object) -> LabeledScope:
    options: dict[str, object] = dict(window_size=1000, stride=1000, max_seconds=1e9,
                                      min_events=100)
    options.update(kwargs)
    return LabeledScope(SCOPE, **options)  # type: ignore[arg-type]


def test_window_figures_equal_scikit_learns_on_the_same_events() -> None:
    y, p = stream(2500)
    s = scope(threshold=0.3)

    reports = s.add(np.arange(2500.0), y, p, np.zeros(2500))

    assert [r.n for r in reports] == [1000, 1000]
    f = reports[-1].figures
    yw, pw, dw = y[1000:2000], p[1000:2000], (p[1000:2000] >= 0.3).astype(int)
    assert f["accuracy"] == pytest.approx(accuracy_score(yw, dw))
    assert f["precision"] == pytest.approx(precision_score(yw, dw))
    assert f["recall"] == pytest.approx(recall_score(yw, dw))
    assert f["f1"] == pytest.approx(f1_score(yw, dw))
    assert f["roc_auc"] == pytest.approx(roc_auc_score(yw, pw), abs=ROC_AUC_BOUND)
    assert f["pr_auc"] == pytest.approx(average_precision_score(yw, pw), abs=PR_AUC_BOUND)
    assert f["log_loss"] == pytest.approx(log_loss(yw, pw))
    assert f["brier"] == pytest.approx(brier_score_loss(yw, pw))
    assert f["calibration_error"] < 0.06  # the scores are calibrated by construction


def test_a_sliding_window_is_judged_every_stride_on_the_last_window_size_events() -> None:
    y, p = stream(2100, seed=3)
    s = scope(stride=250)

    reports = s.add(np.arange(2100.0), y, p, np.zeros(2100))

    assert [r.end for r in reports] == [249.0 + 250 * k for k in range(8)]
    assert [r.n for r in reports] == [250, 500, 750, 1000, 1000, 1000, 1000, 1000]
    last = reports[-1]
    assert (last.start, last.end) == (1000.0, 1999.0)
    assert last.figures["roc_auc"] == pytest.approx(roc_auc_score(y[1000:2000], p[1000:2000]),
                                                    abs=ROC_AUC_BOUND)
    assert last.figures["log_loss"] == pytest.approx(log_loss(y[1000:2000], p[1000:2000]))


def test_a_sliding_window_sees_a_drop_a_stride_after_it_outweighs_the_old_events() -> None:
    """The same stream, judged tumbling and sliding: after the scores stop following the
    labels at event 3000, the sliding window breaches a 0.1 AUC drop hundreds of events
    sooner. Any seed: the sliding window is judged at every multiple of 250, a superset of
    the tumbling judgements, on the same last 1,000 events."""
    y, p = stream(6000, seed=5)
    p[3000:] = np.random.default_rng(6).permutation(p[3000:])  # scores now say nothing

    def first_drop(stride: int) -> float:
        reports = scope(stride=stride).add(np.arange(6000.0), y, p, np.zeros(6000))
        return min(r.end for r in reports if r.figures["roc_auc_drop"] > 0.1)

    tumbling, sliding = first_drop(1000), first_drop(250)
    assert 3000 < sliding < tumbling
    assert sliding - 3000 <= 750


def test_rolling_figures_cover_only_the_last_window_of_event_time() -> None:
    y, p = stream(601)
    s = scope(max_seconds=100.0)

    # Event time closes a block every 100 s; the event at 600 s closes the last full one.
    s.add(np.arange(601.0), y, p, np.zeros(601))

    assert (s.window.events, s.window.oldest) == (100, 500.0)
    assert s.current()["brier"] == pytest.approx(np.mean((y[500:600] - p[500:600]) ** 2))


def test_roc_auc_is_undefined_while_the_window_holds_one_class() -> None:
    s = scope()

    s.add(np.arange(10.0), np.zeros(10, dtype=np.int64), np.full(10, 0.2), np.zeros(10))

    assert math.isnan(s.current()["roc_auc"]) and math.isnan(s.current()["pr_auc"])


@pytest.mark.parametrize("decimals", [1, 2])
@pytest.mark.parametrize("seed", range(5))
def test_roc_and_pr_auc_equal_scikit_learns_when_scores_fall_on_the_grid(
        seed: int, decimals: int) -> None:
    """Seeds 0-4; scores rounded so that many tie, each value in a bin of its own."""
    y, p = stream(400, seed)
    p = np.round(p, decimals)

    figures = figures_of(y, p)

    assert figures["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert figures["pr_auc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)


@pytest.mark.parametrize("shape", [(1.0, 5.0), (2.0, 2.0), (0.3, 3.0)])
def test_roc_and_pr_auc_from_the_grid_stay_within_their_bounds_of_the_exact_figures(
        shape: tuple[float, float]) -> None:
    """100 windows of 1,000 events (seeds 0-99) for each shape of scores: middling,
    spread, and piled near 0, where most scores share the lowest bins."""
    roc_off, pr_off = [], []
    for seed in range(100):
        rng = np.random.default_rng(seed)
        p = rng.beta(*shape, 1000)
        y = (rng.random(1000) < p).astype(np.int64)
        figures = figures_of(y, p)
        roc_off.append(abs(figures["roc_auc"] - roc_auc_score(y, p)))
        pr_off.append(abs(figures["pr_auc"] - average_precision_score(y, p)))

    assert max(roc_off) <= ROC_AUC_BOUND and max(pr_off) <= PR_AUC_BOUND
    assert np.median(roc_off) <= 0.0002 and np.median(pr_off) <= 0.001


def test_the_scope_decides_with_the_threshold_it_is_given() -> None:
    s = scope(threshold=0.25, stride=4)
    s.add(np.arange(4.0), np.array([0, 1, 0, 1]), np.array([0.1, 0.3, 0.2, 0.9]), np.zeros(4))

    assert s.current()["recall"] == 1.0 and s.current()["precision"] == 1.0
    s.threshold = 0.5  # read late: the events held are decided again
    assert s.current()["recall"] == 0.5


def test_drops_are_measured_from_the_better_of_held_out_and_early_figures() -> None:
    y, p = stream(5000)
    held_out = scope(reference_metrics={"roc_auc": 0.99, "brier": 0.5}, baseline_events=2000)

    reports = held_out.add(np.arange(5000.0), y, p, np.zeros(5000))

    baseline = reports[-1].detail["baseline"]
    assert baseline["roc_auc"] == 0.99  # type: ignore[index]
    assert baseline["brier"] == pytest.approx(held_out.baseline["brier"])  # type: ignore[index]
    assert reports[-1].figures["roc_auc_drop"] > 0.1


def test_concept_drift_is_the_loss_rise_once_a_detector_fires() -> None:
    y, p = stream(12_000, seed=3)
    flipped = np.where(np.arange(12_000) >= 6000, 1 - y, y)  # the labels' meaning turns
    s = scope(detectors={"adwin": make_detector("adwin")})

    reports = s.add(np.arange(12_000.0), flipped, p, np.zeros(12_000))

    effects = [r.figures["concept_drift"] for r in reports]
    assert effects[:6] == [0.0] * 6
    assert max(effects[6:9]) > 1.0
    assert any(r.detail["detectors"] for r in reports[6:9])


def test_label_delay_is_reported_from_its_buckets() -> None:
    y, p = stream(1000)

    [report] = scope().add(np.arange(1000.0), y, p, np.full(1000, 250.0))

    assert report.figures["label_delay_p50"] == 300.0


def test_where_a_drop_began_does_not_depend_on_where_batches_were_cut() -> None:
    """Seed 3: each window's located change is the same when its rules ask at once and
    when they ask after the rest of a large batch was fed (as the monitor's loop does)."""
    rng = np.random.default_rng(3)
    n = 4000
    y = (rng.random(n) < 0.3).astype(np.int64)
    scores = np.where(np.arange(n) < 2500, y * 0.5 + rng.random(n) * 0.5, rng.random(n))
    ts = np.arange(float(n))

    def located(batch: int) -> list[object]:
        scope = LabeledScope(Scope("m", 1, "champion"), window_size=1000, stride=250,
                             max_seconds=1e9, min_events=1)
        out = []
        for lo in range(0, n, batch):
            part = slice(lo, lo + batch)
            reports = scope.add(ts[part], y[part], scores[part], np.zeros(ts[part].size))
            out += [r.detail["located"]() for r in reports]
        return out

    one_by_one = located(250)
    assert [cp for cp in one_by_one if cp is not None]
    assert located(n) == one_by_one


@pytest.mark.parametrize("seed", range(8))
def test_windows_closed_together_equal_scikit_learns_each(seed: int) -> None:
    # Rows without ties, and rows whose scores are rounded so that many tie.
    rng = np.random.default_rng(seed)
    y, p = stream(6 * 400, seed)
    y, p = y.reshape(6, 400), p.reshape(6, 400)
    p[::2] = p[::2].round(int(rng.integers(1, 3))).clip(0.01, 0.99)
    windows = []
    for labels, scores in zip(y, p, strict=True):
        window = LabeledWindow(size=400, max_seconds=1e9, threshold=0.3)
        window.add(LabeledBlock.of(np.arange(400.0), labels, scores,
                                   -np.log(np.where(labels == 1, scores, 1 - scores)),
                                   np.zeros(400), 0.3))
        windows.append(window.counts())

    many = window_figures(windows)

    for f, yw, pw in zip(many, y, p, strict=True):
        assert f["roc_auc"] == pytest.approx(roc_auc_score(yw, pw), abs=ROC_AUC_BOUND)
        assert f["pr_auc"] == pytest.approx(average_precision_score(yw, pw), abs=PR_AUC_BOUND)
        assert f["log_loss"] == pytest.approx(log_loss(yw, pw), abs=1e-12)
        assert f["recall"] == pytest.approx(recall_score(yw, pw >= 0.3), abs=1e-12)
    assert [f["roc_auc"] for f in many] == [figures_of(yw, pw, 0.3)["roc_auc"]
                                            for yw, pw in zip(y, p, strict=True)]


def test_a_window_with_one_class_has_no_ranking_figures_beside_those_that_have() -> None:
    windows = []
    for labels, scores in ((np.array([1, 1, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])),
                           (np.array([0, 1, 0, 1]), np.array([0.1, 0.5, 0.5, 0.9]))):
        window = LabeledWindow(size=4, max_seconds=1e9, threshold=0.5)
        window.add(LabeledBlock.of(np.arange(4.0), labels, scores, np.zeros(4), np.zeros(4),
                                   0.5))
        windows.append(window.counts())

    many = window_figures(windows)

    assert math.isnan(many[0]["roc_auc"]) and math.isnan(many[0]["pr_auc"])
    assert (many[1]["roc_auc"], many[1]["pr_auc"]) == (0.875, pytest.approx(5 / 6))


def test_a_batch_that_closes_many_windows_reports_as_batches_that_close_one_each() -> None:
    y, p = stream(5000, seed=5)
    ts = np.arange(5000.0)
    whole, piecewise = scope(stride=250), scope(stride=250)

    together = whole.add(ts, y, p, np.zeros(5000))
    apart = [r for lo in range(0, 5000, 250)
             for r in piecewise.add(ts[lo:lo + 250], y[lo:lo + 250], p[lo:lo + 250],
                                    np.zeros(250))]

    assert len(together) == len(apart) == 20
    for a, b in zip(together, apart, strict=True):
        assert (a.start, a.end, a.n) == (b.start, b.end, b.n)
        assert a.detail["located"]() == b.detail["located"]()  # type: ignore[operator]
        assert a.figures == pytest.approx(b.figures, abs=1e-12, nan_ok=True)


@pytest.mark.parametrize("batch", [1, 97, 333, 1250])
def test_windows_are_the_same_whatever_the_batches_their_strides_span(batch: int) -> None:
    # Strides of 250 cut by batches of other sizes: a block gathered over several batches
    # must count as one that came whole, to the last bit of every figure.
    y, p = stream(5000, seed=6)
    ts = np.arange(5000.0)
    whole, cut = scope(stride=250), scope(stride=250)

    together = whole.add(ts, y, p, np.zeros(5000))
    apart = [r for lo in range(0, 5000, batch)
             for r in cut.add(ts[lo:lo + batch], y[lo:lo + batch], p[lo:lo + batch],
                              np.zeros(ts[lo:lo + batch].size))]

    assert len(together) == len(apart) == 20
    for a, b in zip(together, apart, strict=True):
        assert (a.start, a.end, a.n) == (b.start, b.end, b.n)
        assert repr(a.figures) == repr(b.figures)  # NaN equals NaN in a repr


def test_a_batch_of_several_passes_reports_as_small_batches_do() -> None:
    # A replay's batch is taken PASS_EVENTS at a time; strides of 300 straddle the cuts,
    # and each window still names the offsets where its drop began.
    n = 2 * PASS_EVENTS + 4321
    y, p = stream(n, seed=8)
    ts = np.arange(float(n))
    positions = (np.arange(n, dtype=np.int64) % 3, np.arange(n, dtype=np.int64) // 3)
    options = dict(window_size=1000, stride=300, min_events=200,
                   detectors={"adwin": make_detector("adwin")})
    whole, small = scope(**options), scope(**options)

    together = whole.add(ts, y, p, np.linspace(0.0, 5000.0, n), positions)
    apart = [r for lo in range(0, n, 1000) for r in small.add(
        ts[lo:lo + 1000], y[lo:lo + 1000], p[lo:lo + 1000],
        np.linspace(0.0, 5000.0, n)[lo:lo + 1000],
        (positions[0][lo:lo + 1000], positions[1][lo:lo + 1000]))]

    assert len(together) == len(apart) == n // 300
    for a, b in zip(together, apart, strict=True):
        assert (a.start, a.end, a.n) == (b.start, b.end, b.n)
        assert repr(a.figures) == repr(b.figures)
        assert a.detail["located"]() == b.detail["located"]()  # type: ignore[operator]
    assert whole.total == small.total == n


def test_a_window_too_small_to_locate_a_drop_in_names_its_own_start_and_first_offsets() -> None:
    y, p = stream(120, seed=3)
    positions = (np.tile([0, 1], 60).astype(np.int64), np.arange(1000, 1120, dtype=np.int64))
    reports = scope(window_size=30, stride=30, min_events=10).add(
        np.arange(120.0), y, p, np.zeros(120), positions)

    # Asked after the whole batch was fed: each names its own events, not later ones.
    named = [r.detail["located"]() for r in reports]  # type: ignore[operator]

    assert [(cp.at.timestamp(), cp.offsets, cp.source) for cp in named] == [
        (start, (("labeled-events", 0, 1000 + start), ("labeled-events", 1, 1001 + start)),
         "window") for start in (0, 30, 60, 90)]
