"""Structural checks of tree models before scikit-learn's native code walks them.

scikit-learn's ``TreePredictor`` walks its node array in Cython without bounds
checks: a child index past the end, a feature index past the row, or a bitset index
past its table reads arbitrary memory (a signed artifact with child indices near
2**31 kills the process with SIGSEGV), and a cycle loops forever. The signature
proves who published an artifact, not that its arrays are sound, so every tree of a
loaded pipeline is checked here first: a tree whose children point forward and
give every node but the root exactly one parent is acyclic and in range, whatever
the bytes said.

The same holds for the ``Tree`` inside every decision tree (a
``GradientBoostingClassifier`` or a random forest of an imported pipeline), whose
``apply`` walks ``children_left`` and ``children_right`` without bounds checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

import numpy as np
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.gradient_boosting import BaseHistGradientBoosting
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.pipeline import Pipeline
from sklearn.tree._tree import TREE_LEAF, Tree

from scorer.exceptions import UnsafeTree

# Far above what training grows (max_leaf_nodes 31 gives depth <= 30) and far below
# anything that costs real time per row.
MAX_TREE_DEPTH: Final = 256
BITSET_WORDS: Final = 8  # 256 categories as eight uint32 words


def check_pipeline_trees(pipeline: Pipeline) -> int:
    """Check every tree model inside ``pipeline``; the number of trees checked.

    Models are found by walking the loaded objects, so one nested in a meta-estimator
    is checked too. Raises :class:`UnsafeTree` naming the model, tree and node at fault.

    >>> from sklearn.linear_model import LogisticRegression
    >>> check_pipeline_trees(Pipeline([("model", LogisticRegression())]))
    0
    """
    checked = 0
    for path, model in _tree_models(pipeline):
        if isinstance(model, Tree):
            check_decision_tree(model, where=f"the tree at {path}")
            checked += 1
        else:
            checked += check_boosting(model, where=f"the {type(model).__name__} at {path}")
    return checked


def _tree_models(root: object) -> Iterator[tuple[str, BaseHistGradientBoosting | Tree]]:
    seen: set[int] = set()
    stack: list[tuple[str, object]] = [("pipeline", root)]
    while stack:
        path, obj = stack.pop()
        if id(obj) in seen or isinstance(obj, str | bytes | int | float):
            continue
        seen.add(id(obj))
        if isinstance(obj, BaseHistGradientBoosting | Tree):
            yield path, obj
            continue
        if isinstance(obj, np.ndarray):
            if obj.dtype == object:  # a GradientBoostingClassifier's estimators_
                stack += [(f"{path}[{i}]", v) for i, v in enumerate(obj.ravel().tolist())]
        elif isinstance(obj, dict):
            stack += [(f"{path}[{k!r}]", v) for k, v in obj.items()]
        elif isinstance(obj, list | tuple):
            stack += [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
        elif hasattr(obj, "__dict__"):
            stack += [(f"{path}.{k}", v) for k, v in vars(obj).items()]


def check_boosting(model: BaseHistGradientBoosting, *, where: str = "the model") -> int:
    """Check ``model``'s trees against its input width; the number of trees checked."""
    state = vars(model)
    width = state.get("n_features_in_")
    if not isinstance(width, int) or width < 1:
        raise UnsafeTree(f"{where}: the input width {width!r} is not a positive integer")
    if state.get("_preprocessor") is not None:
        raise UnsafeTree(f"{where}: a built-in categorical preprocessor is not supported; "
                         "the pipeline encodes categories before the trees")
    categorical = _categorical_flags(state.get("_bin_mapper"), width, where)
    per_iteration = state.get("n_trees_per_iteration_")
    baseline = np.asarray(state.get("_baseline_prediction"))
    if not isinstance(per_iteration, int) or baseline.shape != (1, per_iteration) \
            or not np.isfinite(baseline).all():
        raise UnsafeTree(f"{where}: the baseline prediction {baseline!r} does not match "
                         f"{per_iteration!r} trees an iteration")
    iterations = state.get("_predictors")
    if not isinstance(iterations, list):
        raise UnsafeTree(f"{where}: the trees are not a list")
    for i, trees in enumerate(iterations):
        if not isinstance(trees, list) or len(trees) != per_iteration:
            raise UnsafeTree(f"{where}: iteration {i} does not hold {per_iteration} trees")
        for k, tree in enumerate(trees):
            check_tree(tree, width=width, categorical=categorical,
                       where=f"{where}, tree {i}/{k}")
    return len(iterations) * per_iteration


