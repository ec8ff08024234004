"""Constant-memory summaries of one feature's values, and their distance to the reference.

A sketch holds counts over the reference's fixed bins, never the values, so its
size depends on the reference alone, whatever the traffic. Values are added a batch
at a time (one ``numpy.searchsorted`` per batch) to keep the cost per event small.

Distances are effect sizes, not p-values: PSI (population stability index) on the
reference histogram; on the reference's percentile grid the KS distance (largest gap
between the two CDFs) and the Wasserstein-1 distance in units of the reference's
5th-95th percentile spread.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Final, NamedTuple

import msgspec
import numpy as np
from numpy.typing import NDArray

from contracts.records import MAX_UNSEEN_NAMES
from contracts.reference_stats import CategoricalReference, Histogram, NumericReference

# Frequencies are floored before the logarithm so an empty bin gives a large but
# finite PSI; with identical histograms both sides are equal and the PSI is zero.
FREQUENCY_FLOOR: Final = 1e-4

Floats = NDArray[np.float64]


def psi(counts: NDArray[np.float64] | NDArray[np.int64],
        expected: Sequence[float] | Floats) -> float:
    """Population stability index of observed ``counts`` against ``expected`` frequencies.

    >>> psi(np.array([25, 25, 50]), [0.25, 0.25, 0.5])
    0.0
    >>> round(psi(np.array([50, 25, 25]), [0.25, 0.25, 0.5]), 3)
    0.347
    """
    n = float(np.sum(counts))
    if n <= 0:
        return math.nan
    return _psi_of_shares(np.asarray(counts, dtype=np.float64) / n, floored(expected))


def psi_all(counts: NDArray[np.int64], expected: Sequence[float] | Floats) -> list[float]:
    """:func:`psi` of each row of ``counts``.

    >>> psi_all(np.array([[25, 25, 50], [0, 0, 0]]), [0.25, 0.25, 0.5])
    [0.0, nan]
    """
    n = counts.sum(axis=1).astype(np.float64)
    actual = np.maximum(counts / np.where(n > 0, n, 1.0)[:, None], FREQUENCY_FLOOR)
    reference = floored(expected)
    psis = np.sum((actual - reference) * np.log(actual / reference), axis=1)
    out: list[float] = np.where(n > 0, psis, math.nan).tolist()
    return out


def _psi_of_shares(shares: Floats, reference: Floats) -> float:
    """The PSI of shares summing to 1 against ``reference``, already :func:`floored`."""
    actual = np.maximum(shares, FREQUENCY_FLOOR)
    return float(np.sum((actual - reference) * np.log(actual / reference)))


def floored(frequencies: Sequence[float] | Floats) -> Floats:
    """Frequencies as PSI reads them: at least ``FREQUENCY_FLOOR``; a sketch keeps its
    reference's once, since a sliding window judges every few dozen events."""
    return np.maximum(np.asarray(frequencies, dtype=np.float64), FREQUENCY_FLOOR)


class BinnedCounts:
    """Counts of values over fixed inner cut points (the reference's binning rule).

    >>> b = BinnedCounts(Histogram(edges=(0.5,), frequencies=(0.5, 0.5)))
    >>> b.add(np.array([0.1, 0.5, 0.9, 0.7])); b.counts.tolist(), b.psi()
    ([2, 2], 0.0)
    """

    def __init__(self, reference: Histogram) -> None:
        self.reference = reference
        self.edges = np.asarray(reference.edges, dtype=np.float64)
        self.counts = np.zeros(self.edges.size + 1, dtype=np.int64)
        self.expected = floored(reference.frequencies)

    def add(self, values: Floats) -> None:
        self.counts += np.bincount(np.searchsorted(self.edges, values),
                                   minlength=self.counts.size)

    def psi(self) -> float:
        return psi(self.counts, self.expected)

    def reset(self) -> None:
        self.counts[:] = 0


