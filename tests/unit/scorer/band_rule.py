"""Rows whose label is set inside a band of one feature: a rule no straight line fits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from scorer.datasets import TrainingRow

START = datetime(2026, 1, 1, tzinfo=UTC)


def band_rows(n: int, *, seed: int) -> list[TrainingRow]:
    """Label 1 (95%) when ``x`` is within (0.3, 0.7), else 1 with 5%; ``c`` is noise."""
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    inside = (x > 0.3) & (x < 0.7)
    labels = (rng.random(n) < np.where(inside, 0.95, 0.05)).astype(int)
    return [TrainingRow({"x": float(x[i]), "c": str(rng.choice(["a", "b", "c"]))},
                        int(labels[i]), START + timedelta(minutes=i)) for i in range(n)]
