"""The records each topic carries, as typed, frozen structs.

Every record carries ``schema_version`` so readers can refuse what they do not
understand. Timestamps are timezone-aware datetimes, encoded as RFC 3339 strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

import msgspec

SCHEMA_VERSION: Final = 1

MAX_ID_LENGTH = 128
MAX_FEATURES = 256
MAX_FEATURE_NAME_LENGTH = 64
MAX_STRING_VALUE_LENGTH = 256
MAX_DETAILS_LENGTH = 4096

# Which characters an event or user id may hold is checked after decoding
# (contracts.decoding), where one str method does it faster than a pattern.
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH)]
FeatureName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_FEATURE_NAME_LENGTH)]
FeatureValue = float | Annotated[str, msgspec.Meta(max_length=MAX_STRING_VALUE_LENGTH)] | None
Features = Annotated[dict[FeatureName, FeatureValue], msgspec.Meta(max_length=MAX_FEATURES)]
Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
Route = Literal["champion", "canary", "shadow"]
# Registry records are signed (Ed25519, base64) by the key named by its id; empty
# values decode so that an unsigned record is refused as unsigned, not as malformed.
KeyId = Annotated[str, msgspec.Meta(max_length=16)]
SignatureText = Annotated[str, msgspec.Meta(max_length=128)]
# Naive times are refused when decoding: a time without a zone means nothing on a topic.
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]


class Record(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Fields every record shares."""

    schema_version: Literal[1] = SCHEMA_VERSION


class UserEvent(Record, frozen=True, kw_only=True):
    """One user-behaviour event, as applications send it to ``user-events``.

    >>> from datetime import UTC, datetime
    >>> e = UserEvent(event_id="e1", user_id="u1", ts=datetime(2026, 1, 1, tzinfo=UTC),
    ...               features={"cart_value": 12.5, "device": "mobile", "coupon": None})
    >>> e.features["device"]
    'mobile'
    """

    event_id: Identifier
    user_id: Identifier
    ts: Timestamp
    features: Features


class Label(Record, frozen=True, kw_only=True):
    """The outcome of an earlier event, sent to ``labels`` when it is known."""

    event_id: Identifier
    user_id: Identifier
    ts: Timestamp
    label: Annotated[int, msgspec.Meta(ge=0, le=1)]


class Prediction(Record, frozen=True, kw_only=True):
    """The answer to one event, on ``predictions``."""

    event_id: Identifier
    user_id: Identifier
    ts: Timestamp
    model: Identifier
    version: Annotated[int, msgspec.Meta(ge=1)]
    route: Route
    score: Probability
    decision: Annotated[int, msgspec.Meta(ge=0, le=1)]
    scored_at: Timestamp
    # With STREAMML_EXPLAIN_TOP_K: the largest feature terms of the logit, largest first.
    # Left out of the JSON when unset, so records without it are what they always were.
    contributions: Annotated[dict[FeatureName, float], msgspec.Meta(max_length=64)] | \
        msgspec.UnsetType = msgspec.UNSET


class LabeledEvent(Record, frozen=True, kw_only=True):
    """An event joined with its label and the score it was given, on ``labeled-events``."""

    event_id: Identifier
    user_id: Identifier
    features: Features
    label: Annotated[int, msgspec.Meta(ge=0, le=1)]
    score: Probability
    version: Annotated[int, msgspec.Meta(ge=1)]
    ts: Timestamp


# Events a summary holds at most: the grain of the monitor's data-drift window, which
# slides by blocks of at least its stride (100 events by default).
SUMMARY_EVENTS: Final = 100
# Labeled events one outcomes record holds at most: about 70 KiB of JSON, and at most
# 600 KiB with every id 128 characters of 4 bytes, under the 1 MiB a reader accepts
# (Kafka's default largest message).
MAX_OUTCOMES: Final = 1000
MAX_OUTCOMES_BYTES: Final = 1024 * 1024
# A column of numbers as bytes (contracts.packed): at most eight bytes a number.
Packed = Annotated[bytes, msgspec.Meta(max_length=8 * MAX_OUTCOMES)]