class NumericFigures(msgspec.Struct, frozen=True):
    """One numeric feature over one window, beside its reference (a struct: a sliding
    window makes one per feature every few dozen events, and a frozen dataclass costs
    several times as much to make)."""

    n: int
    psi: float
    ks: float
    wasserstein: float
    missing_rate: float
    reference_missing_rate: float
    median: float
    reference_median: float
    mean: float
    # The distribution over the reference's bins (split at ``edges``): the window's
    # present values, and the reference's; for charts, not for alerts.
    edges: tuple[float, ...] = ()
    share: tuple[float, ...] = ()
    reference_share: tuple[float, ...] = ()

    @property
    def missing_delta(self) -> float:
        return self.missing_rate - self.reference_missing_rate

    def as_dict(self) -> dict[str, float]:
        return {k: _rounded(v) for k, v in msgspec.structs.asdict(self).items()
                if isinstance(v, float | int)}


class NumericSketch:
    """Histogram counts of one numeric feature on the reference's bins and percentile grid.

    Examples
    --------
    >>> q = tuple(float(i) for i in range(101))
    >>> ref = NumericReference(histogram=Histogram(edges=(49.0,), frequencies=(0.5, 0.5)),
    ...                        quantiles=q, missing_rate=0.0)
    >>> s = NumericSketch(ref)
    >>> s.add(np.arange(0.0, 100.0)); f = s.figures()
    >>> f.psi, round(f.ks, 3), f.missing_rate
    (0.0, 0.01, 0.0)
    >>> s.reset(); s.add(np.arange(0.0, 100.0) + 50.0); round(s.figures().ks, 2)
    0.49
    """

    def __init__(self, reference: NumericReference) -> None:
        self.reference = reference
        self.coarse = BinnedCounts(reference.histogram)
        quantiles = np.asarray(reference.quantiles, dtype=np.float64)
        self.grid = np.unique(quantiles)
        # The reference CDF at each grid value: the highest percentile level holding it
        # (ties in counts and flags repeat a value over many levels).
        levels = np.linspace(0.0, 1.0, quantiles.size) if quantiles.size else np.zeros(0)
        self.reference_cdf = np.array(
            [levels[quantiles == u].max() for u in self.grid], dtype=np.float64)
        self.spread = _spread(quantiles)
        self.widths = np.diff(self.grid)
        self.reference_median = float(np.median(quantiles)) if quantiles.size else math.nan
        self.fine = np.zeros(self.grid.size + 1, dtype=np.int64)
        self.missing = 0
        self.total = 0.0

    def add(self, values: Floats) -> None:
        present = values[~np.isnan(values)]
        self.missing += values.size - present.size
        self.coarse.add(present)
        self.fine += np.bincount(np.searchsorted(self.grid, present), minlength=self.fine.size)
        self.total += float(present.sum())

    @property
    def present(self) -> int:
        return int(self.coarse.counts.sum())

    def figures(self) -> NumericFigures:
        # One computation for a sketch and a window's features: a bank of this one (of
        # a blank with these counts, since a bank makes its sketches' counts its rows).
        alone = self.blank()
        alone.absorb(self)
        return NumericBank([alone]).figures()[0]

    def reset(self) -> None:
        self.coarse.reset()
        self.fine[:] = 0
        self.missing = 0
        self.total = 0.0

    def absorb(self, other: NumericSketch, sign: int = 1) -> None:
        """Add (``sign`` 1) or take away (-1) the counts of ``other``, a sketch of the
        same reference: a sliding window is the sum of its blocks.

        >>> ref = NumericReference(histogram=Histogram(edges=(1.0,), frequencies=(0.5, 0.5)),
        ...                        quantiles=(0.0, 1.0, 2.0), missing_rate=0.0)
        >>> a, b = NumericSketch(ref), NumericSketch(ref)
        >>> a.add(np.array([0.5, 1.5])); b.add(np.array([1.5, np.nan]))
        >>> a.absorb(b); a.coarse.counts.tolist(), a.missing
        ([1, 2], 1)
        >>> a.absorb(b, -1); a.coarse.counts.tolist(), a.missing, a.total
        ([1, 1], 0, 2.0)
        """
        self.coarse.counts += sign * other.coarse.counts
        self.fine += sign * other.fine
        self.missing += sign * other.missing
        self.total += sign * other.total

    def blank(self) -> NumericSketch:
        """An empty sketch of the same reference, sharing what is derived from it (which
        costs a pass over the percentile grid to build).

        >>> ref = NumericReference(histogram=Histogram(edges=(1.0,), frequencies=(0.5, 0.5)),
        ...                        quantiles=(0.0, 1.0, 2.0), missing_rate=0.0)
        >>> a = NumericSketch(ref); a.add(np.array([0.5])); b = a.blank()
        >>> b.present, a.present, b.grid is a.grid
        (0, 1, True)
        """
        other = copy.copy(self)
        other.coarse = copy.copy(self.coarse)
        other.coarse.counts = np.zeros_like(self.coarse.counts)
        other.fine = np.zeros_like(self.fine)
        other.missing = 0
        other.total = 0.0
        return other


