"""Summaries count each value in the bin the monitor's sketches put it in, whatever the
reference's cuts (ties, values exactly on a cut, cuts shared by both grids)."""

from __future__ import annotations

import numpy as np
import pytest

from contracts.feature_rows import FeatureRows, column
from contracts.feature_summary import SUMMARY_EVENTS, Summariser, runs_of
from contracts.packed import COUNT
from contracts.reference_stats import CategoricalReference, Histogram, NumericReference, Reference
from contracts.sketches import CategoricalSketch, NumericSketch


def random_reference(rng: np.random.Generator) -> Reference:
    numeric = {}
    for j in range(4):
        points = np.round(rng.normal(size=rng.integers(0, 30)), 1)  # ties and shared cuts
        quantiles = np.sort(rng.choice(points, size=101)) if points.size else np.zeros(0)
        edges = np.unique(rng.choice(points, size=min(points.size, 9))) if points.size \
            else np.zeros(0)
        numeric[f"x{j}"] = NumericReference(
            histogram=Histogram(edges=tuple(edges.tolist()),
                                frequencies=(1.0 / (edges.size + 1),) * (edges.size + 1)),
            quantiles=tuple(quantiles.tolist()), missing_rate=0.0)
    categorical = {"c": CategoricalReference(frequencies={"a": 0.5, "b": 0.25, "3": 0.25},
                                             missing_rate=0.0)}
    return Reference(rows=100, numeric=numeric, categorical=categorical,
                     scores=Histogram(edges=(), frequencies=(1.0,)))


@pytest.mark.parametrize("seed", range(20))
def test_each_value_lands_where_the_sketches_put_it(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = random_reference(rng)
    n = int(rng.integers(1, 700))
    rows = []
    for _ in range(n):
        row: dict[str, float | str | None] = {
            f"x{j}": None if rng.random() < 0.1 else float(np.round(rng.normal(), 1))
            for j in range(4)}
        row["c"] = rng.choice(np.array(["a", "b", "z", "y", None, 3.0, 7.0], dtype=object))
        rows.append(row)
    partitions = rng.integers(0, 3, size=n).tolist()
    order, runs = runs_of(partitions, lambda i: i, size=int(rng.integers(1, 120)))
    laid = np.asarray(order)
    summaries = Summariser("m", 1, reference).summarise(
        FeatureRows(rows), laid, np.zeros(n), runs)
    assert [s.events for s in summaries] == [r.hi - r.lo for r in runs]
    for s, run in zip(summaries, runs, strict=True):
        events = [rows[int(i)] for i in laid[run.lo:run.hi]]
        assert {partitions[int(i)] for i in laid[run.lo:run.hi]} == {s.partition}
        for name, ref in reference.numeric.items():
            sketch = NumericSketch(ref)
            sketch.add(np.array(column(events, name), dtype=np.float64))
            counts = s.numeric[name]
            assert list(counts.coarse) == sketch.coarse.counts.tolist()
            assert list(counts.fine) == sketch.fine.tolist()
            assert counts.missing == sketch.missing
        cat = CategoricalSketch(reference.categorical["c"])
        cat.add([None if v is None else v if isinstance(v, str) else str(int(v))
                 for v in column(events, "c")])
        got = s.categorical["c"]
        assert (list(got.counts), got.missing, got.unseen, got.names) == (
            cat.counts.tolist(), cat.missing, cat.unseen_total, cat.unseen)


def test_a_summarys_counts_fit_the_byte_each_is_packed_in() -> None:
    assert SUMMARY_EVENTS <= np.iinfo(COUNT).max
