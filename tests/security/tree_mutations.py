"""Signed gradient-boosting artifacts with broken node arrays, and a child that loads one.

Each mutation changes one thing in one tree of a real fitted model, as a forger
holding the signing key (or a buggy trainer) could. The child process loads the
signed bytes and scores probe rows, and reports what happened; run in its own
process, a crash in native code shows as a negative exit code, not a dead suite.
"""

from __future__ import annotations

import copy
import dataclasses
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from scorer.artifact import load_artifact
from scorer.bundle import ModelBundle
from scorer.compiled import probe_rows
from scorer.exceptions import ArtifactRejected
from tests.integration.scoring_fixtures import signed
from tests.signing_keys import KEYS

Nodes = np.ndarray
Mutation = Callable[[Nodes, random.Random, int], None]
HUGE = (2**31 - 1, 2**31, 2**31 + 7, 2**32 - 1)  # 2**32 - 1 is -1 as uint32


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    sha256: str
    signature: str
    key_id: str


def _splits(nodes: Nodes) -> np.ndarray:
    return np.flatnonzero(nodes["is_leaf"] == 0)


def _leaves(nodes: Nodes) -> np.ndarray:
    return np.flatnonzero(nodes["is_leaf"] == 1)


def _child(value: Callable[[Nodes, random.Random, int], int]) -> Mutation:
    def mutate(nodes: Nodes, rng: random.Random, width: int) -> None:
        at = rng.choice(_splits(nodes).tolist())
        nodes[at][rng.choice(["left", "right"])] = value(nodes, rng, at)
    return mutate


def _field(name: str, value: Callable[[random.Random, int], object],
           where: Callable[[Nodes], np.ndarray] = _splits) -> Mutation:
    def mutate(nodes: Nodes, rng: random.Random, width: int) -> None:
        nodes[rng.choice(where(nodes).tolist())][name] = value(rng, width)
    return mutate


def _categorical_split(nodes: Nodes, rng: random.Random, width: int) -> None:
    at = rng.choice(_splits(nodes).tolist())
    nodes[at]["is_categorical"] = 1
    nodes[at]["bitset_idx"] = rng.choice(HUGE)


def _shared_child(nodes: Nodes, rng: random.Random, width: int) -> None:
    at = rng.choice(_splits(nodes).tolist())
    nodes[at]["right"] = nodes[at]["left"]


def _leaf_made_split(nodes: Nodes, rng: random.Random, width: int) -> None:
    nodes[rng.choice(_leaves(nodes).tolist())]["is_leaf"] = 0  # children 0, 0: back to the root


def _split_made_leaf(nodes: Nodes, rng: random.Random, width: int) -> None:
    nodes[rng.choice(_splits(nodes).tolist())]["is_leaf"] = 1


def _random_bytes(nodes: Nodes, rng: random.Random, width: int) -> None:
    raw = nodes.view(np.uint8)
    raw[:] = np.frombuffer(rng.randbytes(raw.size), dtype=np.uint8)


def _shuffled(nodes: Nodes, rng: random.Random, width: int) -> None:
    order = list(range(1, len(nodes)))
    rng.shuffle(order)
    nodes[1:] = nodes[order].copy()


MUTATIONS: dict[str, Mutation] = {
    "child-random": _child(lambda n, r, at: r.randrange(2**32)),
    "child-huge": _child(lambda n, r, at: r.choice(HUGE)),
    "child-one-past-end": _child(lambda n, r, at: len(n)),
    "child-self-loop": _child(lambda n, r, at: at),
    "child-back-to-root": _child(lambda n, r, at: 0),
    "child-shared": _shared_child,
    "feature-width": _field("feature_idx", lambda r, w: w),
    "feature-huge": _field("feature_idx", lambda r, w: r.choice([2**31, 2**40, 2**62])),
    "feature-negative": _field("feature_idx", lambda r, w: r.choice([-1, -(2**40)])),
    "threshold-nan": _field("num_threshold", lambda r, w: float("nan")),
    "threshold-minus-inf": _field("num_threshold", lambda r, w: float("-inf")),
    "leaf-value-nan": _field("value", lambda r, w: float("nan"), _leaves),
    "leaf-value-inf": _field("value", lambda r, w: float("inf"), _leaves),
    "is-leaf-not-a-flag": _field("is_leaf", lambda r, w: r.randrange(2, 256)),
    "depth-wrong": _field("depth", lambda r, w: r.choice([7, 2**31])),
    "categorical-split": _categorical_split,
    "leaf-made-split": _leaf_made_split,
    "split-made-leaf": _split_made_leaf,
    "random-bytes": _random_bytes,
    "shuffled-nodes": _shuffled,
}


def mutated_cases(bundle: ModelBundle, seed: int, per_mutation: int) -> Iterator[Case]:
    """The unchanged model, then ``per_mutation`` signed variants of every mutation."""
    rng = random.Random(seed)
    yield _case("unchanged", bundle)
    for name, mutate in MUTATIONS.items():
        for n in range(per_mutation):
            pipeline = copy.deepcopy(bundle.pipeline)
            model = pipeline.named_steps["model"]
            tree = rng.choice(model._predictors)[0]
            mutate(tree.nodes, rng, model.n_features_in_)
            yield _case(f"{name}#{n}", dataclasses.replace(bundle, pipeline=pipeline))


def _case(name: str, bundle: ModelBundle) -> Case:
    artifact = signed(bundle)
    return Case(name, artifact.data, artifact.sha256, artifact.signature, artifact.key_id)


def load_and_score(case: Case, out: Connection) -> None:
    """In the child: send ("refused", code, message) or ("scored", all finite?, n)."""
    try:
        bundle = load_artifact(case.data, case.sha256, case.signature, KEYS, key_id=case.key_id)
    except ArtifactRejected as exc:
        out.send(("refused", exc.code, str(exc)))
        return
    scores, _ = bundle.score_batch(probe_rows(bundle.schema, n=200))
    out.send(("scored", bool(np.isfinite(scores).all()), len(scores)))