def _categorical_flags(bin_mapper: Any, width: int, where: str) -> np.ndarray:
    flags = getattr(bin_mapper, "is_categorical_", None)
    flags = np.zeros(width, dtype=bool) if flags is None else np.asarray(flags)
    if flags.shape != (width,):
        raise UnsafeTree(f"{where}: {flags.shape} categorical flags for {width} input columns")
    return flags.astype(bool)


def check_tree(tree: Any, *, width: int, categorical: np.ndarray, where: str = "the tree") -> None:
    """Refuse ``tree`` unless walking it from the root stays in its arrays and ends at a leaf.

    >>> nodes = np.zeros(3, dtype=PREDICTOR_RECORD_DTYPE)
    >>> nodes[0]["left"], nodes[0]["right"] = 1, 2
    >>> nodes["is_leaf"] = [0, 1, 1]
    >>> nodes["depth"] = [0, 1, 1]
    >>> bitsets = np.zeros((0, 8), dtype=np.uint32)
    >>> check_tree(TreePredictor(nodes, bitsets, bitsets), width=1, categorical=np.zeros(1, bool))
    >>> nodes[0]["right"] = 2**31
    >>> check_tree(TreePredictor(nodes, bitsets, bitsets), width=1, categorical=np.zeros(1, bool))
    Traceback (most recent call last):
    ...
    scorer.exceptions.UnsafeTree: the tree: node 0 has children (1, 2147483648); expected \
indices after it and below the tree's 3 nodes
    """
    if type(tree) is not TreePredictor:
        raise UnsafeTree(f"{where}: a {type(tree).__name__}, not a TreePredictor")
    nodes = getattr(tree, "nodes", None)
    if not isinstance(nodes, np.ndarray) or nodes.dtype != PREDICTOR_RECORD_DTYPE \
            or nodes.ndim != 1 or nodes.size == 0:
        raise UnsafeTree(f"{where}: the nodes are not a non-empty array of tree records")
    bitsets = getattr(tree, "raw_left_cat_bitsets", None)
    if not isinstance(bitsets, np.ndarray) or bitsets.dtype != np.uint32 or bitsets.ndim != 2 \
            or bitsets.shape[1] != BITSET_WORDS or not bitsets.flags.c_contiguous:
        raise UnsafeTree(f"{where}: the category bitsets are not an (n, 8) uint32 array")
    _check_flags(nodes, where)
    split = np.flatnonzero(nodes["is_leaf"] == 0)
    _check_links(nodes, split, where)
    _check_depths(nodes, split, where)
    _check_splits(nodes[split], split, width, categorical, len(bitsets), where)
    leaves = nodes["value"][nodes["is_leaf"] == 1]
    if not np.isfinite(leaves).all():
        raise UnsafeTree(f"{where}: a leaf holds a value that is not finite")


def check_decision_tree(tree: Tree, *, where: str = "the tree") -> None:
    """Refuse a scikit-learn ``Tree`` unless walking it from the root stays in its arrays.

    >>> from sklearn.tree import DecisionTreeRegressor
    >>> fitted = DecisionTreeRegressor(max_depth=2).fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
    >>> check_decision_tree(fitted.tree_)
    """
    n = int(tree.node_count)
    left, right = tree.children_left.astype(np.int64), tree.children_right.astype(np.int64)
    if n < 1 or left.shape != (n,) or right.shape != (n,):
        raise UnsafeTree(f"{where}: {n} nodes but {left.shape} and {right.shape} children")
    leaf = (left == TREE_LEAF) & (right == TREE_LEAF)
    split = np.flatnonzero(~leaf)
    _check_children(left[split], right[split], split, n, where)
    feature = tree.feature[split]
    bad = np.flatnonzero((feature < 0) | (feature >= tree.n_features))
    if bad.size:
        raise UnsafeTree(f"{where}: node {split[bad[0]]} splits on column {feature[bad[0]]}; "
                         f"the tree reads {tree.n_features} columns")
    depth = np.zeros(n, dtype=np.int64)
    for at, low, high in zip(split.tolist(), left[split].tolist(), right[split].tolist(),
                             strict=True):
        depth[low] = depth[high] = depth[at] + 1
    if int(depth.max()) > MAX_TREE_DEPTH:
        raise UnsafeTree(f"{where}: the tree is {int(depth.max())} levels deep; "
                         f"at most {MAX_TREE_DEPTH}")
    if not np.isfinite(tree.value).all():
        raise UnsafeTree(f"{where}: a leaf holds a value that is not finite")