class LabeledOutcomes(Record, frozen=True, kw_only=True):
    """What the monitor reads of a run of labeled events the joiner wrote to one
    ``labeled-events`` partition: each one's id, version, label, score and event time
    (epoch seconds), in the order written, without the features (``labeled-outcomes``).

    ``first_offset`` and ``last_offset`` bound the run's offsets; when ``consecutive``,
    event ``i`` is at ``first_offset + i`` (the joiner was the partition's one writer
    meanwhile), otherwise only the bounds are known. The four number columns are JSON
    arrays or packed (:mod:`contracts.packed`), which the joiner writes.
    """

    partition: Annotated[int, msgspec.Meta(ge=0)]
    first_offset: Annotated[int, msgspec.Meta(ge=0)]
    last_offset: Annotated[int, msgspec.Meta(ge=0)]
    consecutive: bool
    event_ids: Annotated[list[Identifier], msgspec.Meta(min_length=1, max_length=MAX_OUTCOMES)]
    versions: Annotated[list[Annotated[int, msgspec.Meta(ge=1)]],
                        msgspec.Meta(max_length=MAX_OUTCOMES)] | Packed
    labels: Annotated[list[Annotated[int, msgspec.Meta(ge=0, le=1)]],
                      msgspec.Meta(max_length=MAX_OUTCOMES)] | Packed
    scores: Annotated[list[Probability], msgspec.Meta(max_length=MAX_OUTCOMES)] | Packed
    ts: Annotated[list[float], msgspec.Meta(max_length=MAX_OUTCOMES)] | Packed


# A feature summary's bins: the reference's histogram and percentile grid (at most 102
# cells), or its categories.
MAX_SUMMARY_BINS = 4096
MAX_UNSEEN_NAMES = 10
Count = Annotated[int, msgspec.Meta(ge=0)]
Bins = Annotated[list[Count], msgspec.Meta(max_length=MAX_SUMMARY_BINS)]
# A feature summary's counts: a JSON array, or packed a byte each (contracts.packed),
# which the processor writes.
BinCounts = Bins | Annotated[bytes, msgspec.Meta(max_length=MAX_SUMMARY_BINS)]


class NumericCounts(msgspec.Struct, frozen=True, forbid_unknown_fields=True,
                    array_like=True):
    """One numeric feature: counts over the reference's histogram bins (``coarse``) and
    percentile grid (``fine``), values missing, and the sum of those present."""

    coarse: BinCounts
    fine: BinCounts
    missing: Count
    total: float


class CategoricalCounts(msgspec.Struct, frozen=True, forbid_unknown_fields=True,
                        array_like=True):
    """One categorical feature: counts of each reference category in its order, values
    missing, values the reference never saw, and a few of those by name."""

    counts: BinCounts
    missing: Count
    unseen: Count
    names: Annotated[dict[Annotated[str, msgspec.Meta(max_length=MAX_STRING_VALUE_LENGTH)],
                          Count], msgspec.Meta(max_length=MAX_UNSEEN_NAMES)]


class RunSummary(Record, frozen=True, kw_only=True):
    """What every summary of a run of consecutive events of one ``user-events``
    partition (offsets ``first_offset`` to ``last_offset``) says of it: one version's,
    ``events`` of them, at event times ``start`` to ``end``."""

    model: Identifier
    version: Annotated[int, msgspec.Meta(ge=1)]
    partition: Annotated[int, msgspec.Meta(ge=0)]
    first_offset: Annotated[int, msgspec.Meta(ge=0)]
    last_offset: Annotated[int, msgspec.Meta(ge=0)]
    events: Annotated[int, msgspec.Meta(ge=1)]
    start: Timestamp
    end: Timestamp


class FeatureSummary(RunSummary, frozen=True, kw_only=True):
    """A run's events folded against one version's reference, on ``feature-summaries``."""

    numeric: Annotated[dict[FeatureName, NumericCounts], msgspec.Meta(max_length=MAX_FEATURES)]
    categorical: Annotated[dict[FeatureName, CategoricalCounts],
                           msgspec.Meta(max_length=MAX_FEATURES)]


