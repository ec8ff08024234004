"""In-memory stand-ins for the scoring tests: a model whose score is a known function."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from contracts.feature_summary import Summariser
from contracts.kafka_clients import KafkaRecord
from contracts.records import Deployment
from contracts.reference_stats import Reference
from scorer.exceptions import FeatureValueError
from stream_processors.serving_state import ServingState
from tests.signing_keys import SIGNER


class FakeModel:
    """Scores ``cart_value / 100`` (clipped), decides at 0.5; text in cart_value is refused."""

    def __init__(self, version: int, model: str = "conversion") -> None:
        self.version = version
        self.model = model
        self.batches: list[int] = []

    def score_batch(
        self, features: Sequence[dict[str, float | str | None]]
    ) -> tuple[np.ndarray, np.ndarray]:
        self.batches.append(len(features))
        values = []
        for row, f in enumerate(features):
            value = f.get("cart_value")
            if isinstance(value, str):
                raise FeatureValueError(f"feature `cart_value` of row {row} is text",
                                        row=row, feature="cart_value")
            values.append(0.0 if value is None else min(max(value / 100.0, 0.0), 1.0))
        scores = np.asarray(values, dtype=float)
        return scores, (scores >= 0.5).astype(np.int8)

    def score_explained(self, features: Sequence[dict[str, float | str | None]], k: int, *,
                        exhaustive: bool = False
                        ) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]] | None]:
        """No explanation: its score is not a logit, as a model that is not linear."""
        return (*self.score_batch(features), None)


def deployment(champion: int = 1, **changes: object) -> Deployment:
    """A signed deployment, decided a second after the one made before it."""
    decided_at = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(_DECISIONS))
    return SIGNER.sign(Deployment(model="conversion", champion=champion, decided_by="test",
                                  reason="test", decided_at=decided_at, **changes))  # type: ignore[arg-type]


_DECISIONS = itertools.count()


def event_bytes(event_id: str, user_id: str = "u1", cart_value: object = 50.0) -> bytes:
    return json.dumps({
        "schema_version": 1, "event_id": event_id, "user_id": user_id,
        "ts": "2026-06-01T12:00:00Z", "features": {"cart_value": cart_value, "device": "mobile"},
    }).encode()


def record(value: bytes | None, offset: int = 0, key: bytes | None = None,
           partition: int = 0) -> KafkaRecord:
    """A message as the processor reads it, keyed by its user_id unless told otherwise."""
    if key is None:
        try:
            key = json.loads(value or b"")["user_id"].encode()
        except (ValueError, KeyError, TypeError):
            key = b"u1"
    return KafkaRecord(topic="user-events", partition=partition, offset=offset, key=key,
                       value=value, timestamp_ms=0)


REFERENCE = Reference.from_json(
    b'{"rows": 10, "numeric": {"cart_value": {"histogram": {"edges": [20.0], "frequencies": '
    b'[0.5, 0.5]}, "quantiles": [0.0, 20.0, 100.0], "missing_rate": 0.0}}, "categorical": '
    b'{}, "scores": {"edges": [], "frequencies": [1.0]}}')


def summarising_state(**changes: object) -> ServingState:
    state = ServingState()
    for version in (1, 2, 3):
        state = state.with_model(FakeModel(version), Summariser("conversion", version, REFERENCE))
    return state.with_deployment(deployment(1, **changes))