class NumericBank:
    """Several numeric sketches whose counts live as rows of 2-D arrays, so that one
    judgement computes every feature's figures in a few numpy calls instead of a dozen
    per feature (a sliding window judges every few dozen events). Each sketch keeps
    working on its own row (a view); padding is neutral for every figure.

    >>> q = tuple(float(i) for i in range(101))
    >>> refs = [NumericReference(histogram=Histogram(edges=(49.0,), frequencies=(0.5, 0.5)),
    ...                          quantiles=q, missing_rate=0.0),
    ...         NumericReference(histogram=Histogram(edges=(), frequencies=(1.0,)),
    ...                          quantiles=(3.0,) * 101, missing_rate=0.5)]
    >>> sketches = [NumericSketch(r) for r in refs]
    >>> bank = NumericBank(sketches)
    >>> sketches[0].add(np.arange(0.0, 100.0) + 50.0); sketches[1].add(np.array([3.0, np.nan]))
    >>> bank.figures() == [s.figures() for s in sketches]
    True
    """

    def __init__(self, sketches: Sequence[NumericSketch]) -> None:
        self.sketches = list(sketches)
        rows = len(self.sketches)
        bins = max((s.coarse.counts.size for s in self.sketches), default=1)
        cells = max((s.fine.size for s in self.sketches), default=1)
        self.coarse = np.zeros((rows, bins), dtype=np.int64)
        self.fine = np.zeros((rows, cells), dtype=np.int64)
        self.expected = np.full((rows, bins), FREQUENCY_FLOOR)
        self.grid = np.full((rows, cells - 1), math.inf)
        for i, s in enumerate(self.sketches):
            self.coarse[i, :s.coarse.counts.size] = s.coarse.counts
            self.fine[i, :s.fine.size] = s.fine
            s.coarse.counts = self.coarse[i, :s.coarse.counts.size]
            s.fine = self.fine[i, :s.fine.size]
            self.expected[i, :s.coarse.expected.size] = s.coarse.expected
            self.grid[i, :s.grid.size] = s.grid
        self.spread = np.array([s.spread for s in self.sketches])
        # The percentile grids side by side, each feature's own cells and no padding
        # (grids run from a few cells to a hundred): where each feature's live CDF cells
        # lie among its counts, where each starts among them all, and the reference's
        # CDF and cell widths beside them. A feature without a grid gets one cell, which
        # its figures do not read.
        live = [max(s.grid.size, 1) for s in self.sketches]
        self.live_at = np.asarray([i * cells + j for i, n in enumerate(live) for j in range(n)],
                                  dtype=np.intp)
        self.live_starts = np.cumsum([0, *live], dtype=np.intp)[:-1]
        self.live_feature = np.repeat(np.arange(rows), live)
        self.live_reference = np.concatenate(
            [s.reference_cdf if s.grid.size else np.ones(1) for s in self.sketches]
            or [np.zeros(0)])
        self.live_widths = np.concatenate(
            [np.append(s.widths, np.zeros(n - s.widths.size)) for s, n in
             zip(self.sketches, live, strict=True)] or [np.zeros(0)])

    def held(self) -> NumericHeld:
        """A copy of every feature's counts now, for :meth:`table_at`."""
        return NumericHeld(self.coarse.copy(), self.fine.copy(),
                           [s.missing for s in self.sketches], [s.total for s in self.sketches])

    def figures(self) -> list[NumericFigures]:
        """:meth:`NumericSketch.figures` of every sketch, in their order."""
        return self.table_at([self.held()]).row(0)

    def table_at(self, moments: Sequence[NumericHeld]) -> NumericTable:
        """The figures as they were at each of several moments (:meth:`held`), in one
        pass: a batch closes several windows."""
        return NumericTable(self, moments)


