"""The training recipe: split, search, fit, evaluate, and package as a :class:`ModelBundle`.

One function, :func:`train`, takes ``(features, label, ts)`` rows from anywhere (a
file, a window of labelled events) so the CLI and a continuous retrainer share it.
When every row has a time the split is chronological (the test set is the most
recent data) and the search cross-validates forward in time; random splits would
let the model peek at the future it is evaluated on.

The decision threshold (:mod:`scorer.threshold`) is chosen on the out-of-fold scores of
that same cross-validation, refitted with the chosen parameters: scores of rows the
scoring model did not fit on, and never the test rows the metrics are reported on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import (
    BaseCrossValidator,
    GridSearchCV,
    ParameterGrid,
    StratifiedKFold,
    TimeSeriesSplit,
    train_test_split,
)

from contracts.records import TopicRange
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow
from scorer.evaluation import base_rate_log_loss, evaluate, skill
from scorer.exceptions import TrainingDataError
from scorer.feature_schema import infer_schema
from scorer.preprocessing import ESTIMATORS, EstimatorName, build_pipeline, vectorise
from scorer.reference import reference_stats
from scorer.threshold import DEFAULT_THRESHOLD, ThresholdRule, choose_threshold

logger = logging.getLogger(__name__)

# Small on purpose: a search over these trains in seconds on 20k rows and 2 cores.
PARAM_GRIDS: Final[Mapping[str, Mapping[str, Sequence[Any]]]] = {
    "logistic": {"model__C": [0.1, 1.0, 10.0]},
    "hgb": {"model__learning_rate": [0.05, 0.1], "model__max_leaf_nodes": [15, 31]},
    "mlp": {"model__alpha": [1e-4, 1e-2], "model__hidden_layer_sizes": [(16,), (32, 16)]},
}
MIN_ROWS: Final = 20
# Every estimator searched on the same folds; the best cross-validated one is kept.
AUTO: Final = "auto"


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """How to train; the defaults suit the simulator's traffic."""

    estimator: EstimatorName | Literal["auto"] = "logistic"
    drop: tuple[str, ...] = ()
    test_fraction: float = 0.2
    cv_splits: int = 3
    clip: tuple[float, float] = (0.01, 0.99)
    threshold_rule: ThresholdRule = field(default_factory=ThresholdRule)
    scoring: str = "roc_auc"
    param_grid: Mapping[str, Sequence[Any]] | None = None
    random_state: int = 0

    def __post_init__(self) -> None:
        if self.estimator not in (AUTO, *ESTIMATORS):
            raise ValueError(f"estimator {self.estimator!r}; expected one of "
                             f"{(AUTO, *ESTIMATORS)}")
        if self.estimator == AUTO and self.param_grid is not None:
            raise ValueError("a parameter grid belongs to one estimator, not to auto")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be within (0, 1), got {self.test_fraction}")
        if self.cv_splits < 2:
            raise ValueError(f"cv_splits must be >= 2, got {self.cv_splits}")


@dataclass(frozen=True, kw_only=True)
class TrainingReport:
    """What happened: held-out metrics, the chosen parameters and threshold, the split.

    ``validation_rows`` counts the out-of-fold scores the threshold was chosen on (0: too
    few of both labels, the default 0.5 was kept). ``skill`` is the held-out log loss's
    gain over predicting the training base rate (``baseline_log_loss``); at 0 or below
    the model is no better than that constant. ``comparison`` holds each estimator's
    best cross-validated score when ``auto`` chose among them (None: every fold failed).
    """

    metrics: dict[str, float]
    threshold: float
    threshold_rule: str
    validation_rows: int
    best_params: dict[str, Any]
    cv_score: float
    scoring: str
    train_rows: int
    test_rows: int
    time_ordered: bool
    folds: str
    test_from: datetime | None
    seconds: float
    estimator: str
    skill: float
    baseline_log_loss: float
    comparison: dict[str, float | None] = field(default_factory=dict)
    dropped: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["test_from"] = self.test_from.isoformat() if self.test_from else None
        return out