class ScoreCells(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """Predictions by cell: decision times ``SCORE_BINS`` plus the score's bin on a uniform
    grid over [0, 1] (:mod:`contracts.prediction_summary`). Only cells holding any are
    listed, each once and in order, with their counts and the sums of their scores."""

    cells: Annotated[list[Count], msgspec.Meta(max_length=MAX_SUMMARY_BINS)]
    counts: Bins
    sums: Annotated[list[float], msgspec.Meta(max_length=MAX_SUMMARY_BINS)]


class TermTally(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """How often a feature was among explained predictions' largest terms, and the sum of
    its terms' sizes then."""

    count: Count
    size: Annotated[float, msgspec.Meta(ge=0.0)]


class PredictionSummary(RunSummary, frozen=True, kw_only=True):
    """A run's predictions by one version on one route, counted on fixed grids, on
    ``prediction-summaries``; ``scores`` counts over the version's reference score bins
    (empty without one)."""

    route: Route
    latency: Bins
    latency_total: Annotated[float, msgspec.Meta(ge=0.0)]
    table: ScoreCells
    scores: Bins
    explained: Count = 0
    terms: Annotated[dict[FeatureName, TermTally], msgspec.Meta(max_length=MAX_FEATURES)] = {}


class TopicRange(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Offsets ``[first, last]`` of one partition a model was trained on."""

    topic: str
    partition: Annotated[int, msgspec.Meta(ge=0)]
    first: Annotated[int, msgspec.Meta(ge=0)]
    last: Annotated[int, msgspec.Meta(ge=0)]


class ModelVersion(Record, frozen=True, kw_only=True):
    """A model artifact on ``model-versions``, keyed ``<model>/<version>``.

    ``signature`` covers every other field, the artifact bytes included (see
    ``scorer.signing``).

    ``threshold`` is the decision threshold the version serves with (a score at or above
    it decides 1); records from before thresholds were chosen lack it and mean 0.5.
    """

    model: Identifier
    version: Annotated[int, msgspec.Meta(ge=1)]
    created_at: Timestamp
    artifact: bytes
    sha256: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
    feature_schema: dict[str, msgspec.Raw]
    metrics: dict[str, float]
    lineage: list[TopicRange]
    trigger: str = "manual"
    threshold: Probability = 0.5
    key_id: KeyId = ""
    signature: SignatureText = ""


class Deployment(Record, frozen=True, kw_only=True):
    """Which version serves which route, on ``model-versions`` keyed ``<model>/deployment``
    (and ``<model>/audit/...``); signed as a :class:`ModelVersion` is."""

    model: Identifier
    champion: Annotated[int, msgspec.Meta(ge=1)]
    canary: Annotated[int, msgspec.Meta(ge=1)] | None = None
    canary_fraction: Probability = 0.0
    shadow: Annotated[int, msgspec.Meta(ge=1)] | None = None
    decided_by: str
    reason: str
    decided_at: Timestamp
    key_id: KeyId = ""
    signature: SignatureText = ""


class Alert(Record, frozen=True, kw_only=True):
    """A firing or resolved alert on ``alerts``, keyed by its fingerprint.

    Signed (``key_id``, ``signature``) by the monitor or the retrainer that wrote it.
    """

    fingerprint: Identifier
    kind: str
    severity: Literal["info", "warning", "critical"]
    status: Literal["firing", "resolved"]
    model: str
    version: int | None
    metric: str
    value: float | None
    threshold: float | None
    window: str
    details: dict[str, msgspec.Raw]
    started_at: Timestamp
    runbook: str
    key_id: KeyId = ""
    signature: SignatureText = ""


class DeadLetter(Record, frozen=True, kw_only=True):
    """A record that could not be processed, with what went wrong and where it came from."""

    error: Annotated[str, msgspec.Meta(max_length=MAX_DETAILS_LENGTH)]
    reason: str
    stage: str
    original: bytes
    source_topic: str
    source_partition: int
    source_offset: int
    at: Timestamp
