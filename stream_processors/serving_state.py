"""Which model versions a processor holds and which one serves each route.

A :class:`ServingState` is immutable: the model watcher builds a new one for every
record on ``model-versions`` and swaps a single reference, so the scoring loop reads
one consistent state per batch without locks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from contracts.feature_summary import Summariser
from contracts.records import Deployment, Route

KEPT_VERSIONS = 5


class ScoringModel(Protocol):
    """What the processor needs of a model: its identity and vectorised scoring."""

    @property
    def model(self) -> str: ...

    @property
    def version(self) -> int: ...

    def score_batch(
        self, features: Sequence[Mapping[str, float | str | None]]
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def score_explained(self, features: Sequence[Mapping[str, float | str | None]], k: int, *,
                        exhaustive: bool = False
                        ) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]] | None]: ...


@dataclass(frozen=True)
class ServingState:
    """Loaded versions (the newest few, for an instant rollback) and the deployment.

    >>> ServingState().ready
    False
    """

    models: dict[int, ScoringModel] = field(default_factory=dict)
    deployment: Deployment | None = None
    summarisers: dict[int, Summariser] = field(default_factory=dict)

    @property
    def newest_version(self) -> int:
        return max(self.models, default=0)

    @property
    def ready(self) -> bool:
        return self.deployment is not None and self.deployment.champion in self.models

    def champion(self) -> ScoringModel:
        """The champion model; a :class:`LookupError` before one is loaded."""
        if self.deployment is None or self.deployment.champion not in self.models:
            raise LookupError("no champion model is loaded yet")
        return self.models[self.deployment.champion]

    def model_for(self, route: Route) -> ScoringModel | None:
        if self.deployment is None:
            return None
        version = {
            "champion": self.deployment.champion,
            "canary": self.deployment.canary,
            "shadow": self.deployment.shadow,
        }[route]
        return self.models.get(version) if version is not None else None

    def served_summarisers(self) -> list[Summariser]:
        """The summarisers of the versions some route serves."""
        return [self.summarisers[v] for v in sorted(self._pinned()) if v in self.summarisers]

    def with_model(self, model: ScoringModel,
                   summariser: Summariser | None = None) -> ServingState:
        """Add a loaded version (and what folds its feature summaries), dropping the
        oldest ones no route points at."""
        models = {**self.models, model.version: model}
        pinned = self._pinned()
        for version in sorted(models):
            if len(models) <= KEPT_VERSIONS:
                break
            if version not in pinned and version != model.version:
                del models[version]
        summarisers = {v: s for v, s in self.summarisers.items() if v in models}
        if summariser is not None:
            summarisers[model.version] = summariser
        return replace(self, models=models, summarisers=summarisers)

    def with_deployment(self, deployment: Deployment) -> ServingState:
        return replace(self, deployment=deployment)

    def missing_versions(self, deployment: Deployment) -> list[int]:
        """Versions a deployment names that this processor does not hold."""
        named = [deployment.champion, deployment.canary, deployment.shadow]
        return [v for v in named if v is not None and v not in self.models]

    def _pinned(self) -> set[int]:
        if self.deployment is None:
            return set()
        named = (self.deployment.champion, self.deployment.canary, self.deployment.shadow)
        return {v for v in named if v is not None}