def _search(name: EstimatorName, config: TrainingConfig, schema: Any, folds: BaseCrossValidator,
            X: np.ndarray, y: np.ndarray, stage: Callable[[str], None],
            of: int) -> GridSearchCV:
    grid = dict(config.param_grid or PARAM_GRIDS[name])
    candidates, splits = len(ParameterGrid(grid)), folds.get_n_splits()
    stage(f"searching {name}{f' (of {of} estimators)' if of > 1 else ''}: {candidates} "
          f"settings x {splits} folds = {candidates * splits} fits on {len(y)} rows")
    search = GridSearchCV(
        build_pipeline(schema, estimator=name, clip=config.clip,
                       random_state=config.random_state),
        grid,
        scoring=config.scoring,
        cv=folds,
        error_score=np.nan,  # a fold holding one class only should not end the search
    )
    return search.fit(X, y)


def _serving_only(pipeline: Any) -> Any:
    """``pipeline`` without what only further training reads. A fitted MLPClassifier
    keeps its Adam optimizer, two more copies of every weight and one more type an
    artifact's loader would have to trust; scoring never reads it."""
    model = pipeline.named_steps["model"]
    if getattr(model, "_optimizer", None) is not None:
        model._optimizer = None  # noqa: SLF001 - scikit-learn's own attribute, see above
    return pipeline


