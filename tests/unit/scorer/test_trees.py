from __future__ import annotations

import copy

import pytest

from scorer.bundle import ModelBundle
from scorer.exceptions import UnsafeTree
from scorer.trees import check_pipeline_trees


def test_a_fitted_gradient_boosting_model_passes_every_check(hgb_bundle: ModelBundle) -> None:
    model = hgb_bundle.pipeline.named_steps["model"]
    assert check_pipeline_trees(hgb_bundle.pipeline) == len(model._predictors) > 0


def test_a_child_index_near_two_to_the_31_is_refused_naming_the_node(
    hgb_bundle: ModelBundle,
) -> None:
    pipeline = copy.deepcopy(hgb_bundle.pipeline)
    pipeline.named_steps["model"]._predictors[3][0].nodes[0]["right"] = 2**31 + 5
    with pytest.raises(UnsafeTree, match=r"tree 3/0: node 0 has children \(\d+, 2147483653\)"):
        check_pipeline_trees(pipeline)


def test_a_model_nested_in_a_list_is_found_and_checked(hgb_bundle: ModelBundle) -> None:
    pipeline = copy.deepcopy(hgb_bundle.pipeline)
    pipeline.named_steps["model"]._predictors[0][0].nodes[0]["feature_idx"] = 10**6
    holder = copy.deepcopy(hgb_bundle.pipeline)
    holder.steps.append(("extra", [pipeline.named_steps["model"]]))  # type: ignore[arg-type]
    with pytest.raises(UnsafeTree, match="splits on column 1000000"):
        check_pipeline_trees(holder)
