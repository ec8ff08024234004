"""``streamml models evaluate`` and ``models publish``: the retrainer's gate, offline, for CI.

A pipeline trains a candidate on a data snapshot (``streamml train --next-version``),
judges it on labeled rows it never saw against the serving champion (or a champion
artifact file) with the retrainer's own test (:func:`retrainer.challenge.judge`),
and publishes the very artifact it judged. The base rate the candidate must beat is
the evaluation rows' own, the best any constant prediction does on them: offline
there is no training window to take it from, and it is the stricter choice.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.exceptions import StreamMLError
from contracts.settings import Settings

if TYPE_CHECKING:
    from retrainer.challenge import Scored, Verdict
    from scorer.artifact import SignedArtifact
    from scorer.bundle import ModelBundle

# Exit codes: a CI step fails on 1 (the gate said no) and 2 (it could not judge).
PASSED, REFUSED = 0, 1


class GateError(StreamMLError):
    """The gate cannot judge: a missing or unsigned artifact, data the models cannot score."""


def add_verbs(verbs: Any) -> None:
    evaluate = verbs.add_parser(
        "evaluate", help="judge a trained artifact against the champion on labeled data "
                         "(the retrainer's gate; exit 0 passed, 1 refused, 2 cannot judge)")
    evaluate.add_argument("candidate", type=Path, metavar="ARTIFACT",
                          help="a .artifact written by `streamml train`, its .json beside it")
    evaluate.add_argument("--data", required=True, type=Path, metavar="FILE",
                          help="labeled rows the candidate never saw (CSV or JSONL)")
    evaluate.add_argument("--label", required=True, metavar="COLUMN", help="the 0/1 label")
    evaluate.add_argument("--time-column", default="ts", metavar="COLUMN")
    evaluate.add_argument("--against", default="champion", metavar="champion|ARTIFACT",
                          help="the serving champion (read from the registry) or an artifact "
                               "file (no broker needed)")
    evaluate.add_argument("--report", type=Path, default=None, metavar="FILE",
                          help="also write the verdict as JSON (a CI artifact)")
    publish = verbs.add_parser(
        "publish", help="publish a trained artifact as a new version (as it is: same bytes, "
                        "same signature), optionally as a canary or the champion")
    publish.add_argument("candidate", type=Path, metavar="ARTIFACT")
    role = publish.add_mutually_exclusive_group()
    role.add_argument("--canary", type=float, default=None, metavar="F",
                      help="serve it to a fraction F of users beside the champion")
    role.add_argument("--champion", action="store_true", help="make it the champion")
    publish.add_argument("--reason", default=None, help="why, for the audit trail")


def needs_broker(args: argparse.Namespace) -> bool:
    return not (args.verb == "evaluate" and args.against != "champion")


def evaluate(args: argparse.Namespace, settings: Settings) -> int:
    import numpy as np

    from retrainer.challenge import judge
    from retrainer.config import RetrainerConfig
    from scorer.datasets import load_rows

    candidate = read_signed(args.candidate, settings).bundle
    champion = (_serving_champion(settings) if args.against == "champion"
                else read_signed(Path(args.against), settings).bundle)
    rows = load_rows(args.data, label=args.label, time_column=args.time_column)
    if not rows:
        raise GateError(f"{args.data} holds no labeled rows")
    labels = np.array([row.label for row in rows])
    features = [row.features for row in rows]
    policy = RetrainerConfig.from_settings(settings).challenge
    verdict = judge(labels, _scored(candidate, features, "the candidate"),
                    None if champion is None else _scored(champion, features, "the champion"),
                    base_rate=float(np.mean(labels)), policy=policy, alpha=policy.spent(1))
    lines = verdict_lines(candidate, champion, verdict, len(rows))
    print("\n".join(lines))
    if args.report is not None:
        args.report.write_text(json.dumps(_report(candidate, champion, verdict, len(rows)),
                                          indent=2) + "\n")
    return PASSED if verdict.decision.publish else REFUSED


def publish(args: argparse.Namespace, settings: Settings, user: str) -> int:
    from retrainer import lifecycle
    from retrainer.registry_io import RegistryWriter
    from scorer.publishing import model_version_record
    from scorer.registry import read_registry

    signed = read_signed(args.candidate, settings).artifact
    state = read_registry(settings)
    meta = signed.metadata
    if meta.model != settings.model_name:
        raise GateError(f"{args.candidate} holds model {meta.model!r}; this registry serves "
                        f"{settings.model_name!r} (STREAMML_MODEL_NAME)")
    if meta.version != state.next_version:
        raise GateError(f"{args.candidate} is version {meta.version} but the registry's next "
                        f"is {state.next_version}: train it again with --next-version")
    record = model_version_record(signed, trigger="ci")
    versions = {**state.versions, meta.version: record}
    common: dict[str, Any] = {
        "decided_by": f"streamml models publish ({user})", "now": datetime.now(UTC),
        "reason": args.reason or f"published from {args.candidate.name}"}
    deployment = None
    if args.canary is not None:
        deployment = lifecycle.start_canary(state.deployment, versions, meta.version,
                                            args.canary, **common)
    elif args.champion or state.deployment is None:
        deployment = lifecycle.promote(state.deployment, versions, meta.version,
                                       model=meta.model, **common)
    writer = RegistryWriter(settings)
    try:
        writer.write(version=record, deployment=deployment)
    finally:
        writer.close()
    served = (lifecycle.describe(state.deployment, deployment) if deployment
              else "registered; serve it with `streamml models canary|promote`")
    print(f"published {meta.model} version {meta.version}: {served}")
    return 0


@dataclass(frozen=True)
class SignedFile:
    artifact: SignedArtifact
    bundle: ModelBundle


def read_signed(path: Path, settings: Settings) -> SignedFile:
    """The artifact ``streamml train`` wrote at ``path``, its signature checked against the
    trusted keys (its metrics file beside it gives the digest, signature and key id)."""
    from scorer.artifact import SignedArtifact, load_artifact, metadata_of
    from scorer.exceptions import ArtifactRejected
    from scorer.signing import trusted_keys

    meta_path = path.with_suffix(".json")
    try:
        data = path.read_bytes()
        meta = json.loads(meta_path.read_text())
        sha256, signature, key_id = meta["sha256"], meta["signature"], meta["key_id"]
    except FileNotFoundError as exc:
        raise GateError(f"{exc.filename}: no such file (`streamml train --out DIR` writes "
                        f"NAME.artifact and NAME.json together)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise GateError(f"{meta_path} is not the metrics file `streamml train` writes: "
                        f"{exc!r}") from None
    try:
        bundle = load_artifact(data, sha256, signature, trusted_keys(settings), key_id=key_id)
    except ArtifactRejected as exc:
        raise GateError(f"{path} is refused: {exc}") from None
    artifact = SignedArtifact(data=data, sha256=sha256, signature=signature, key_id=key_id,
                              metadata=metadata_of(bundle))
    return SignedFile(artifact, bundle)


def _serving_champion(settings: Settings) -> ModelBundle | None:
    from scorer.artifact import load_version
    from scorer.exceptions import ArtifactRejected
    from scorer.registry import read_registry
    from scorer.signing import trusted_keys

    state = read_registry(settings, keep_artifacts=True)
    if state.deployment is None:
        return None
    record = state.versions[state.deployment.champion]
    try:
        return load_version(record, trusted_keys(settings))
    except ArtifactRejected as exc:
        raise GateError(f"the serving champion (version {record.version}) is refused: "
                        f"{exc}") from None


def _scored(bundle: ModelBundle, features: list[Any], who: str) -> Scored:
    from retrainer.challenge import Scored
    from scorer.exceptions import ScorerError

    # A missing value is scored (imputed); a feature missing from every row would make
    # the figures say nothing about the model.
    present = set().union(*(row.keys() for row in features))
    if absent := [name for name in bundle.schema.names if name not in present]:
        raise GateError(f"{who} ({bundle.model} v{bundle.version}) cannot score the data: "
                        f"no row has {', '.join(absent)}")
    try:
        scores, _ = bundle.score_batch(features)
    except ScorerError as exc:
        raise GateError(f"{who} ({bundle.model} v{bundle.version}) cannot score the data: "
                        f"{exc}") from None
    return Scored(scores, bundle.threshold)


def verdict_lines(candidate: ModelBundle, champion: ModelBundle | None, verdict: Verdict,
                  rows: int) -> list[str]:
    """What the gate prints: both models' figures side by side, then its decision."""
    names = sorted(verdict.challenger)
    theirs = verdict.champion or {}
    against = f"champion v{champion.version}" if champion else "no champion"
    lines = [f"{candidate.model} v{candidate.version} against {against} on {rows} rows "
             f"(base-rate log loss {verdict.baseline_log_loss:.4f})",
             f"{'metric':<12}{'candidate':>12}{'champion':>12}"]
    lines += [f"{name:<12}{verdict.challenger[name]:>12.4f}"
              f"{theirs[name] if name in theirs else float('nan'):>12.4f}" for name in names]
    lines.append(f"{'PASSED' if verdict.decision.publish else 'REFUSED'}: "
                 f"{verdict.decision.reason}")
    return lines


def _report(candidate: ModelBundle, champion: ModelBundle | None, verdict: Verdict,
            rows: int) -> dict[str, Any]:
    gain = verdict.versus_champion
    return {
        "passed": verdict.decision.publish, "reason": verdict.decision.reason,
        "model": candidate.model, "candidate_version": candidate.version,
        "champion_version": champion.version if champion else None, "rows": rows,
        "candidate": verdict.challenger, "champion": verdict.champion,
        "baseline_log_loss": verdict.baseline_log_loss,
        "gain": None if gain is None else {"mean": gain.mean, "lower_bound": gain.lower,
                                           "alpha": gain.alpha, "rows": gain.n},
    }


__all__ = ["GateError", "add_verbs", "evaluate", "needs_broker", "publish", "read_signed"]
