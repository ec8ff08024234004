"""Signed tree models with broken node arrays never crash the scorer.

A real gradient-boosting model is fitted, then each mutation of
:mod:`tests.security.tree_mutations` breaks one of its trees (child indices random,
near 2**31, one past the end, looping back; feature indices out of range or
negative; NaN thresholds and leaf values; flags that are not flags; category splits
with no bitset; random bytes; shuffled nodes). Every variant is signed with the test
key and loaded and scored in a child process forked from a clean server, so a
segfault shows as a negative exit code. Each must be refused with a message naming
the node, or score finite values. The seed is fixed (20260) so the variants are the
same on every run.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
from threadpoolctl import threadpool_limits

from producers.simulator import Simulator
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.training import TrainingConfig, train
from tests.security.tree_mutations import MUTATIONS, Case, load_and_score, mutated_cases

SEED = 20260
PER_MUTATION = 2
# Mutations that reach native code out of bounds or loop forever if not refused.
MUST_REFUSE = {"child-random", "child-huge", "child-one-past-end", "child-self-loop",
               "child-back-to-root", "feature-width", "feature-huge", "feature-negative",
               "categorical-split", "leaf-made-split", "is-leaf-not-a-flag"}


@pytest.fixture(scope="module")
def hgb_bundle() -> ModelBundle:
    history = Simulator(seed=3, start=datetime(2026, 1, 1, tzinfo=UTC)).events(1500)
    rows = [TrainingRow(dict(i.event.features), i.label, i.event.ts) for i in history]
    config = TrainingConfig(estimator="hgb", param_grid={"model__max_iter": [10]})
    with threadpool_limits(1):
        bundle, _ = train(rows, model="conversion", version=1, config=config)
    return bundle


def run_in_child(context: multiprocessing.context.BaseContext, case: Case) \
        -> tuple[int | None, tuple[object, ...] | None]:
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=load_and_score, args=(case, send))
    child.start()
    send.close()
    child.join(60)
    if child.is_alive():  # a cycle the checks missed: the walk never ends
        child.kill()
        child.join()
        return None, None
    try:
        return child.exitcode, receive.recv()
    except EOFError:  # died before reporting
        return child.exitcode, None


def test_every_mutated_tree_is_refused_or_scores_finite_and_none_crashes(
    hgb_bundle: ModelBundle,
) -> None:
    context = multiprocessing.get_context("forkserver")
    # Imported once in the server, so each forked child starts in milliseconds.
    context.set_forkserver_preload(["tests.security.tree_mutations"])
    began = time.monotonic()
    results = {case.name: run_in_child(context, case)
               for case in mutated_cases(hgb_bundle, SEED, PER_MUTATION)}
    elapsed = time.monotonic() - began

    outcomes = Counter(str(r[1][0]) if r[1] else f"exit {r[0]}" for r in results.values())
    print(f"\n[tree artifacts] variants={len(results)} mutations={len(MUTATIONS)} "
          f"outcomes={dict(outcomes)} seconds={elapsed:.1f}")
    crashed = {name: code for name, (code, _) in results.items() if code != 0}
    assert not crashed, f"children died (negative: a signal, None: hung): {crashed}"
    assert results["unchanged"][1] == ("scored", True, 200)
    for name, (_, report) in results.items():
        assert report is not None
        if report[0] == "refused":
            assert report[1] == "unsafe-tree" and "tree" in str(report[2]), (name, report)
        else:
            assert report[1] is True, f"{name} scored values that are not finite"
            assert name.split("#")[0] not in MUST_REFUSE, f"{name} was not refused"
