"""Constant-memory feature summaries: PSI, KS and Wasserstein on the reference's bins."""

from __future__ import annotations

import math

import numpy as np
import pytest

from contracts.reference_stats import CategoricalReference, Histogram, NumericReference
from contracts.sketches import (
    BinnedCounts,
    CategoricalBank,
    CategoricalSketch,
    NumericBank,
    NumericSketch,
    psi,
    psi_all,
)


def numeric_reference(values: np.ndarray) -> NumericReference:
    from scorer.reference import histogram

    h = histogram(values)
    return NumericReference(
        histogram=Histogram(edges=h.edges, frequencies=h.frequencies),
        quantiles=tuple(np.quantile(values, np.linspace(0, 1, 101)).tolist()),
        missing_rate=0.0)


def test_psi_is_zero_for_identical_histograms() -> None:
    expected = [0.1, 0.2, 0.3, 0.4]

    assert psi(np.array([10, 20, 30, 40]), expected) == 0.0
    assert psi(np.array([1000, 2000, 3000, 4000]), expected) == 0.0


def test_psi_grows_with_the_shift_and_is_symmetric_in_effect() -> None:
    expected = [0.25, 0.25, 0.25, 0.25]
    small = psi(np.array([30, 25, 25, 20]), expected)
    large = psi(np.array([70, 10, 10, 10]), expected)

    assert 0 < small < 0.05 < 0.2 < large


def test_psi_of_an_empty_window_is_undefined_and_an_empty_bin_is_finite() -> None:
    assert math.isnan(psi(np.zeros(3), [0.3, 0.3, 0.4]))
    assert math.isfinite(psi(np.array([0, 50, 50]), [0.3, 0.3, 0.4]))


def test_numeric_sketch_sees_no_drift_in_a_sample_of_the_reference_population() -> None:
    rng = np.random.default_rng(0)
    sketch = NumericSketch(numeric_reference(rng.lognormal(5, 0.8, 20_000)))

    sketch.add(rng.lognormal(5, 0.8, 2000))
    f = sketch.figures()

    assert f.psi < 0.02 and f.ks < 0.05 and f.wasserstein < 0.03
    assert f.median == pytest.approx(math.exp(5), rel=0.1)


def test_numeric_sketch_measures_a_shift_as_effect_sizes() -> None:
    rng = np.random.default_rng(0)
    sketch = NumericSketch(numeric_reference(rng.normal(0, 1, 20_000)))

    sketch.add(rng.normal(1, 1, 2000))  # one standard deviation
    f = sketch.figures()

    assert f.psi > 0.5
    assert f.ks == pytest.approx(0.38, abs=0.04)  # 2 Phi(0.5) - 1
    assert f.wasserstein == pytest.approx(1 / 3.29, abs=0.05)  # in 5-95% spreads
    assert f.median == pytest.approx(1.0, abs=0.15)


def test_numeric_sketch_counts_missing_values_apart() -> None:
    sketch = NumericSketch(numeric_reference(np.arange(100.0)))

    sketch.add(np.array([1.0, np.nan, 3.0, np.nan]))

    assert sketch.figures().missing_rate == 0.5
    assert sketch.figures().missing_delta == 0.5


def test_sketch_memory_does_not_grow_with_traffic() -> None:
    rng = np.random.default_rng(1)
    sketch = NumericSketch(numeric_reference(rng.normal(size=5000)))
    sizes = (sketch.coarse.counts.nbytes, sketch.fine.nbytes)

    for _ in range(100):
        sketch.add(rng.normal(size=10_000))

    assert (sketch.coarse.counts.nbytes, sketch.fine.nbytes) == sizes
    assert sketch.present == 1_000_000


def test_categorical_sketch_reports_unseen_and_missing_categories() -> None:
    sketch = CategoricalSketch(CategoricalReference(frequencies={"a": 0.6, "b": 0.4},
                                                    missing_rate=0.0))

    sketch.add(["a"] * 60 + ["b"] * 40 + ["new"] * 25 + [None] * 25)
    f = sketch.figures()

    assert f.psi == 0.0
    assert f.unseen_rate == pytest.approx(0.2)
    assert f.missing_rate == pytest.approx(25 / 150)
    assert f.unseen == {"new": 25}


def test_categorical_sketch_keeps_only_a_few_unseen_names() -> None:
    sketch = CategoricalSketch(CategoricalReference(frequencies={"a": 1.0}, missing_rate=0.0))

    sketch.add([f"id-{i}" for i in range(10_000)])

    assert len(sketch.figures().unseen) == 10
    assert sketch.figures().unseen_rate == 1.0


def test_categorical_psi_flags_a_moved_share() -> None:
    sketch = CategoricalSketch(CategoricalReference(
        frequencies={"mobile": 0.55, "desktop": 0.35, "tablet": 0.10}, missing_rate=0.0))

    sketch.add(["mobile"] * 80 + ["desktop"] * 15 + ["tablet"] * 5)
    f = sketch.figures()

    assert f.psi > 0.2
    assert f.shifts["mobile"] == pytest.approx((0.8, 0.55))


