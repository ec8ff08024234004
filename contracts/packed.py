"""Columns of numbers packed as bytes in a record, which JSON carries as one base64
string: a feature summary's counts and an outcomes record's columns.

Reading a JSON array of numbers costs a reader (and writing it, the writer) a step per
number, and then another to make an array of them; packed, a column is one string
and one array read straight from its bytes. The monitor's CPU an event fell by a
tenth (``python -m benchmarks monitor_memory``), and a feature summary is a fifth
smaller. Readers take either form, so records written as arrays stay readable.

Each column has one layout, little-endian: a summary's counts one unsigned byte each
(a summary holds at most :data:`~contracts.records.SUMMARY_EVENTS` events, fewer than
256: a test holds it there), versions four bytes unsigned, labels one byte, scores
and event times IEEE 754 doubles.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

COUNT: Final = np.dtype("u1")
VERSION: Final = np.dtype("<u4")
LABEL: Final = np.dtype("u1")
FLOAT: Final = np.dtype("<f8")

T = TypeVar("T", bound=np.generic)


def pack(values: ArrayLike, layout: np.dtype[np.generic]) -> bytes:
    """``values`` as bytes in ``layout``.

    >>> pack([1, 2], VERSION)
    b'\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00'
    """
    return np.ascontiguousarray(values, dtype=layout).tobytes()


def unpack(column: Sequence[int] | Sequence[float] | bytes, layout: np.dtype[np.generic],
           dtype: type[T]) -> NDArray[T]:
    """A column as an array of ``dtype``: bytes read in ``layout``, or a JSON array as it
    is. Raises ValueError when the bytes are not a whole number of values.

    >>> unpack(pack([0.5, 2.0], FLOAT), FLOAT, np.float64).tolist(), unpack([3], LABEL, np.int64)
    ([0.5, 2.0], array([3]))
    >>> unpack(b"abc", VERSION, np.int64)
    Traceback (most recent call last):
    ValueError: 3 bytes are no whole number of 4-byte values
    """
    if isinstance(column, bytes):
        if len(column) % layout.itemsize:
            raise ValueError(f"{len(column)} bytes are no whole number of "
                             f"{layout.itemsize}-byte values")
        return np.frombuffer(column, layout).astype(dtype)
    return np.asarray(column, dtype=dtype)


__all__ = ["COUNT", "FLOAT", "LABEL", "VERSION", "pack", "unpack"]
