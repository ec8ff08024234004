"""Turn a ``model-versions`` record into a model the processor may serve, or refuse it."""

from __future__ import annotations

from contracts.records import ModelVersion
from scorer.artifact import load_version
from scorer.bundle import ModelBundle
from scorer.signing import TrustedKeys
from stream_processors.model_watcher import Loader
from stream_processors.serving_state import ServingState


def artifact_loader(keys: TrustedKeys) -> Loader:
    """A loader that checks signature, hash, version order and schema before loading.

    A new version must be newer than every version seen (an old artifact replayed is
    refused) and fed by the features the serving champion is fed by.
    """

    def load(record: ModelVersion, state: ServingState) -> ModelBundle:
        champion = state.model_for("champion")
        expected = champion.schema.kinds() if isinstance(champion, ModelBundle) else None
        return load_version(record, keys, serving_version=state.newest_version or None,
                            expected_features=expected)

    return load
