"""What every reader of ``model-versions`` checks before applying a record.

A version or deployment is used only when signed by a trusted key; a deployment
must also be decided after the one applied before it, so an old pointer (signed,
but replayed) cannot move the champion back. A refused record becomes a critical
``model-refused`` alert naming the reason.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec

from contracts.records import Alert, Deployment
from scorer.exceptions import ReplayedDeployment
from scorer.signing import TrustedKeys

_ENCODER = msgspec.json.Encoder()


class DeploymentGuard:
    """Verifies deployments and keeps the decision time of the last one applied.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from scorer.signing import Signer
    >>> signer = Signer.generate()
    >>> guard = DeploymentGuard(signer.trusted())
    >>> d = signer.sign(Deployment(model="m", champion=2, decided_by="me", reason="r",
    ...                            decided_at=datetime(2026, 1, 2, tzinfo=UTC)))
    >>> guard.applied(guard.check(d)).champion
    2
    >>> try:
    ...     guard.check(d)
    ... except ReplayedDeployment as exc:
    ...     print(exc.code)
    replayed-deployment
    """

    def __init__(self, keys: TrustedKeys) -> None:
        self.keys = keys
        self.applied_at: datetime | None = None

    def check(self, deployment: Deployment) -> Deployment:
        """``deployment`` if signed by a trusted key and newer than the last applied."""
        self.keys.verify(deployment)
        if self.applied_at is not None and deployment.decided_at <= self.applied_at:
            raise ReplayedDeployment(
                f"the deployment of {deployment.model} decided at "
                f"{deployment.decided_at.isoformat()} is not newer than the one applied "
                f"(decided at {self.applied_at.isoformat()}); an old deployment is not "
                "applied again"
            )
        return deployment

    def applied(self, deployment: Deployment) -> Deployment:
        self.applied_at = deployment.decided_at
        return deployment


def refusal_alert(name: str, code: str, message: str, *, now: datetime | None = None) -> Alert:
    """The critical alert saying registry record ``name`` was refused, and why.

    >>> refusal_alert("m/deployment", "unsigned", "no signature").fingerprint[:8]
    'e6ae3d87'
    """
    fingerprint = hashlib.sha256(f"model-refused/{name}/{code}".encode()).hexdigest()[:32]
    version = name.rpartition("/")[2]
    return Alert(
        fingerprint=fingerprint, kind="model-refused", severity="critical", status="firing",
        model=name.split("/", 1)[0], version=int(version) if version.isdigit() else None,
        metric="model_refusals", value=1.0, threshold=0.0, window="record",
        details={"reason": msgspec.Raw(_ENCODER.encode(code)),
                 "message": msgspec.Raw(_ENCODER.encode(message)),
                 "key": msgspec.Raw(_ENCODER.encode(name))},
        started_at=now or datetime.now(UTC), runbook="README.md#a-model-was-refused",
    )


__all__ = ["DeploymentGuard", "refusal_alert"]