class _WindowColumns:
    """What the tables of :class:`NumericBank` and :class:`CategoricalBank` hold of each
    window: its figures as columns, its counts, its shares."""

    _columns: dict[str, list[list[float]]]
    _n: list[list[int]]
    _shares: NDArray[np.float64]

    def _narrow(self, one: _WindowColumns, w: int) -> None:
        """Give ``one`` what this table holds of window ``w`` alone."""
        one._columns = {name: values[w:w + 1] for name, values in self._columns.items()}
        if self._columns:  # a table of no features has no more
            one._n = self._n[w:w + 1]
            one._shares = self._shares[w:w + 1].copy()


class NumericTable(_WindowColumns):
    """The figures of a :class:`NumericBank`'s features at several moments: the numbers
    rules and series read (:meth:`column`) in a few numpy calls for all of them, and a
    feature's whole :class:`NumericFigures` made only when asked for (:meth:`figures`);
    a window is judged every hundred events, and few are ever shown."""

    def __init__(self, bank: NumericBank, moments: Sequence[NumericHeld]) -> None:
        self.sketches = bank.sketches
        self.moments = moments
        if not self.sketches or not moments:
            self._columns: dict[str, list[list[float]]] = {}
            return
        coarse = np.stack([m.coarse for m in moments])
        present = coarse.sum(axis=2)
        empty = present == 0
        missing = np.array([m.missing for m in moments], dtype=np.int64)
        per = np.maximum(present, 1)[:, :, None]
        self._shares = coarse / per
        actual = np.maximum(self._shares, FREQUENCY_FLOOR)
        psis = np.sum((actual - bank.expected) * np.log(actual / bank.expected), axis=2)
        # Each feature's CDF on its grid: a running sum over all features' cells at once,
        # less what the features before it hold.
        cells = np.stack([m.fine for m in moments]).reshape(len(moments), -1)[:, bank.live_at]
        running = np.cumsum(cells, axis=1)
        before = np.zeros(present.shape, dtype=np.int64)
        before[:, 1:] = running[:, bank.live_starts[1:] - 1]
        live_cdf = (running - before[:, bank.live_feature]) / per[:, bank.live_feature, 0]
        gaps = np.abs(live_cdf - bank.live_reference)
        ks = np.maximum.reduceat(gaps, bank.live_starts, axis=1)
        wasserstein = np.add.reduceat(gaps * bank.live_widths, bank.live_starts,
                                      axis=1) / bank.spread
        # The CDF rises within a feature: its median's cell is the number of cells below
        # one half (none, on the one cell of a feature without a grid).
        grid_sizes = np.array([s.grid.size for s in self.sketches])
        median_at = np.minimum(np.add.reduceat(live_cdf < 0.5, bank.live_starts, axis=1,
                                               dtype=np.intp), grid_sizes)
        rows = np.arange(len(self.sketches))
        medians = np.append(bank.grid, np.full((rows.size, 1), math.inf), axis=1)[
            rows, median_at]
        has_widths = np.array([s.widths.size > 0 for s in self.sketches])
        missing_rate = missing / np.maximum(present + missing, 1)
        reference_missing = np.array([s.reference.missing_rate for s in self.sketches])
        nan = math.nan
        # Python numbers in bulk, NaN where a window held no value of a feature.
        self._n: list[list[int]] = (present + missing).tolist()
        self._columns = {name: values.tolist() for name, values in {
            "psi": np.where(empty, nan, psis),
            "ks": np.where(empty, nan, np.where(grid_sizes > 0, ks, 0.0)),
            "wasserstein": np.where(empty, nan, np.where(has_widths, wasserstein, 0.0)),
            "missing_rate": missing_rate,
            "missing_delta": missing_rate - reference_missing,
            "median": np.where(empty, nan, np.where(median_at < grid_sizes, medians, math.inf)),
            "mean": np.where(empty, nan, np.array([m.total for m in moments]) / per[:, :, 0]),
        }.items()}

    def column(self, name: str, w: int) -> Sequence[float | None]:
        """Each feature's figure ``name`` at moment ``w`` (None: numeric features have
        no such figure)."""
        values = self._columns.get(name)
        return [None] * len(self.sketches) if values is None else values[w]

    def figures(self, w: int, i: int) -> NumericFigures:
        """Feature ``i``'s figures at moment ``w``."""
        s, c = self.sketches[i], self._columns
        n, missing = self._n[w][i], self.moments[w].missing[i]
        if n == missing:  # no value present
            return _no_values(s.reference, s.reference_median, missing)
        return NumericFigures(
            n=n, psi=c["psi"][w][i], ks=c["ks"][w][i],
            wasserstein=c["wasserstein"][w][i], missing_rate=c["missing_rate"][w][i],
            reference_missing_rate=s.reference.missing_rate, median=c["median"][w][i],
            reference_median=s.reference_median, mean=c["mean"][w][i],
            edges=s.reference.histogram.edges,
            share=tuple(self._shares[w, i, :s.coarse.counts.size].tolist()),
            reference_share=s.reference.histogram.frequencies)

    def row(self, w: int) -> list[NumericFigures]:
        """Every feature's figures at moment ``w``."""
        return [self.figures(w, i) for i in range(len(self.sketches))]

    def alone(self, w: int) -> NumericTable:
        """Moment ``w`` as a table of its own, holding none of the others' arrays: for a
        window kept long after its batch."""
        one = NumericTable.__new__(NumericTable)
        one.sketches = self.sketches
        held = self.moments[w]
        one.moments = [NumericHeld(held.coarse.copy(), held.fine.copy(), held.missing,
                                   held.total)]
        self._narrow(one, w)
        return one


