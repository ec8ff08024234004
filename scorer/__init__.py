"""The model bundle: fitted preprocessing and estimator, feature schema, reference statistics
and lineage; its signed, safe serialisation; vectorised batch scoring; canary routing.

The Kafka-facing parts (:mod:`scorer.publishing`, :mod:`scorer.registry`) import the
client only when they are called.
"""

from scorer.artifact import (
    TRUSTED_TYPES,
    ArtifactMetadata,
    SignedArtifact,
    dump_bundle,
    load_artifact,
    load_version,
    sign_bundle,
)
from scorer.bundle import ModelBundle
from scorer.datasets import TrainingRow, load_rows
from scorer.evaluation import evaluate
from scorer.exceptions import (
    ArtifactRejected,
    ArtifactTampered,
    ArtifactTooLarge,
    BadSignature,
    FeatureValueError,
    MalformedArtifact,
    RegistryError,
    ReplayedVersion,
    SchemaMismatch,
    ScorerError,
    TrainingDataError,
    UntrustedTypes,
    ZipBombSuspected,
)
from scorer.feature_schema import FeatureSchema, FeatureSpec, infer_schema
from scorer.imported import ImportReport, ModelImportError, import_pipeline
from scorer.preprocessing import QuantileClipper, build_pipeline, vectorise
from scorer.publishing import (
    deployment_record,
    model_version_record,
    publish,
    publish_as_champion,
)
from scorer.reference import ReferenceStats, reference_stats
from scorer.registry import RegistryState, fold_records, read_registry, reference_of, schema_of
from scorer.routing import Assignment, assign, bucket, group_by_assignment
from scorer.signing import Signer, TrustedKeys, signer_from, trusted_keys
from scorer.threshold import ThresholdRule, choose_threshold
from scorer.training import TrainingConfig, TrainingReport, train

__all__ = [
    "TRUSTED_TYPES",
    "ArtifactMetadata",
    "ArtifactRejected",
    "ArtifactTampered",
    "ArtifactTooLarge",
    "Assignment",
    "BadSignature",
    "FeatureSchema",
    "FeatureSpec",
    "FeatureValueError",
    "ImportReport",
    "MalformedArtifact",
    "ModelBundle",
    "ModelImportError",
    "QuantileClipper",
    "ReferenceStats",
    "RegistryError",
    "RegistryState",
    "ReplayedVersion",
    "SchemaMismatch",
    "ScorerError",
    "SignedArtifact",
    "Signer",
    "ThresholdRule",
    "TrainingConfig",
    "TrainingDataError",
    "TrainingReport",
    "TrainingRow",
    "TrustedKeys",
    "UntrustedTypes",
    "ZipBombSuspected",
    "assign",
    "bucket",
    "build_pipeline",
    "choose_threshold",
    "deployment_record",
    "dump_bundle",
    "evaluate",
    "fold_records",
    "group_by_assignment",
    "import_pipeline",
    "infer_schema",
    "load_artifact",
    "load_rows",
    "load_version",
    "model_version_record",
    "publish",
    "publish_as_champion",
    "read_registry",
    "reference_of",
    "reference_stats",
    "schema_of",
    "sign_bundle",
    "signer_from",
    "train",
    "trusted_keys",
    "vectorise",
]
