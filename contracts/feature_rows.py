"""A batch's feature dicts, read a column at a time, each column once.

The scorer and the feature summaries both read every feature of a batch, and a
dictionary lookup a value is most of what either costs, then turning a numeric
column into floats. :class:`FeatureRows` remembers the columns read from it, and
their floats, so a batch's values leave their dicts, and become floats, once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

Row = Mapping[str, Any]


class FeatureRows(list[Row]):
    """Feature dicts that remember each column read with :func:`column` (and
    :func:`numbers`); not to be changed once read (a slice or a copy is a plain list,
    and remembers nothing).

    >>> rows = FeatureRows([{"x": 1.0}, {}])
    >>> column(rows, "x") is column(rows, "x"), column(rows[:1], "x")
    (True, [1.0])
    """

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        super().__init__(rows)
        self.columns: dict[str, list[Any]] = {}
        self.numbers: dict[str, NDArray[np.float64] | None] = {}


def column(rows: Sequence[Row], name: str) -> list[Any]:
    """The values of feature ``name`` in ``rows``, None where absent."""
    if isinstance(rows, FeatureRows):
        found = rows.columns.get(name)
        if found is None:
            found = rows.columns[name] = [row.get(name) for row in rows]
        return found
    return [row.get(name) for row in rows]


def numbers(rows: Sequence[Row], name: str) -> NDArray[np.float64] | None:
    """:func:`column` as floats, absent values NaN; None when a value is no number (what
    to make of it is the reader's to say). Shared by every reader: never change it.

    >>> rows = FeatureRows([{"x": 1}, {}])
    >>> numbers(rows, "x").tolist(), numbers(rows, "x") is numbers(rows, "x")
    ([1.0, nan], True)
    >>> numbers([{"x": "a lot"}], "x") is None
    True
    """
    if isinstance(rows, FeatureRows):
        if name in rows.numbers:
            return rows.numbers[name]
        found = rows.numbers[name] = _floats(column(rows, name))
        return found
    return _floats(column(rows, name))


def _floats(values: list[Any]) -> NDArray[np.float64] | None:
    try:
        return np.array(values, dtype=np.float64)  # numpy turns None into NaN itself, in C
    except (TypeError, ValueError):
        return None


__all__ = ["FeatureRows", "column", "numbers"]
