"""Who visits the shop, and the rule that decides who buys: vectorised, seeded, no I/O.

A :class:`Population` describes the distributions features are drawn from; a
:class:`Rule` is the known generative rule (a logistic of a linear score with two
interactions) that turns a session's true values into a conversion probability.
Scenarios (``producers.scenarios``) are pairs of these, before and after a change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import NDArray

NUMERIC_FEATURES: Final = (
    "session_length_s",
    "pages_viewed",
    "time_on_site_s",
    "cart_value",
    "items_in_cart",
    "days_since_last_visit",
    "previous_purchases",
    "discount_pct",
)
CATEGORICAL_FEATURES: Final = ("device", "channel", "country")
FEATURES: Final = NUMERIC_FEATURES + CATEGORICAL_FEATURES

Distribution = tuple[tuple[str, float], ...]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
Strings = NDArray[np.str_]

# Countries belong to the user, not the session, so they are drawn once per user.
COUNTRIES: Final[Distribution] = (
    ("US", 0.35), ("GB", 0.12), ("DE", 0.11), ("FR", 0.09),
    ("IN", 0.10), ("BR", 0.08), ("CA", 0.07), ("ES", 0.08),
)
# Pages are drawn around this session length so that shorter sessions view fewer pages.
REFERENCE_SESSION_S: Final = 240.0
DISCOUNT_LEVELS: Final = np.array([0.0, 10.0, 20.0, 30.0])


@dataclass(frozen=True, slots=True)
class Population:
    """Distributions of one regime's session features (all but the per-user country)."""

    session_median_s: float = 240.0
    session_sigma: float = 0.8
    pages_rate: float = 5.0
    items_rate: float = 0.7
    item_price_mean: float = 35.0
    days_mean: float = 10.0
    discount_probs: tuple[float, float, float, float] = (0.6, 0.2, 0.15, 0.05)
    device: Distribution = (("mobile", 0.55), ("desktop", 0.35), ("tablet", 0.10))
    channel: Distribution = (
        ("organic", 0.30), ("paid_search", 0.22), ("social", 0.18),
        ("email", 0.12), ("direct", 0.13), ("referral", 0.05),
    )


@dataclass(frozen=True, slots=True)
class Rule:
    """Coefficients of the conversion rule; the intercept is calibrated to ``base_rate``."""

    base_rate: float = 0.14
    pages: float = 0.45  # × log1p(pages_viewed)
    items: float = 0.9  # × log1p(items_in_cart)
    cart: float = 0.15  # × log1p(cart_value)
    recency: float = -0.035  # × days_since_last_visit
    loyalty: float = 0.35  # × log1p(previous_purchases)
    discount: float = 0.025  # × discount_pct
    active_time: float = 0.3  # × log(time_on_site_s / 60)
    device: Distribution = (("mobile", -0.45), ("tablet", -0.1))
    channel: Distribution = (
        ("email", 0.55), ("paid_search", 0.3), ("social", -0.35),
        ("referral", 0.15), ("tiktok_shop", -0.2),
    )
    mobile_cart: float = -0.5  # mobile × items in cart: checkouts on phones get abandoned
    discount_new: float = 0.03  # discount_pct × first purchase: discounts win new buyers


@dataclass(frozen=True, slots=True)
class UserPool:
    """Per-user attributes: where they live, how often they buy, how often they visit."""

    country: Strings
    purchase_rate: Floats
    activity: Floats

    @classmethod
    def draw(cls, rng: np.random.Generator, size: int) -> UserPool:
        country = _categorical(rng, np.zeros(size, dtype=bool), COUNTRIES, COUNTRIES)
        # Heavy-tailed activity: a few users come back far more often than most.
        activity = rng.lognormal(0.0, 1.0, size)
        return cls(country, rng.gamma(0.8, 1.5, size), activity / activity.sum())

    def __len__(self) -> int:
        return len(self.country)


