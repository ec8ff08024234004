"""A batch's feature dicts, read a column at a time, each column once.

The scorer and the feature summaries both read every feature of a batch, and a
dictionary lookup a value is most of what either costs, then turning a numeric
column into floats and a categorical one into codes. :class:`FeatureRows`
remembers the columns read from it, their floats and their codes, so a batch's
values leave their dicts, and are looked up, once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain, repeat
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
        self.codes: dict[tuple[str, tuple[str, ...]], NDArray[np.intp]] = {}

    @classmethod
    def joined(cls, parts: Sequence[FeatureRows]) -> FeatureRows:
        """The rows of ``parts`` one after the other, with the floats and codes every part
        made already (columns are read again if asked for).

        >>> a, b = FeatureRows([{"x": 1.0}]), FeatureRows([{"x": "two"}, {"x": 3}])
        >>> _ = numbers(a, "x"), numbers(b, "x"), codes(b, "x", Vocabulary([]))
        >>> rows = FeatureRows.joined([a, b])
        >>> len(rows), numbers(rows, "x"), column(rows, "x")
        (3, None, [1.0, 'two', 3])
        """
        if len(parts) == 1:
            return parts[0]
        rows = cls(chain.from_iterable(parts))
        first, rest = parts[0], parts[1:]
        for name in first.numbers:
            if all(name in p.numbers for p in rest):
                floats = [a for p in parts if (a := p.numbers[name]) is not None]
                rows.numbers[name] = np.concatenate(floats) if len(floats) == len(parts) \
                    else None  # some value is no number
        for key, found in first.codes.items():
            if all(key in p.codes for p in rest):
                rows.codes[key] = np.concatenate([found, *(p.codes[key] for p in rest)])
        return rows


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


def category_text(value: Any) -> str | None:
    """How a value reads as a category: text as is, integral numbers without ``.0``.

    >>> category_text(3.0), category_text(2.5), category_text("ios"), category_text(None)
    ('3', '2.5', 'ios', None)
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
    return str(value)


class Vocabulary:
    """A categorical feature's known categories, in one order whoever knows them: code
    ``i`` is the ``i``-th, :attr:`missing` a missing value, :attr:`unseen` any other.

    >>> v = Vocabulary(["web", "ios"])
    >>> v.categories, v.missing, v.unseen
    (('ios', 'web'), 2, 3)
    """

    def __init__(self, categories: Iterable[str]) -> None:
        self.categories = tuple(sorted(categories))
        self.missing = len(self.categories)
        self.unseen = self.missing + 1
        self.index: dict[str | None, int] = {c: i for i, c in enumerate(self.categories)}
        self.index[None] = self.missing


def codes(rows: Sequence[Row], name: str, vocabulary: Vocabulary) -> NDArray[np.intp]:
    """Categorical feature ``name`` of ``rows`` as codes of ``vocabulary``; a number reads
    as its :func:`category_text`. Shared by every reader with the same categories: never
    change it.

    >>> rows = FeatureRows([{"os": "ios"}, {"os": 3.0}, {}])
    >>> codes(rows, "os", Vocabulary(["ios", "3"])).tolist()
    [1, 0, 2]
    """
    key = (name, vocabulary.categories)
    if isinstance(rows, FeatureRows):
        found = rows.codes.get(key)
        if found is None:
            found = rows.codes[key] = _codes(column(rows, name), vocabulary)
        return found
    return _codes(column(rows, name), vocabulary)


def _codes(values: list[Any], vocabulary: Vocabulary) -> NDArray[np.intp]:
    index, unseen = vocabulary.index, vocabulary.unseen
    # Most values are text: one lookup each, and numbers looked up again as their text.
    found = np.fromiter(map(index.get, values, repeat(unseen)), np.intp, len(values))
    for i in np.flatnonzero(found == unseen).tolist():
        value = values[i]
        if value.__class__ is not str:
            found[i] = index.get(category_text(value), unseen)
    return found


def _floats(values: list[Any]) -> NDArray[np.float64] | None:
    try:
        return np.array(values, dtype=np.float64)  # numpy turns None into NaN itself, in C
    except (TypeError, ValueError):
        return None


__all__ = ["FeatureRows", "Vocabulary", "category_text", "codes", "column", "numbers"]
