"""The served versions and their training reference, read from ``model-versions``.

The reference statistics travel as JSON inside each version record, and are decoded
into :mod:`contracts.reference_stats`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final

import msgspec

from contracts.records import Deployment, ModelVersion
from contracts.reference_stats import Reference

logger = logging.getLogger(__name__)

# A registry holds every version ever published; only the newest few can be served.
MAX_VERSIONS_KEPT: Final = 16


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """What the monitor needs of one version: its reference, held-out metrics and the
    decision threshold it serves with."""

    model: str
    version: int
    reference: Reference | None
    metrics: dict[str, float]
    threshold: float = 0.5


_VERSION: Final = msgspec.json.Decoder(ModelVersion)
_DEPLOYMENT: Final = msgspec.json.Decoder(Deployment)


def version_info(record: ModelVersion) -> VersionInfo:
    """The reference and metrics of a ``model-versions`` record (reference None if unreadable)."""
    raw = record.feature_schema.get("reference")
    reference = None
    if raw is not None:
        try:
            reference = Reference.from_json(bytes(raw))
        except msgspec.DecodeError as exc:
            logger.warning("version=%d has an unreadable reference: %s", record.version, exc)
    return VersionInfo(record.model, record.version, reference, dict(record.metrics),
                       record.threshold)


@dataclass
class Registry:
    """Versions and deployment of one model, folded from ``model-versions`` records in order.

    Examples
    --------
    >>> reg = Registry(model="m")
    >>> reg.apply(b"other/1", b"{}"), reg.served()
    (False, {})
    """

    model: str
    versions: dict[int, VersionInfo] = field(default_factory=dict)
    deployment: Deployment | None = None

    def apply(self, key: bytes | None, value: bytes | None) -> bool:
        """Fold one record; True when it concerned this model. Bad records are logged."""
        name, _, suffix = (key or b"").decode(errors="replace").rpartition("/")
        if name != self.model:
            return False
        try:
            if suffix == "deployment":
                self.deployment = _DEPLOYMENT.decode(value) if value else None
            elif suffix.isdigit() and not value:  # a tombstone deletes the version
                self.versions.pop(int(suffix), None)
            elif suffix.isdigit() and value:
                self._keep(version_info(_VERSION.decode(value)))
        except msgspec.DecodeError as exc:
            logger.warning("skipped model-versions record key=%s: %s", key, exc)
        return True

    def _keep(self, info: VersionInfo) -> None:
        self.versions[info.version] = info
        while len(self.versions) > MAX_VERSIONS_KEPT:
            del self.versions[min(self.versions)]

    def served(self) -> dict[str, int]:
        """Route -> version now served; the newest version stands in before a deployment."""
        d = self.deployment
        if d is None:
            return {"champion": max(self.versions)} if self.versions else {}
        routes = {"champion": d.champion, "canary": d.canary, "shadow": d.shadow}
        return {route: v for route, v in routes.items() if v is not None}

    def reference(self, version: int) -> Reference | None:
        info = self.versions.get(version)
        return info.reference if info else None

    def metrics(self, version: int) -> dict[str, float]:
        info = self.versions.get(version)
        return info.metrics if info else {}

    def threshold(self, version: int) -> float | None:
        """The version's decision threshold (None: its record has not been read)."""
        info = self.versions.get(version)
        return info.threshold if info else None


__all__ = [
    "Registry",
    "VersionInfo",
    "version_info",
]
