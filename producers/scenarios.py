"""The drift scenarios: what the shop looks like before and after a change, and when.

Every scenario is a pair of :class:`Regime` s. From event ``drift_at`` on, each event
is drawn from the ``after`` regime with probability :func:`drift_weight` (1 at once
for a sudden change, rising linearly over ``gradual`` events otherwise), so a gradual
drift is a growing mixture of the two regimes, as real traffic moves.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

import numpy as np
from numpy.typing import NDArray

from producers.population import Population, Rule, intercept

BASE_POPULATION: Final = Population()
BASE_RULE: Final = Rule()

NEW_CHANNEL: Final = "tiktok_shop"


@dataclass(frozen=True, slots=True)
class Regime:
    """Feature distributions and the conversion rule, calibrated on ``calibration``."""

    population: Population
    rule: Rule
    calibration: Population

    @property
    def intercept(self) -> float:
        return intercept(self.rule, self.calibration)


@dataclass(frozen=True, slots=True)
class Scenario:
    """A named change: ``changes`` lists the features (or ``rule`` / ``base_rate``) it moves."""

    name: str
    description: str
    changes: tuple[str, ...]
    before: Regime
    after: Regime
    returns: bool = False


_BASE = Regime(BASE_POPULATION, BASE_RULE, BASE_POPULATION)

# Shorter sessions (so less time on site, fewer pages and fewer items in the cart),
# more phones, dearer items and users who come back less often; the rule stays.
_SHIFTED = Regime(
    replace(
        BASE_POPULATION,
        session_median_s=110.0,
        item_price_mean=60.0,
        days_mean=20.0,
        device=(("mobile", 0.80), ("desktop", 0.15), ("tablet", 0.05)),
    ),
    BASE_RULE,
    BASE_POPULATION,
)
_COVARIATE_CHANGES = (
    "session_length_s", "time_on_site_s", "pages_viewed", "items_in_cart", "cart_value",
    "days_since_last_visit", "device",
)

# A new mobile checkout: phones now convert best, browsing many pages now means
# comparing rather than buying, social traffic turns good. Re-calibrated so the base
# rate stays put and only the relation between features and label moves.
_NEW_RULE = replace(
    BASE_RULE,
    pages=-1.0,
    mobile_cart=0.3,
    device=(("mobile", 0.5), ("tablet", 0.1)),
    channel=(("email", 0.55), ("paid_search", 0.3), ("social", 0.4),
             ("referral", 0.15), (NEW_CHANNEL, -0.2)),
)

SCENARIOS: Final[dict[str, Scenario]] = {
    s.name: s
    for s in (
        Scenario("stable", "nothing changes", (), _BASE, _BASE),
        Scenario(
            "covariate-shift",
            "features move (" + ", ".join(_COVARIATE_CHANGES) + "); the rule stays",
            _COVARIATE_CHANGES, _BASE, _SHIFTED,
        ),
        Scenario(
            "concept-drift",
            "the rule changes (pages_viewed now lowers conversion, mobile and social "
            "now raise it); features and base rate stay",
            ("rule",), _BASE, Regime(BASE_POPULATION, _NEW_RULE, BASE_POPULATION),
        ),
        Scenario(
            "label-shift",
            "the base rate goes from 14% to 32%; features stay",
            ("base_rate",), _BASE,
            Regime(BASE_POPULATION, replace(BASE_RULE, base_rate=0.32), BASE_POPULATION),
        ),
        Scenario(
            "new-category",
            f"channel '{NEW_CHANNEL}', never seen before, brings 30% of sessions",
            ("channel",), _BASE,
            Regime(
                replace(
                    BASE_POPULATION,
                    channel=tuple((c, p * 0.7) for c, p in BASE_POPULATION.channel)
                    + ((NEW_CHANNEL, 0.30),),
                ),
                BASE_RULE,
                BASE_POPULATION,
            ),
        ),
        Scenario(
            "covariate-shift-return",
            "like covariate-shift, then back to the original distributions at return_at",
            _COVARIATE_CHANGES, _BASE, _SHIFTED, returns=True,
        ),
        Scenario(
            "covariate-concept-shift",
            "features move as in covariate-shift and the rule changes as in concept-drift",
            (*_COVARIATE_CHANGES, "rule"), _BASE,
            Regime(_SHIFTED.population, _NEW_RULE, BASE_POPULATION),
        ),
        Scenario(
            "concept-drift-return",
            "like concept-drift, then the original rule comes back at return_at (a "
            "recurring concept)",
            ("rule",), _BASE, Regime(BASE_POPULATION, _NEW_RULE, BASE_POPULATION),
            returns=True,
        ),
    )
}


def drift_weight(
    index: NDArray[np.int64], *, drift_at: int, gradual: int = 0, return_at: int | None = None
) -> NDArray[np.float64]:
    """Probability that each event comes from the changed regime.

    >>> drift_weight(np.arange(6), drift_at=2, gradual=2).tolist()
    [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    >>> drift_weight(np.arange(6), drift_at=1, return_at=4).tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    """
    weight = _ramp(index, drift_at, gradual)
    if return_at is not None:
        weight = np.minimum(weight, 1.0 - _ramp(index, return_at, gradual))
    return weight


def _ramp(index: NDArray[np.int64], at: int, width: int) -> NDArray[np.float64]:
    if width <= 0:
        return (index >= at).astype(np.float64)
    return np.clip((index - at) / width, 0.0, 1.0)
