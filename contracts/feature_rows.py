"""A batch's feature dicts, read a column at a time, each column once.

The scorer and the feature summaries both read every feature of a batch, and a
dictionary lookup a value is most of what either costs. :class:`FeatureRows`
remembers the columns read from it, so a batch's values leave their dicts once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Row = Mapping[str, Any]


class FeatureRows(list[Row]):
    """Feature dicts that remember each column read with :func:`column`; not to be
    changed once read (a slice or a copy is a plain list, and remembers nothing).

    >>> rows = FeatureRows([{"x": 1.0}, {}])
    >>> column(rows, "x") is column(rows, "x"), column(rows[:1], "x")
    (True, [1.0])
    """

    def __init__(self, rows: Iterable[Row] = ()) -> None:
        super().__init__(rows)
        self.columns: dict[str, list[Any]] = {}


def column(rows: Sequence[Row], name: str) -> list[Any]:
    """The values of feature ``name`` in ``rows``, None where absent."""
    if isinstance(rows, FeatureRows):
        found = rows.columns.get(name)
        if found is None:
            found = rows.columns[name] = [row.get(name) for row in rows]
        return found
    return [row.get(name) for row in rows]


__all__ = ["FeatureRows", "column"]