class NumericHeld(NamedTuple):
    """A :class:`NumericBank`'s counts at one moment."""

    coarse: NDArray[np.int64]
    fine: NDArray[np.int64]
    missing: list[int]
    total: list[float]


class CategoricalFigures(msgspec.Struct, frozen=True):
    """One categorical feature over one window, beside its reference (a struct, as
    :class:`NumericFigures`)."""

    n: int
    psi: float
    unseen_rate: float
    missing_rate: float
    reference_missing_rate: float
    shifts: dict[str, tuple[float, float]]  # category -> (current, reference), largest moves
    unseen: dict[str, int]  # a few unseen categories and their counts

    @property
    def missing_delta(self) -> float:
        return self.missing_rate - self.reference_missing_rate

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {k: _rounded(v) for k, v in msgspec.structs.asdict(self).items()
                                  if isinstance(v, float | int)}
        out["shifts"] = {c: [_rounded(a), _rounded(b)] for c, (a, b) in self.shifts.items()}
        out["unseen"] = dict(self.unseen)
        return out


class CategoricalSketch:
    """Counts of each reference category, of unseen categories and of missing values.

    >>> ref = CategoricalReference(frequencies={"a": 0.5, "b": 0.5}, missing_rate=0.0)
    >>> s = CategoricalSketch(ref)
    >>> s.add(["a", "b", "a", "b", "z", None]); f = s.figures()
    >>> f.psi, f.unseen_rate, round(f.missing_rate, 3), f.unseen
    (0.0, 0.2, 0.167, {'z': 1})
    """

    def __init__(self, reference: CategoricalReference) -> None:
        self.reference = reference
        self.categories = list(reference.frequencies)
        self.index = {c: i for i, c in enumerate(self.categories)}
        self.expected = [reference.frequencies[c] for c in self.categories]
        self.floored = floored(self.expected)
        self.counts = np.zeros(len(self.categories), dtype=np.int64)
        self.missing = 0
        self.unseen_total = 0
        self.unseen: dict[str, int] = {}

    def add(self, values: Sequence[str | None]) -> None:
        unknown = len(self.categories)
        index = self.index
        codes = [index.get(v, unknown) if v is not None else -1 for v in values]
        counted = np.bincount(np.asarray(codes, dtype=np.int64) + 1, minlength=unknown + 2)
        self.missing += int(counted[0])
        self.counts += counted[1:-1]
        if counted[-1]:
            self.unseen_total += int(counted[-1])
            for v in values:
                if v is not None and v not in index:
                    self._remember_unseen(v)

    def _remember_unseen(self, value: str) -> None:
        if value in self.unseen or len(self.unseen) < MAX_UNSEEN_NAMES:
            self.unseen[value] = self.unseen.get(value, 0) + 1

    def figures(self) -> CategoricalFigures:
        # One computation for a sketch and a window's features: a bank of this one (a
        # copy, since a bank makes its sketches' counts rows of its own).
        return CategoricalBank([copy.copy(self)]).figures()[0]

    def reset(self) -> None:
        self.counts[:] = 0
        self.missing = self.unseen_total = 0
        self.unseen.clear()

    def blank(self) -> CategoricalSketch:
        """An empty sketch of the same reference."""
        other = copy.copy(self)
        other.counts = np.zeros_like(self.counts)
        other.missing = other.unseen_total = 0
        other.unseen = {}
        return other

    def absorb(self, other: CategoricalSketch, sign: int = 1) -> None:
        """Add (``sign`` 1) or take away (-1) the counts of ``other``, a sketch of the
        same reference; unseen names are kept while counted, at most ten.

        >>> ref = CategoricalReference(frequencies={"a": 1.0}, missing_rate=0.0)
        >>> w, block = CategoricalSketch(ref), CategoricalSketch(ref)
        >>> block.add(["a", "z", "z"]); w.absorb(block); w.unseen, w.unseen_total
        ({'z': 2}, 2)
        >>> w.absorb(block, -1); w.unseen, w.unseen_total, w.counts.tolist()
        ({}, 0, [0])
        """
        self.counts += sign * other.counts
        self.absorb_tallies(other.missing, other.unseen_total, other.unseen, sign)

    def absorb_tallies(self, missing: int, unseen_total: int, unseen: dict[str, int],
                       sign: int = 1) -> None:
        """As :meth:`absorb`, for all but the per-category counts (a feature summary's,
        whose counts a :class:`CategoricalBank` adds for every feature at once)."""
        self.missing += sign * missing
        self.unseen_total += sign * unseen_total
        for value, count in unseen.items():
            left = self.unseen.get(value, 0) + sign * count
            if left > 0 and (value in self.unseen or len(self.unseen) < MAX_UNSEEN_NAMES):
                self.unseen[value] = left
            else:
                self.unseen.pop(value, None)