def draw_sessions(
    rng: np.random.Generator,
    user: NDArray[np.int64],
    users: UserPool,
    regime: Bools,
    before: Population,
    after: Population,
) -> dict[str, NDArray[np.float64] | Strings]:
    """True feature values of one session per row, from ``after`` where ``regime`` is set."""
    n = len(user)

    def pick(name: str) -> Floats:
        return np.asarray(np.where(regime, getattr(after, name), getattr(before, name)), np.float64)

    session = np.exp(rng.normal(np.log(pick("session_median_s")), pick("session_sigma")))
    pages = 1.0 + rng.poisson(pick("pages_rate") * np.sqrt(session / REFERENCE_SESSION_S))
    items = rng.poisson(pick("items_rate") * (pages / 6.0) ** 0.7).astype(np.float64)
    # A sum of k gamma(2) prices is gamma(2k); carts without items are worth nothing.
    cart = np.where(
        items > 0, rng.gamma(2.0 * np.maximum(items, 1.0), pick("item_price_mean") / 2.0), 0.0
    )
    discount_cdf = np.cumsum(np.where(regime[:, None], after.discount_probs, before.discount_probs),
                             axis=1)
    discount_idx = (rng.random(n)[:, None] >= discount_cdf).sum(axis=1).clip(0, 3)
    return {
        "session_length_s": np.round(session, 1),
        "pages_viewed": pages,
        "time_on_site_s": np.round(session * rng.uniform(0.35, 0.95, n), 1),
        "cart_value": np.round(cart, 2),
        "items_in_cart": items,
        "days_since_last_visit": np.floor(rng.exponential(pick("days_mean"))),
        "previous_purchases": rng.poisson(users.purchase_rate[user]).astype(np.float64),
        "discount_pct": DISCOUNT_LEVELS[discount_idx],
        "device": _categorical(rng, regime, before.device, after.device),
        "channel": _categorical(rng, regime, before.channel, after.channel),
        "country": users.country[user],
    }


def linear_score(
    f: dict[str, NDArray[np.float64] | Strings], regime: Bools, before: Rule, after: Rule
) -> Floats:
    """The rule's linear score without its intercept, row by row."""

    def c(name: str) -> Floats:
        return np.asarray(np.where(regime, getattr(after, name), getattr(before, name)), np.float64)

    pages, items, cart = (np.asarray(f[k], dtype=np.float64)
                          for k in ("pages_viewed", "items_in_cart", "cart_value"))
    days, prev, disc, active = (
        np.asarray(f[k], dtype=np.float64)
        for k in ("days_since_last_visit", "previous_purchases", "discount_pct", "time_on_site_s")
    )
    mobile = f["device"] == "mobile"
    score = (
        c("pages") * np.log1p(pages) + c("items") * np.log1p(items) + c("cart") * np.log1p(cart)
        + c("recency") * days + c("loyalty") * np.log1p(prev) + c("discount") * disc
        + c("active_time") * np.log(np.maximum(active, 1.0) / 60.0)
        + c("mobile_cart") * (mobile & (items > 0)) + c("discount_new") * disc * (prev == 0)
    )
    score += _effects(np.asarray(f["device"]), regime, before.device, after.device)
    score += _effects(np.asarray(f["channel"]), regime, before.channel, after.channel)
    return np.asarray(score, dtype=np.float64)


def sigmoid(x: Floats) -> Floats:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


@lru_cache(maxsize=64)
def intercept(rule: Rule, population: Population) -> float:
    """The intercept that makes ``rule``'s mean probability on ``population`` its base rate.

    Calibrated on a fixed-seed sample, so it is the same for every simulation seed.
    """
    rng = np.random.default_rng(20_260_101)
    users = UserPool.draw(rng, 5_000)
    n = 50_000
    user = rng.choice(len(users), size=n, p=users.activity)
    regime = np.zeros(n, dtype=bool)
    score = linear_score(draw_sessions(rng, user, users, regime, population, population),
                         regime, rule, rule)
    low, high = -20.0, 20.0
    for _ in range(60):  # the mean probability grows with the intercept: bisect
        middle = (low + high) / 2.0
        if sigmoid(middle + score).mean() < rule.base_rate:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def _categorical(
    rng: np.random.Generator, regime: Bools, before: Distribution, after: Distribution
) -> Strings:
    names = list(dict.fromkeys([c for c, _ in before] + [c for c, _ in after]))

    def cdf(dist: Distribution) -> Floats:
        p = dict(dist)
        weights = np.array([p.get(c, 0.0) for c in names])
        return np.cumsum(weights / weights.sum())

    u = rng.random(len(regime))
    idx = np.where(regime, np.searchsorted(cdf(after), u, side="right"),
                   np.searchsorted(cdf(before), u, side="right"))
    # Rounding can leave the last cumulative weight a hair under 1.
    return np.array(names)[np.minimum(idx, len(names) - 1)]


def _effects(values: Strings, regime: Bools, before: Distribution, after: Distribution) -> Floats:
    b, a = dict(before), dict(after)
    total = np.zeros(len(values))
    for name in set(b) | set(a):
        total += np.where(values == name, np.where(regime, a.get(name, 0.0), b.get(name, 0.0)), 0.0)
    return total
