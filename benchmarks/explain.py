"""What explaining each prediction costs the model, per recipe: CPU an event to score
batches of 2,000 simulated events, without and with their 3 largest contributions (a
linear model's terms, a tree model's path credits). The model's part only: the whole
scoring path's cost (decoding, routing, encoding) is the suite's `explain3` row.

    python -m benchmarks explain [--rounds N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.suite import history
from producers.simulator import Simulator
from scorer.bundle import ModelBundle
from scorer.preprocessing import EstimatorName
from scorer.training import TrainingConfig, train

BATCH = 2_000
EVENTS = 20_000
TOP_K = 3


def per_event_us(score: Callable[[list[Any]], object], batches: list[list[Any]]) -> float:
    began = time.process_time()
    for batch in batches:
        score(batch)
    return (time.process_time() - began) / sum(map(len, batches)) * 1e6


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks explain", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    args = parser.parse_args(argv)
    features = [i.event.features for i in Simulator(seed=3).events(EVENTS)]
    batches = [features[i:i + BATCH] for i in range(0, EVENTS, BATCH)]
    print(f"scoring {EVENTS:,} events in batches of {BATCH:,}, median of {args.rounds} rounds")
    recipes: tuple[EstimatorName, ...] = ("logistic", "hgb")
    for recipe in recipes:
        bundle, _ = train(history(), model="conversion", config=TrainingConfig(estimator=recipe))
        bundle.score_explained(batches[0], TOP_K)  # built once, on first use

        def explain(batch: list[Any], model: ModelBundle = bundle) -> object:
            return model.score_explained(batch, TOP_K)

        plain = statistics.median(per_event_us(bundle.score_batch, batches)
                                  for _ in range(max(1, args.rounds)))
        explained = statistics.median(per_event_us(explain, batches)
                                      for _ in range(max(1, args.rounds)))
        print(f"  {recipe:<9}{plain:>7.1f} µs an event, explained (k={TOP_K}) "
              f"{explained:>6.1f} µs: {explained / plain:.2f}x")
    return 0
