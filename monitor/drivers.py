"""What drives a version's scores: its explained predictions' largest terms, tallied.

With ``STREAMML_EXPLAIN_TOP_K`` the scoring processor puts each prediction's k largest
terms of the logit on it; this counts, per feature, how often it was among them and
the mean size of its term when it was. Names come from a topic, so at most
:data:`MAX_FEATURES` are kept apart; later ones are counted together as ``(others)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from contracts.prediction_summary import tally
from contracts.records import TermTally

MAX_FEATURES: Final = 256
OTHERS: Final = "(others)"


@dataclass
class Drivers:
    """The tally of one version on one route.

    >>> d = Drivers()
    >>> d.add([{"a": -2.0, "b": 0.5}, {"a": 1.0}])
    >>> [(name, share, round(size, 2)) for name, share, size in d.top(2)]
    [('a', 1.0, 1.5), ('b', 0.5, 0.5)]
    """

    explained: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, float] = field(default_factory=dict)

    def add(self, contributions: Sequence[Mapping[str, float]]) -> None:
        self.absorb(*tally(contributions), 1)

    def absorb(self, explained: int, terms: Mapping[str, TermTally], sign: int) -> None:
        """Add (``sign`` 1) or take back (-1) a tally of terms: a prediction summary's, or
        :func:`~contracts.prediction_summary.tally` of explained predictions."""
        counts, sizes = self.counts, self.sizes
        self.explained += sign * explained
        for name, tallied in terms.items():
            if name not in counts and len(counts) >= MAX_FEATURES:
                name = OTHERS
            counts[name] = counts.get(name, 0) + sign * tallied.count
            sizes[name] = sizes.get(name, 0.0) + sign * tallied.size

    def top(self, n: int) -> list[tuple[str, float, float]]:
        """The ``n`` features most often among the largest terms: (name, share of the
        explained predictions, mean absolute term when among them)."""
        # A name's count is 0 once the summaries that brought it were taken back.
        ranked = sorted(((name, count) for name, count in self.counts.items() if count > 0),
                        key=lambda kv: (-kv[1], kv[0]))[:n]
        return [(name, count / self.explained, self.sizes[name] / count)
                for name, count in ranked]


__all__ = ["MAX_FEATURES", "OTHERS", "Drivers"]
