"""Plain-text tables of the registry for ``streamml models``: versions, one version, history."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

import msgspec

from contracts.change_point import ChangePoint, change_point_of
from contracts.records import Alert, Deployment, ModelVersion
from retrainer.lifecycle import describe, statuses
from scorer.artifact import METADATA_ENTRY, ArtifactMetadata
from scorer.registry import RegistryState

KEY_METRICS: Final = ("log_loss", "roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1")
MAX_METADATA_BYTES: Final = 4 * 1024 * 1024


def _when(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def version_lines(state: RegistryState, history: Sequence[Deployment]) -> list[str]:
    """One line per version: number, created, status, key metrics, decision threshold
    (precision, recall, F1 and accuracy are at that threshold), trigger.

    >>> version_lines(RegistryState(model="m", versions={}, deployment=None), [])
    ['no versions of m yet']
    """
    if not state.versions:
        return [f"no versions of {state.model} yet"]
    status = statuses(state.versions, state.deployment, history)
    widths = {m: max(len(m), 6) for m in (*KEY_METRICS, "threshold")}
    lines = [f"{'version':>7}  {'created (UTC)':<19}  {'status':<9}  "
             + "  ".join(f"{m:>{w}}" for m, w in widths.items()) + "  trigger"]
    for number, record in sorted(state.versions.items()):
        values = {**record.metrics, "threshold": record.threshold}
        figures = "  ".join(f"{values[m]:>{w}.4f}" if m in values else f"{'-':>{w}}"
                            for m, w in widths.items())
        lines.append(f"{number:>7}  {_when(record.created_at):<19}  {status[number]:<9}  "
                     f"{figures}  {record.trigger}")
    return lines


def artifact_metadata(record: ModelVersion) -> ArtifactMetadata | None:
    """The JSON metadata inside an artifact, read without loading the model (None if unreadable)."""
    try:
        with zipfile.ZipFile(io.BytesIO(record.artifact)) as archive:
            info = archive.getinfo(METADATA_ENTRY)
            if info.file_size > MAX_METADATA_BYTES:
                return None
            return msgspec.json.decode(archive.read(info), type=ArtifactMetadata)
    except (zipfile.BadZipFile, KeyError, msgspec.DecodeError):
        return None


def show_lines(record: ModelVersion, status: str) -> list[str]:
    """Everything the registry knows of one version, lineage and decision included."""
    lines = [f"{record.model} version {record.version} ({status})",
             f"created:   {record.created_at.isoformat()}",
             f"trigger:   {record.trigger}",
             f"sha256:    {record.sha256}",
             "metrics:   " + ", ".join(f"{k}={v:.4f}" for k, v in sorted(record.metrics.items())),
             f"threshold: {record.threshold:.4f} (a score at or above it decides 1)",
             "lineage:   " + ("; ".join(f"{r.topic}[{r.partition}] offsets {r.first}-{r.last}"
                                        for r in record.lineage) or "none (trained on a file)")]
    meta = artifact_metadata(record) if record.artifact else None
    if meta is not None:
        lines.append("features:  " + ", ".join(f.name for f in meta.schema.features))
        for name in ("strategy", "estimator", "threshold_rule", "decision", "window",
                     "evaluations"):
            if name in meta.params:
                lines.append(f"{name + ':':<10} {msgspec.json.encode(meta.params[name]).decode()}")
    return lines


def history_lines(history: Sequence[Deployment]) -> list[str]:
    """Each deployment change, oldest first: when, what changed, who decided, why.

    >>> from datetime import UTC, datetime
    >>> d = Deployment(model="m", champion=1, decided_by="me", reason="first",
    ...                decided_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> history_lines([d])[1]
    '2026-01-01 00:00:00  champion v1  | by me | first'
    """
    if not history:
        return ["no deployment changes recorded"]
    lines = ["when (UTC)           change  | decided by | reason"]
    previous: Deployment | None = None
    for deployment in history:
        lines.append(f"{_when(deployment.decided_at)}  {describe(previous, deployment)}  "
                     f"| by {deployment.decided_by} | {deployment.reason}")
        previous = deployment
    return lines


_ALERT_IN_TRIGGER: Final = re.compile(r"\balert ([0-9a-f]{24})\b")


def alert_of(trigger: str) -> str | None:
    """The fingerprint of the alert a version's trigger names, if any."""
    found = _ALERT_IN_TRIGGER.search(trigger)
    return found.group(1) if found else None


def trigger_lines(versions: Mapping[int, ModelVersion], alerts: Sequence[Alert]) -> list[str]:
    """The versions an alert started, and where the change it reported began (from the
    alert's last firing record before the version, among ``alerts``); empty when no
    version was started by an alert.

    >>> from datetime import UTC, datetime
    >>> from contracts.change_point import change_point_details
    >>> t0 = datetime(2026, 1, 1, tzinfo=UTC)
    >>> fp = "0123456789abcdef01234567"
    >>> alert = Alert(fingerprint=fp, kind="concept_drift", severity="critical",
    ...               status="firing", model="m", version=1, metric="concept_drift",
    ...               value=0.2, threshold=0.1, window="", started_at=t0, runbook="",
    ...               details=change_point_details(ChangePoint(at=t0, source="adwin")))
    >>> v2 = ModelVersion(model="m", version=2, created_at=t0, artifact=b"", sha256="0" * 64,
    ...                   signature="0" * 64, feature_schema={}, metrics={}, lineage=[],
    ...                   trigger=f"alert: concept_drift alert {fp} (critical), round 1")
    >>> print("\\n".join(trigger_lines({2: v2}, [alert])))
    version  started by
          2  alert: concept_drift alert 0123456789abcdef01234567 (critical), round 1
             change began at 2026-01-01 00:00:00 (adwin)
    >>> trigger_lines({2: v2}, [])[2]
    '         change point unknown (not among the alerts read)'
    """
    started = [(n, r) for n, r in sorted(versions.items()) if alert_of(r.trigger)]
    if not started:
        return []
    lines = ["version  started by"]
    for number, record in started:
        change = _change_of(record, alerts)
        lines += [f"{number:>7}  {record.trigger}",
                  f"{'':>7}  change point unknown (not among the alerts read)" if change is None
                  else f"{'':>7}  change began at {_when(change.at)} ({change.source})"]
    return lines


def _change_of(record: ModelVersion, alerts: Sequence[Alert]) -> ChangePoint | None:
    fingerprint = alert_of(record.trigger)
    firing = [a for a in alerts if a.fingerprint == fingerprint and a.status == "firing"
              and a.started_at <= record.created_at]
    return change_point_of(firing[-1]) if firing else None


__all__ = ["alert_of", "artifact_metadata", "history_lines", "show_lines", "trigger_lines",
           "version_lines"]
