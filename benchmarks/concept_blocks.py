"""Whether concept drift can be judged from labeled events folded into blocks: river's
ADWIN on every labeled event's excess loss (what the monitor runs by default), against
ADWIN fed blocks of ``k`` events, over many seeds.

A summary of labeled events could carry a block's excess loss instead of one error an
event. Each stream is scored by the model ``monitor_memory`` trains; its scenario starts
at ``--drift-at``. A detection before that is a false alarm (of either direction: the
monitor alerts only on a rise); the delay is from the change to the end of the block
that set off the first detection after it. Three feeds of a block: ``means``, its mean
to river's ADWIN as one item; ``scaled``, the same to an ADWIN whose clock, grace period
and shortest window count blocks as the default's count events (river's are counted in
items); ``blocks``, its count, sum and sum of squared deviations to
:class:`~monitor.block_adwin.BlockADWIN` (the ``adwin_blocks`` detector).

    python -m benchmarks concept_blocks [--seeds N] [--events N] [--blocks K ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from river import drift as river_drift

from benchmarks.monitor_memory import model
from monitor.block_adwin import BlockADWIN
from monitor.performance import excess_losses
from producers.simulator import Simulator

# river ships no type hints; as Any its calls type-check without a blanket exemption.
drift: Any = river_drift
SCENARIOS = ("stable", "concept-drift", "label-shift", "covariate-concept-shift",
             "covariate-shift")
DELTA = 0.002  # the shipped rules' ADWIN
CLOCK, GRACE, SHORTEST = 32, 10, 5  # river's ADWIN defaults, in items


FEEDS = ("means", "scaled", "blocks")


def detections(errors: NDArray[np.float64], k: int, feed: str = "means") -> list[int]:
    """Where ADWIN fed consecutive blocks of ``k`` errors (one of :data:`FEEDS`) detects
    a change: the count of errors up to the end of each block that set it off.

    >>> step = np.r_[np.zeros(3000), np.ones(3000)] + np.tile([0.0, 0.5], 3000)
    >>> detections(step, 1)[0] - 3000 < detections(step, 50)[0] - 3000
    True
    >>> detections(step, 1) == detections(step, 1, "blocks")
    True
    """
    n = errors.size // k
    blocks = errors[:n * k].reshape(n, k)
    means = blocks.mean(axis=1)
    found = []
    if feed == "blocks":
        block_detector = BlockADWIN(delta=DELTA)
        m2 = np.square(blocks - means[:, None]).sum(axis=1)
        for i, (total, spread) in enumerate(zip((means * k).tolist(), m2.tolist(),
                                                strict=True)):
            block_detector.update_block(k, total, spread)
            if block_detector.drift_detected:
                found.append((i + 1) * k)
        return found
    options: dict[str, Any] = {"delta": DELTA}
    if feed == "scaled":
        options |= {"clock": max(1, CLOCK // k), "grace_period": max(1, GRACE // k),
                    "min_window_length": max(1, SHORTEST // k)}
    detector = drift.ADWIN(**options)
    for i, mean in enumerate(means.tolist()):
        detector.update(mean)
        if detector.drift_detected:
            found.append((i + 1) * k)
    return found


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks concept_blocks",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--events", type=int, default=60_000, help="labeled events a stream")
    parser.add_argument("--drift-at", type=int, default=20_000)
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 10, 25, 100, 250])
    args = parser.parse_args(argv)
    bundle = model()
    print(f"{'scenario':26}{'feed':>14}{'false alarms':>14}{'missed':>8}"
          f"{'delay min / median / max':>28}")
    for scenario in SCENARIOS:
        streams = []
        for seed in range(args.seeds):
            items = list(Simulator(seed=100 + seed, scenario=scenario,
                                   drift_at=args.drift_at).events(args.events))
            scores, _ = bundle.score_batch([i.event.features for i in items])
            streams.append(excess_losses(np.array([i.label for i in items]),
                                         np.asarray(scores, dtype=np.float64)))
        for k in args.blocks:
            for feed in FEEDS if k > 1 else FEEDS[:1]:
                found = [detections(x, k, feed) for x in streams]
                early = sum(t <= args.drift_at for f in found for t in f)
                delays = [next((t - args.drift_at for t in f if t > args.drift_at), None)
                          for f in found]
                seen = sorted(d for d in delays if d is not None)
                spread = (f"{seen[0]:,} / {int(np.median(seen)):,} / {seen[-1]:,}" if seen
                          else "-")
                label = "each event" if k == 1 else f"k={k} {feed}"
                missed = "-" if scenario == "stable" else f"{len(delays) - len(seen)}/{args.seeds}"
                print(f"{scenario:26}{label:>14}{early:>14}{missed:>8}{spread:>28}")
    return 0
