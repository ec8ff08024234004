"""Synthetic labelled events for the scorer's tests: numbers, categories, gaps, a known rule."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.training import TrainingConfig, train

DEVICES = ("ios", "android", "web")
COUNTRIES = ("de", "fr", "es", "it", "nl", "pl")
DEVICE_EFFECT = {"ios": 0.8, "android": 0.0, "web": -0.6}
START = datetime(2026, 1, 1, tzinfo=UTC)
KEY = b"unit-test-signing-key"

RowMaker = Callable[..., list[TrainingRow]]


def make_rows(n: int, *, seed: int = 0, timed: bool = True) -> list[TrainingRow]:
    """``n`` events whose label follows a logistic rule on cart value, pages and device.

    About 10 % of cart values and 5 % of devices are missing, 1 % of cart values are
    wild outliers, and the country is noise.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        cart = float(rng.lognormal(3.0, 1.0))
        if rng.random() < 0.01:
            cart *= 1000.0
        pages = int(rng.poisson(4))
        device = str(rng.choice(DEVICES))
        spend = math.log1p(min(cart, 500.0))
        logit = 2.0 * (spend - 3.0) + 0.4 * (pages - 4) + 2.0 * DEVICE_EFFECT[device]
        label = int(rng.random() < 1.0 / (1.0 + math.exp(-logit)))
        features: dict[str, float | str | None] = {
            "cart_value": None if rng.random() < 0.10 else cart,
            "pages": float(pages),
            "device": None if rng.random() < 0.05 else device,
            "country": str(rng.choice(COUNTRIES)),
        }
        ts = START + timedelta(minutes=i) if timed else None
        rows.append(TrainingRow(features=features, label=label, ts=ts))
    return rows


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_pool() -> Iterator[None]:
    # OpenMP threads (gradient boosting) spin while they wait; on a busy shared
    # machine that turned a 0.3 s fit into 3-10 s. One thread keeps the suite steady.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="session")
def rows_maker() -> RowMaker:
    return make_rows


@pytest.fixture(scope="session")
def key() -> bytes:
    return KEY


@pytest.fixture(scope="session")
def logistic_bundle() -> ModelBundle:
    bundle, _ = train(make_rows(1500), model="conversion", version=1)
    return bundle


@pytest.fixture(scope="session")
def hgb_bundle() -> ModelBundle:
    config = TrainingConfig(estimator="hgb", param_grid={"model__max_iter": [30]})
    bundle, _ = train(make_rows(1500, seed=1), model="conversion", version=1, config=config)
    return bundle


@pytest.fixture(scope="session")
def mlp_bundle() -> ModelBundle:
    config = TrainingConfig(estimator="mlp", param_grid={"model__alpha": [1e-4]})
    bundle, _ = train(make_rows(1500, seed=2), model="conversion", version=1, config=config)
    return bundle


@pytest.fixture(params=["logistic", "hgb", "mlp"])
def bundle(request: pytest.FixtureRequest, logistic_bundle: ModelBundle,
           hgb_bundle: ModelBundle, mlp_bundle: ModelBundle) -> ModelBundle:
    return {"logistic": logistic_bundle, "hgb": hgb_bundle, "mlp": mlp_bundle}[request.param]