def _check_flags(nodes: np.ndarray, where: str) -> None:
    for flag in ("is_leaf", "is_categorical", "missing_go_to_left"):
        bad = np.flatnonzero(nodes[flag] > 1)
        if bad.size:
            raise UnsafeTree(f"{where}: node {bad[0]} has {flag}={nodes[flag][bad[0]]}; "
                             "expected 0 or 1")


def _check_links(nodes: np.ndarray, split: np.ndarray, where: str) -> None:
    _check_children(nodes["left"][split].astype(np.int64),
                    nodes["right"][split].astype(np.int64), split, len(nodes), where)


def _check_children(left: np.ndarray, right: np.ndarray, split: np.ndarray, n: int,
                    where: str) -> None:
    """Children of the ``split`` nodes point forward, in range, one parent each."""
    bad = np.flatnonzero((left <= split) | (right <= split) | (left >= n) | (right >= n))
    if bad.size:
        at = split[bad[0]]
        raise UnsafeTree(f"{where}: node {at} has children ({left[bad[0]]}, {right[bad[0]]}); "
                         f"expected indices after it and below the tree's {n} nodes")
    parents = np.bincount(np.concatenate([left, right]), minlength=n)
    parents[0] += 1  # the root's one "parent" is the walk's start
    orphan = np.flatnonzero(parents != 1)
    if orphan.size:
        raise UnsafeTree(f"{where}: node {orphan[0]} is reached from {parents[orphan[0]]} "
                         "places; in a tree every node but the root has exactly one parent")


def _check_depths(nodes: np.ndarray, split: np.ndarray, where: str) -> None:
    # Children come after their parent, so one pass in index order sets every depth.
    depth = np.zeros(len(nodes), dtype=np.int64)
    for at, left, right in zip(split.tolist(), nodes["left"][split].tolist(),
                               nodes["right"][split].tolist(), strict=True):
        depth[left] = depth[right] = depth[at] + 1
    deepest = int(depth.max())
    if deepest > MAX_TREE_DEPTH:
        raise UnsafeTree(f"{where}: the tree is {deepest} levels deep; at most {MAX_TREE_DEPTH}")
    wrong = np.flatnonzero(depth != nodes["depth"])
    if wrong.size:
        raise UnsafeTree(f"{where}: node {wrong[0]} says depth {nodes['depth'][wrong[0]]}, "
                         f"is at depth {depth[wrong[0]]}")


def _check_splits(split_nodes: np.ndarray, at: np.ndarray, width: int, categorical: np.ndarray,
                  n_bitsets: int, where: str) -> None:
    feature = split_nodes["feature_idx"]
    bad = np.flatnonzero((feature < 0) | (feature >= width))
    if bad.size:
        raise UnsafeTree(f"{where}: node {at[bad[0]]} splits on column {feature[bad[0]]}; "
                         f"the model reads {width} columns")
    # +inf is what training writes for "every value left, missing right"; NaN or -inf never.
    threshold = split_nodes["num_threshold"]
    bad = np.flatnonzero(np.isnan(threshold) | (threshold == -np.inf))
    if bad.size:
        raise UnsafeTree(f"{where}: node {at[bad[0]]} has threshold {threshold[bad[0]]}")
    is_cat = split_nodes["is_categorical"] == 1
    no_bitset = split_nodes["bitset_idx"] >= n_bitsets
    bad = np.flatnonzero(is_cat & (~categorical[feature] | no_bitset))
    if bad.size:
        raise UnsafeTree(f"{where}: node {at[bad[0]]} is a category split on column "
                         f"{feature[bad[0]]} with bitset {split_nodes['bitset_idx'][bad[0]]}; the "
                         f"column must be categorical and the bitset below {n_bitsets}")


__all__ = ["MAX_TREE_DEPTH", "check_boosting", "check_decision_tree", "check_pipeline_trees",
           "check_tree"]
