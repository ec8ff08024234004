"""Turn a ``model-versions`` record into a model the processor may serve, or refuse it."""

from __future__ import annotations

from contracts.records import ModelVersion
from scorer.artifact import load_artifact
from scorer.bundle import ModelBundle
from scorer.exceptions import MalformedArtifact
from stream_processors.model_watcher import Loader
from stream_processors.serving_state import ServingState


def artifact_loader(key: bytes) -> Loader:
    """A loader that checks hash, signature, version order and schema before loading.

    A new version must be newer than every version seen (an old artifact replayed is
    refused) and fed by the features the serving champion is fed by.
    """

    def load(record: ModelVersion, state: ServingState) -> ModelBundle:
        champion = state.model_for("champion")
        expected = champion.schema.kinds() if isinstance(champion, ModelBundle) else None
        bundle = load_artifact(
            record.artifact, record.sha256, record.signature, key,
            serving_version=state.newest_version or None,
            expected_features=expected,
        )
        if (bundle.model, bundle.version) != (record.model, record.version):
            raise MalformedArtifact(
                f"the record says {record.model} version {record.version} but the signed "
                f"artifact holds {bundle.model} version {bundle.version}"
            )
        return bundle

    return load