class CategoricalBank:
    """Several categorical sketches whose counts live as rows of one 2-D array, as
    :class:`NumericBank` does for numeric ones: every feature's PSI and largest moves in
    a few numpy calls. Padding is neutral: a padded cell has no count and no reference
    share, so it adds nothing to a PSI and never moves more than a real category.

    >>> refs = [CategoricalReference(frequencies={"a": 0.5, "b": 0.5}, missing_rate=0.0),
    ...         CategoricalReference(frequencies={"x": 0.2, "y": 0.3, "z": 0.5},
    ...                              missing_rate=0.1)]
    >>> sketches = [CategoricalSketch(r) for r in refs]
    >>> bank = CategoricalBank(sketches)
    >>> sketches[0].add(["a", "a", "a", "q", None]); sketches[1].add(["z", "y"])
    >>> bank.figures() == [s.figures() for s in sketches]
    True
    """

    def __init__(self, sketches: Sequence[CategoricalSketch]) -> None:
        self.sketches = list(sketches)
        width = max((s.counts.size for s in self.sketches), default=1)
        self.counts = np.zeros((len(self.sketches), width), dtype=np.int64)
        self.expected = np.zeros((len(self.sketches), width))
        self.floored = np.full((len(self.sketches), width), FREQUENCY_FLOOR)
        for i, s in enumerate(self.sketches):
            k = s.counts.size
            self.counts[i, :k] = s.counts
            s.counts = self.counts[i, :k]
            self.expected[i, :k] = s.expected
            self.floored[i, :k] = s.floored

    def held(self) -> CategoricalHeld:
        """A copy of every feature's counts now, for :meth:`table_at`."""
        return CategoricalHeld(self.counts.copy(), [s.missing for s in self.sketches],
                               [s.unseen_total for s in self.sketches],
                               [dict(s.unseen) for s in self.sketches])

    def figures(self) -> list[CategoricalFigures]:
        """:meth:`CategoricalSketch.figures` of every sketch, in their order."""
        return self.table_at([self.held()]).row(0)

    def table_at(self, moments: Sequence[CategoricalHeld]) -> CategoricalTable:
        """The figures as they were at each of several moments (:meth:`held`), in one
        pass."""
        return CategoricalTable(self, moments)