def train(
    rows: Sequence[TrainingRow] | Sequence[tuple[Any, ...]],
    *,
    model: str,
    version: int = 1,
    config: TrainingConfig | None = None,
    lineage: Sequence[TopicRange] = (),
    now: datetime | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> tuple[ModelBundle, TrainingReport]:
    """Train, evaluate on held-out data and package a model.

    ``on_stage`` hears each stage as it begins, in words (the search with its number
    of fits: the long part).

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> rows = [({"x": float(i % 7), "c": "ab"[i % 2]}, int(i % 7 > 3), t0 + timedelta(i))
    ...         for i in range(60)]
    >>> bundle, report = train(rows, model="demo")
    >>> report.time_ordered, report.test_rows, bundle.version, report.threshold_rule
    (True, 12, 1, 'f1')
    """
    started = time.perf_counter()
    config = config or TrainingConfig()
    data = _checked([TrainingRow(*r) for r in rows])
    ordered = all(r.ts is not None for r in data)
    train_rows, test_rows = _split(data, config, ordered)
    schema = infer_schema([r.features for r in train_rows], drop=config.drop)
    if not schema.features:
        raise TrainingDataError("no features left to train on after dropping " f"{config.drop}")
    X_train = vectorise(schema, [r.features for r in train_rows])
    y_train = np.array([r.label for r in train_rows])
    folds = _folds(config, ordered)
    stage = on_stage or (lambda _: None)
    names: tuple[EstimatorName, ...] = ESTIMATORS if config.estimator == AUTO else \
        (config.estimator,)
    searches: dict[str, GridSearchCV] = {
        name: _search(name, config, schema, folds, X_train, y_train, stage, len(names))
        for name in names}
    comparison: dict[str, float | None] = {
        name: float(found.best_score_) if np.isfinite(found.best_score_) else None
        for name, found in searches.items()}
    scored = {name: score for name, score in comparison.items() if score is not None}
    if not scored:
        raise TrainingDataError(
            "every cross-validation fold failed; is there enough data of both labels?"
        )
    chosen = max(scored, key=lambda name: scored[name])
    search = searches[chosen]
    pipeline = _serving_only(search.best_estimator_)
    stage(f"choosing the decision threshold on out-of-fold scores "
          f"({folds.get_n_splits()} more fits)")
    y_val, val_scores = _out_of_fold(pipeline, folds, X_train, y_train)
    threshold = (choose_threshold(y_val, val_scores, config.threshold_rule)
                 if y_val.size else DEFAULT_THRESHOLD)
    stage(f"evaluating on {len(test_rows)} held-out rows")
    scores = pipeline.predict_proba(vectorise(schema, [r.features for r in test_rows]))[:, 1]
    y_test = np.array([r.label for r in test_rows])
    metrics = evaluate(y_test, scores, threshold=threshold)
    baseline = base_rate_log_loss(float(np.mean(y_train)), y_test)
    best_params = {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
    bundle = ModelBundle(
        pipeline=pipeline, schema=schema,
        reference=reference_stats(schema, [r.features for r in train_rows], scores),
        metrics=metrics, lineage=tuple(lineage), model=model, version=version,
        created_at=now or datetime.now(UTC), threshold=threshold,
        params={"estimator": chosen, **best_params,
                "threshold_rule": str(config.threshold_rule)},
    )
    report = TrainingReport(
        metrics=metrics, threshold=threshold, threshold_rule=str(config.threshold_rule),
        validation_rows=int(y_val.size), best_params=best_params,
        cv_score=float(search.best_score_),
        scoring=config.scoring, train_rows=len(train_rows), test_rows=len(test_rows),
        time_ordered=ordered, folds=type(folds).__name__,
        test_from=test_rows[0].ts if ordered else None,
        seconds=time.perf_counter() - started, estimator=chosen,
        skill=skill(metrics["log_loss"], baseline), baseline_log_loss=baseline,
        comparison=comparison if config.estimator == AUTO else {}, dropped=schema.dropped,
    )
    logger.info("trained model=%s version=%d rows=%d seconds=%.1f threshold=%.4f (%s) %s",
                model, version, len(data), report.seconds, threshold, config.threshold_rule,
                " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return bundle, report


def _checked(rows: list[TrainingRow]) -> list[TrainingRow]:
    if len(rows) < MIN_ROWS:
        raise TrainingDataError(f"{len(rows)} rows; at least {MIN_ROWS} are needed to train")
    for i, row in enumerate(rows):
        if row.label not in (0, 1):
            raise TrainingDataError(f"row {i}: label is {row.label!r}; expected 0 or 1")
    if len({r.label for r in rows}) < 2:
        raise TrainingDataError(f"every row has label {rows[0].label}; both 0 and 1 are needed")
    timed = [r.ts is not None for r in rows]
    if any(timed) and not all(timed):
        i = timed.index(False)
        raise TrainingDataError(
            f"row {i} has no timestamp while others have one; "
            "give every row a time or none, so the split can be chronological"
        )
    return rows


def _split(
    rows: list[TrainingRow], config: TrainingConfig, ordered: bool
) -> tuple[list[TrainingRow], list[TrainingRow]]:
    n_test = max(1, round(len(rows) * config.test_fraction))
    if ordered:
        chronological = sorted(rows, key=lambda r: r.ts)  # type: ignore[arg-type, return-value]
        return chronological[:-n_test], chronological[-n_test:]
    labels = [r.label for r in rows]
    train_idx, test_idx = train_test_split(
        np.arange(len(rows)), test_size=n_test, stratify=labels, random_state=config.random_state
    )
    return [rows[i] for i in train_idx], [rows[i] for i in test_idx]


def _out_of_fold(estimator: Any, folds: BaseCrossValidator, X: np.ndarray,
                 y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of every validation fold, each scored by a copy of ``estimator``
    fitted on its own training folds only (a fold whose training part holds one label is
    skipped)."""
    labels, scores = [], []
    for fit_idx, val_idx in folds.split(X, y):
        if np.unique(y[fit_idx]).size < 2:
            continue
        fitted = clone(estimator).fit(X[fit_idx], y[fit_idx])
        labels.append(y[val_idx])
        scores.append(fitted.predict_proba(X[val_idx])[:, 1])
    if not labels:
        return np.empty(0, dtype=np.int64), np.empty(0)
    return np.concatenate(labels), np.concatenate(scores)


def _folds(config: TrainingConfig, ordered: bool) -> BaseCrossValidator:
    if ordered:
        return TimeSeriesSplit(n_splits=config.cv_splits)
    return StratifiedKFold(n_splits=config.cv_splits, shuffle=True,
                           random_state=config.random_state)


__all__ = ["PARAM_GRIDS", "TrainingConfig", "TrainingReport", "TrainingRow", "train"]