def test_binned_counts_follow_the_reference_binning_rule() -> None:
    counts = BinnedCounts(Histogram(edges=(1.0, 2.0), frequencies=(0.3, 0.3, 0.4)))

    counts.add(np.array([0.5, 1.0, 1.5, 2.0, 2.5]))  # v <= edge stays in the lower bin

    assert counts.counts.tolist() == [2, 2, 1]


@pytest.mark.parametrize("seed", range(10))
def test_categorical_figures_of_a_bank_equal_each_sketch_on_its_own(seed: int) -> None:
    # Features of 1 to 7 categories side by side (padded rows), with unseen and missing
    # values, empty windows and equal moves, whose first-listed must stay first.
    rng = np.random.default_rng(seed)
    sketches, alone = [], []
    for size in (1, 2, 3, 7):
        shares = rng.dirichlet(np.ones(size)).round(2) if seed % 3 else np.full(size, 1 / size)
        reference = CategoricalReference(
            frequencies={f"c{i}": float(v) for i, v in enumerate(shares)}, missing_rate=0.1)
        values = [None if r < 0.1 else f"c{int(r * 10 * size) % (size + 2)}"
                  for r in rng.random(int(rng.integers(0, 60)))]
        for into in (sketches, alone):
            sketch = CategoricalSketch(reference)
            sketch.add(values)
            into.append(sketch)
    bank = CategoricalBank(sketches)

    assert bank.figures() == [s.figures() for s in alone]
    for sketch, single in zip(sketches, alone, strict=True):  # the bank's rows are theirs
        sketch.add(["c0", "zz"])
        single.add(["c0", "zz"])
    assert bank.figures() == [s.figures() for s in alone]


@pytest.mark.parametrize("seed", range(6))
def test_numeric_figures_of_a_bank_are_the_distances_by_their_definitions(seed: int) -> None:
    # Grids of every size side by side: a hundred percentiles, ties among them, one
    # value, none; each window's KS, Wasserstein and median straight from its values.
    rng = np.random.default_rng(seed)
    spread = rng.normal(50.0, 15.0, 2_000)
    references = [numeric_reference(spread), numeric_reference(spread.round(-1)),
                  numeric_reference(np.full(50, 3.0)),
                  NumericReference(histogram=Histogram(edges=(10.0,), frequencies=(0.5, 0.5)),
                                   quantiles=(), missing_rate=0.0)]
    sketches = [NumericSketch(r) for r in references]
    bank = NumericBank(sketches)
    values = [rng.normal(55.0, 20.0, int(rng.integers(1, 300))).round(int(rng.integers(0, 2)))
              for _ in sketches]
    for sketch, x in zip(sketches, values, strict=True):
        sketch.add(x)

    for sketch, x, got in zip(sketches, values, bank.figures(), strict=True):
        grid, cdf = sketch.grid, sketch.reference_cdf
        live = np.searchsorted(np.sort(x), grid, side="right") / x.size
        gaps = np.abs(live - cdf)
        assert got.ks == (gaps.max() if grid.size else 0.0)
        assert got.wasserstein == pytest.approx(
            float(np.sum(gaps[:-1] * np.diff(grid))) / sketch.spread, rel=1e-12, abs=1e-15)
        above = np.flatnonzero(live >= 0.5)
        assert got.median == (grid[above[0]] if above.size else math.inf)


def test_numeric_features_without_percentiles_are_judged_on_their_histograms_alone() -> None:
    # A reference whose every numeric feature was missing in training has no grid.
    reference = NumericReference(histogram=Histogram(edges=(10.0,), frequencies=(0.5, 0.5)),
                                 quantiles=(), missing_rate=0.0)
    sketches = [NumericSketch(reference), NumericSketch(reference)]
    bank = NumericBank(sketches)
    sketches[0].add(np.array([1.0, 20.0, 30.0]))

    moved, empty = bank.figures()
    assert (moved.ks, moved.wasserstein, moved.median) == (0.0, 0.0, math.inf)
    assert moved.psi == psi(np.array([1, 2]), np.array([0.5, 0.5])) > 0
    assert math.isnan(empty.psi) and empty.n == 0


def test_the_psi_of_many_windows_at_once_is_each_window_s() -> None:
    rng = np.random.default_rng(4)
    expected = [0.0, 0.1, 0.2, 0.3, 0.4]
    counts = rng.poisson(rng.uniform(0, 20, (200, 1)), (200, 5))
    counts[:10] = 0
    counts[10:20, 1:] = 0

    got = psi_all(counts, expected)

    assert [math.isnan(v) for v in got[:10]] == [True] * 10
    assert got == [psi(row, expected) if row.sum() else got[i] for i, row in enumerate(counts)]