class CategoricalTable(_WindowColumns):
    """As :class:`NumericTable`, for a :class:`CategoricalBank`'s features."""

    def __init__(self, bank: CategoricalBank, moments: Sequence[CategoricalHeld]) -> None:
        self.bank = bank
        self.moments = moments
        if not bank.sketches or not moments:
            self._columns: dict[str, list[list[float]]] = {}
            return
        counts = np.stack([m.counts for m in moments])
        known = counts.sum(axis=2)
        self._shares = counts / np.maximum(known, 1)[:, :, None]
        actual = np.maximum(self._shares, FREQUENCY_FLOOR)
        psis = np.sum((actual - bank.floored) * np.log(actual / bank.floored), axis=2)
        missing = np.array([m.missing for m in moments], dtype=np.int64)
        unseen = np.array([m.unseen_total for m in moments], dtype=np.int64)
        present = known + unseen
        missing_rate = missing / np.maximum(present + missing, 1)
        reference_missing = np.array([s.reference.missing_rate for s in bank.sketches])
        self._n: list[list[int]] = (present + missing).tolist()
        self._columns = {name: values.tolist() for name, values in {
            "psi": np.where(known > 0, psis, math.nan),
            "unseen_rate": unseen / np.maximum(present, 1),
            "missing_rate": missing_rate,
            "missing_delta": missing_rate - reference_missing,
        }.items()}

    def column(self, name: str, w: int) -> Sequence[float | None]:
        """Each feature's figure ``name`` at moment ``w`` (None: categorical features
        have no such figure)."""
        values = self._columns.get(name)
        return [None] * len(self.bank.sketches) if values is None else values[w]

    def figures(self, w: int, i: int) -> CategoricalFigures:
        """Feature ``i``'s figures at moment ``w``, with the three categories that moved
        most (the first of equal moves first)."""
        s, c, shares = self.bank.sketches[i], self._columns, self._shares[w, i]
        moves = np.argsort(-np.abs(shares - self.bank.expected[i]), kind="stable")[:3]
        live = shares.tolist()
        psi = c["psi"][w][i]
        return CategoricalFigures(
            # math.nan itself, as where figures are made one at a time: equal figures
            # compare equal (a struct compares NaN by identity).
            n=self._n[w][i], psi=psi if psi == psi else math.nan,
            unseen_rate=c["unseen_rate"][w][i], missing_rate=c["missing_rate"][w][i],
            reference_missing_rate=s.reference.missing_rate,
            shifts={s.categories[j]: (live[j], s.expected[j])
                    for j in moves.tolist() if j < s.counts.size},
            unseen=self.moments[w].unseen[i])

    def row(self, w: int) -> list[CategoricalFigures]:
        """Every feature's figures at moment ``w``."""
        return [self.figures(w, i) for i in range(len(self.bank.sketches))]

    def alone(self, w: int) -> CategoricalTable:
        """As :meth:`NumericTable.alone`."""
        one = CategoricalTable.__new__(CategoricalTable)
        one.bank = self.bank
        held = self.moments[w]
        one.moments = [CategoricalHeld(held.counts.copy(), held.missing, held.unseen_total,
                                       held.unseen)]
        self._narrow(one, w)
        return one


class CategoricalHeld(NamedTuple):
    """A :class:`CategoricalBank`'s counts at one moment."""

    counts: NDArray[np.int64]
    missing: list[int]
    unseen_total: list[int]
    unseen: list[dict[str, int]]


def _no_values(reference: NumericReference, reference_median: float,
               missing: int) -> NumericFigures:
    """The figures of a numeric feature with no value present, only ``missing`` ones."""
    return NumericFigures(missing, math.nan, math.nan, math.nan, _rate(missing, missing),
                          reference.missing_rate, math.nan, reference_median, math.nan)


def _spread(quantiles: Floats) -> float:
    """The 5th-95th percentile spread, else the range, else 1: the unit of Wasserstein."""
    if quantiles.size == 101:
        spread = float(quantiles[95] - quantiles[5])
        if spread > 0:
            return spread
    full = float(quantiles[-1] - quantiles[0]) if quantiles.size else 0.0
    return full if full > 0 else 1.0


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _rounded(value: float | int) -> float | int:
    return round(value, 4) if isinstance(value, float) and math.isfinite(value) else value


__all__ = [
    "BinnedCounts",
    "CategoricalBank",
    "CategoricalFigures",
    "CategoricalHeld",
    "CategoricalSketch",
    "NumericBank",
    "NumericFigures",
    "NumericHeld",
    "NumericSketch",
    "floored",
    "psi",
    "psi_all",
]
