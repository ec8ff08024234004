"""Concept drift on the error stream: river's detectors behind one small interface.

Each labeled event gives an error (:mod:`monitor.performance` says which). ADWIN and
Page-Hinkley see every error (ADWIN about 0.06 µs each, fed a block at a time by
:class:`RiverADWIN`; Page-Hinkley about two); KSWIN costs ~240 µs an update, so when
asked for it sees one error in ``stride``.
``adwin_blocks`` is ADWIN judged once per block of errors the monitor adds together
(:class:`~monitor.block_adwin.BlockADWIN`): fewer false alarms, drift found a little
later (figures in ``README.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

import numpy as np
from numpy.typing import NDArray
from river import drift as river_drift

from monitor.block_adwin import BlockADWIN
from monitor.exceptions import RulesError

DETECTORS: Final = ("adwin", "adwin_blocks", "page_hinkley", "kswin")
# river ships no type hints; as Any its calls type-check without a blanket exemption.
drift: Any = river_drift


class DriftDetector(Protocol):
    """Anything with river's detector interface."""

    def update(self, x: float) -> None: ...

    @property
    def drift_detected(self) -> bool: ...


class RiverADWIN:
    """river's ADWIN, also fed a block of errors in one call (:meth:`update_many`), which
    detects where its ``update`` one error at a time does.

    Its window lives in a Rust helper whose update says whether it detected: calling
    that in a loop spares the two Python calls river's ``update`` makes an error (0.06 µs
    an error against 0.2). river resets the detector on the update after a detection;
    so does this. ``tests/unit/monitor/test_concept.py`` holds the two to the same
    detections, and the window widths at them, over the river versions pyproject allows.

    >>> d = RiverADWIN()
    >>> d.update_many([0.1] * 2000 + [0.9] * 100)
    [(2015, 160)]
    """

    def __init__(self, **params: Any) -> None:
        self.river = drift.ADWIN(**params)

    def update(self, x: float) -> None:
        self.river.update(x)

    @property
    def drift_detected(self) -> bool:
        return bool(self.river.drift_detected)

    def update_many(self, errors: Sequence[float]) -> list[tuple[int, int]]:
        """Feed ``errors`` in turn: the index of each detection among them, and the
        window the detector kept at it."""
        river = self.river
        found: list[tuple[int, int]] = []
        start, n = 0, len(errors)
        while start < n:
            if river._drift_detected:
                river._reset()
            update = river._helper.update
            for i in range(start, n):
                if update(errors[i]):
                    river._drift_detected = True
                    found.append((i, int(river.width)))
                    start = i + 1
                    break
            else:
                start = n
        return found


class Strided:
    """Feeds one value in ``stride`` to a costly detector (KSWIN), never every event.

    >>> d = Strided(drift.KSWIN(seed=1), stride=10)
    >>> for _ in range(25): d.update(0.0)
    >>> d.fed
    3
    """

    def __init__(self, detector: DriftDetector, *, stride: int) -> None:
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.detector = detector
        self.stride = stride
        self.fed = 0
        self._skipped = 0
        self._detected = False

    def update(self, x: float) -> None:
        self._detected = False
        if self._skipped % self.stride == 0:
            self.detector.update(x)
            self.fed += 1
            self._detected = self.detector.drift_detected
        self._skipped += 1

    @property
    def drift_detected(self) -> bool:
        return self._detected


def make_detector(name: str, params: Mapping[str, Any] | None = None) -> DriftDetector:
    """A detector by name with river's parameters; ``kswin`` also takes ``stride``.

    >>> type(make_detector("page_hinkley", {"threshold": 30})).__name__
    'PageHinkley'
    """
    options = dict(params or {})
    try:
        if name == "adwin":
            return RiverADWIN(**options)
        if name == "adwin_blocks":
            return BlockADWIN(**options)
        if name == "page_hinkley":
            options.setdefault("mode", "up")  # only a rising error is bad news
            detector: DriftDetector = drift.PageHinkley(**options)
            return detector
        if name == "kswin":
            stride = int(options.pop("stride", 50))
            return Strided(drift.KSWIN(**options), stride=stride)
    except (TypeError, ValueError) as exc:
        raise RulesError(f"detector {name!r}: {exc}") from None
    raise RulesError(f"unknown detector {name!r}; expected one of {', '.join(DETECTORS)}")


class ErrorWatch:
    """A set of named detectors over one error stream; remembers which fired lately.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> watch = ErrorWatch({"page_hinkley": make_detector("page_hinkley")})
    >>> watch.update_many(np.array([rng.random() * 0.2 for _ in range(2000)]))
    >>> watch.take_fired()
    []
    >>> watch.update_many(np.array([0.5 + rng.random() * 0.2 for _ in range(2000)]))
    >>> watch.take_fired()
    ['page_hinkley']
    """

    def __init__(self, detectors: Mapping[str, DriftDetector]) -> None:
        self.detectors = dict(detectors)
        self.fired: set[str] = set()
        self.seen = 0
        self.last_detection: dict[str, int] = {}
        self.cuts: dict[str, int] = {}

    def update_many(self, errors: NDArray[np.float64]) -> None:
        """Feed the next errors: to a block detector as one block, to the others one by
        one."""
        each: Sequence[float] | None = None
        for name, detector in self.detectors.items():
            if isinstance(detector, BlockADWIN):
                if errors.size:
                    detector.update_block(errors.size, float(errors.sum()),
                                          float(np.square(errors - errors.mean()).sum()))
                    if detector.drift_detected:
                        self._detected(name, self.seen + errors.size - 1, detector.width)
                continue
            each = errors.tolist() if each is None else each
            if isinstance(detector, RiverADWIN):
                for i, width in detector.update_many(each):
                    self._detected(name, self.seen + i, width)
                continue
            update = detector.update
            for i, e in enumerate(each):
                update(e)
                if detector.drift_detected:
                    self._detected(name, self.seen + i, getattr(detector, "width", None))
        self.seen += errors.size

    def _detected(self, name: str, at: int, width: object) -> None:
        """``name`` detected at error ``at``, keeping a window of ``width`` errors when it
        has one (ADWIN: the change began within it; read before the detector resets on
        its next update)."""
        self.fired.add(name)
        self.last_detection[name] = at
        if isinstance(width, int | float) and width > 0:
            self.cuts[name] = at + 1 - int(width)

    def take_cuts(self) -> dict[str, int]:
        """Per detector that knows it, the index of the first error it kept at its last
        detection since the last call (the change began at or after it)."""
        cuts, self.cuts = self.cuts, {}
        return cuts

    def take_fired(self) -> list[str]:
        """Detectors that fired since the last call, sorted."""
        fired, self.fired = sorted(self.fired), set()
        return fired


__all__ = ["DETECTORS", "DriftDetector", "ErrorWatch", "RiverADWIN", "Strided",
           "make_detector"]
