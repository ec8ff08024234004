"""Path attributions of a gradient-boosted tree model, for every row of a batch at once.

A row's logit is the model's baseline plus one leaf value a tree. Walking a tree from
its root to the row's leaf, each split moves the tree's expected output (the mean of
its leaves under the node, weighted by the training rows that reached them) from the
node to the child the row took; that move is credited to the split's feature (Saabas,
"Interpreting random forests", 2014). Per tree the moves sum to the leaf value minus
the root's expectation, so the credits with :attr:`TreePaths.bias` sum to the logit
exactly. They are not Shapley values: a feature split near the root can take credit
that a Shapley value would share, so they say which features moved this row's score
along its path, not how the model would average over orders.

Only numerical splits are read (what the models of :func:`scorer.preprocessing.
build_pipeline` hold, categories being one-hot columns by then); a model with a split
on a categorical bitset has no :class:`TreePaths`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class _Tree:
    leaf_of: Any  # scikit-learn's predictor of this tree, answering leaf numbers
    credit: np.ndarray  # (node, column): the credits along the path to each node


class TreePaths:
    """Per-column credits of a fitted binary ``HistGradientBoostingClassifier``.

    Each tree's credits are summed once per leaf (nodes x columns), so a batch costs one
    pass of scikit-learn's compiled tree walk (answering leaf numbers) and one gather a
    tree.

    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3)); y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> model = HistGradientBoostingClassifier(max_iter=10).fit(X, y)
    >>> paths = TreePaths.of(model)
    >>> credits = paths.credits(X[:5])
    >>> bool(np.allclose(paths.bias + credits.sum(axis=1), model.decision_function(X[:5])))
    True
    """

    def __init__(self, trees: list[_Tree], bias: float, width: int,
                 categories: tuple[Any, Any]) -> None:
        self.trees = trees
        self.bias = bias
        self.width = width
        self._categories = categories

    @classmethod
    def of(cls, model: Any) -> TreePaths | None:
        """The model's paths, or None for a model they cannot explain."""
        from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor

        predictors = getattr(model, "_predictors", None)
        baseline = getattr(model, "_baseline_prediction", None)
        mapper = getattr(model, "_bin_mapper", None)
        if not predictors or baseline is None or np.size(baseline) != 1 or mapper is None:
            return None
        width = int(model.n_features_in_)
        trees, bias = [], float(np.ravel(baseline)[0])
        for per_class in predictors:
            if len(per_class) != 1 or per_class[0].nodes["is_categorical"].any():
                return None
            predictor = per_class[0]
            numbered = predictor.nodes.copy()
            numbered["value"] = np.arange(len(numbered))
            expected = _expected(predictor.nodes)
            trees.append(_Tree(
                TreePredictor(numbered, predictor.binned_left_cat_bitsets,
                              predictor.raw_left_cat_bitsets),
                _credits(predictor.nodes, expected, width)))
            bias += float(expected[0])
        return cls(trees, bias, width, mapper.make_known_categories_bitsets())

    def credits(self, X: np.ndarray) -> np.ndarray:
        """Each column's credit for each row of ``X`` (the model's input), shape (rows,
        columns); with :attr:`bias` a row's credits sum to its logit."""
        known, index_map = self._categories
        out = np.zeros((X.shape[0], self.width))
        for tree in self.trees:
            leaves = tree.leaf_of.predict(X, known, index_map, 1).astype(np.intp)
            out += tree.credit[leaves]
        return out


def _expected(nodes: np.ndarray) -> np.ndarray:
    """Each node's expected output: its leaves' values weighted by training rows."""
    leaf = nodes["is_leaf"].astype(bool)
    left, right = nodes["left"], nodes["right"]
    count = nodes["count"].astype(np.float64)
    expected = np.where(leaf, nodes["value"], 0.0).astype(np.float64)
    # Children come after their parent: one pass from the last node up fills them all.
    for i in range(len(nodes) - 1, -1, -1):
        if not leaf[i]:
            a, b = left[i], right[i]
            weight = count[a] + count[b]
            expected[i] = ((count[a] * expected[a] + count[b] * expected[b]) / weight
                           if weight else 0.5 * (expected[a] + expected[b]))
    return expected


def _credits(nodes: np.ndarray, expected: np.ndarray, width: int) -> np.ndarray:
    """Per node, the credits each column earned on the path from the root to it."""
    credit = np.zeros((len(nodes), width))
    for i in range(len(nodes)):  # parents first, as above
        if not nodes["is_leaf"][i]:
            feature = int(nodes["feature_idx"][i])
            for child in (int(nodes["left"][i]), int(nodes["right"][i])):
                credit[child] = credit[i]
                credit[child, feature] += expected[child] - expected[i]
    return credit


class PipelinePaths:
    """A pipeline of column transforms fitted on an array (as :func:`scorer.preprocessing.
    build_pipeline` makes them) ending in a tree model, explained per feature: each
    output column's credit goes back to the input feature it came from (a category's
    one-hot columns to their feature), by the transform's output names (``x<j>`` or
    ``x<j>_<category>`` after the transformer's name).

    Scores are the pipeline's own, from the same transformed rows.
    """

    def __init__(self, front: Any, model: Any, paths: TreePaths, fold: np.ndarray) -> None:
        self.front = front
        self.model = model
        self.paths = paths
        self.fold = fold  # (output column, input feature): 1 where the column comes from it

    @classmethod
    def of(cls, pipeline: Any, width: int) -> PipelinePaths | None:
        """Paths of ``pipeline`` (``width`` input columns), or None when its last step
        is no tree model they read, or its columns cannot be traced to its inputs."""
        steps = getattr(pipeline, "steps", None)
        if not steps or len(steps) < 2:
            return None
        paths = TreePaths.of(steps[-1][1])
        front = pipeline[:-1]
        if hasattr(front.steps[0][1], "feature_names_in_"):
            return None  # fitted on named columns (an import): `x<j>` would not be input j
        try:
            names = front.get_feature_names_out()
        except (AttributeError, ValueError, TypeError):
            return None
        if paths is None or len(names) != paths.width:
            return None
        fold = np.zeros((paths.width, width))
        for column, name in enumerate(names):
            source = _INPUT.match(str(name).split("__")[-1])
            if source is None or int(source.group(1)) >= width:
                return None
            fold[column, int(source.group(1))] = 1.0
        return cls(front, steps[-1][1], paths, fold)

    def explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Scores (probability of label 1) and each input feature's credit, per row."""
        columns = self.front.transform(X)
        scores = self.model.predict_proba(columns)[:, 1]
        return scores, self.paths.credits(np.asarray(columns, dtype=np.float64)) @ self.fold


_INPUT = re.compile(r"x(\d+)(?:_|$)")

__all__ = ["PipelinePaths", "TreePaths"]
