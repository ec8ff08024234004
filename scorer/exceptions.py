"""Errors the scorer raises on purpose, each carrying a short ``code`` safe as a metric label."""

from __future__ import annotations

from contracts.exceptions import StreamMLError


class ScorerError(StreamMLError):
    """Base class of the scorer's errors; ``code`` is a short, fixed reason."""

    code = "scorer-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FeatureValueError(ScorerError, ValueError):
    """An event carries a value of the wrong type for a feature of the model."""

    code = "bad-feature-value"

    def __init__(self, message: str, *, row: int, feature: str) -> None:
        super().__init__(message)
        self.row = row
        self.feature = feature


class UnexplainableModel(ScorerError):
    """The model has more features than an exact explanation can enumerate."""

    code = "too-many-features"


class TrainingDataError(ScorerError, ValueError):
    """A training file or row set cannot be used; the message names the line or column."""

    code = "bad-training-data"


class ArtifactRejected(ScorerError):
    """A model artifact was refused; the serving model stays. Subclasses name the reason."""

    code = "rejected"


class MissingDependency(ArtifactRejected):
    """The version needs a package this process does not have (pandas, for an imported
    pipeline); it is refused at load rather than failing on its first batch."""

    code = "missing-dependency"


class ArtifactTooLarge(ArtifactRejected):
    code = "oversize"


class ArtifactTampered(ArtifactRejected):
    code = "tampered"


class BadSignature(ArtifactRejected):
    code = "bad-signature"


class UnsignedRecord(BadSignature):
    """A model or registry record carrying no signature."""

    code = "unsigned"


class UnknownSigningKey(BadSignature):
    """Signed by a key none of the trusted public keys matches."""

    code = "unknown-key"


class ReplayedDeployment(ArtifactRejected):
    """A deployment decided no later than the one already applied."""

    code = "replayed-deployment"


class ZipBombSuspected(ArtifactRejected):
    code = "zip-bomb"


class MalformedArtifact(ArtifactRejected):
    code = "malformed"


class UnsafeTree(MalformedArtifact):
    """A signed tree model whose arrays would send scikit-learn's native code out of bounds."""

    code = "unsafe-tree"


class ReplayedVersion(ArtifactRejected):
    code = "replayed-version"


class SchemaMismatch(ArtifactRejected):
    code = "schema-mismatch"


class UntrustedTypes(ArtifactRejected):
    code = "untrusted-type"

    def __init__(self, message: str, *, types: list[str]) -> None:
        super().__init__(message)
        self.types = types


class RegistryError(ScorerError):
    """The model registry topic could not be read or written."""

    code = "registry-error"


__all__ = [
    "ArtifactRejected",
    "ArtifactTampered",
    "ArtifactTooLarge",
    "BadSignature",
    "FeatureValueError",
    "MalformedArtifact",
    "MissingDependency",
    "RegistryError",
    "ReplayedDeployment",
    "ReplayedVersion",
    "SchemaMismatch",
    "ScorerError",
    "TrainingDataError",
    "UnknownSigningKey",
    "UnsafeTree",
    "UnsignedRecord",
    "UntrustedTypes",
    "ZipBombSuspected",
]
