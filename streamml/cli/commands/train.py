"""``streamml train``: train a model on a file, evaluate it, sign it, optionally publish it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contracts.settings import Settings

if TYPE_CHECKING:
    from scorer.artifact import SignedArtifact
    from scorer.training import TrainingReport


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train, evaluate and sign a model from a CSV or JSONL file",
        description=(
            "Train on FILE (CSV with flat columns, or JSONL user events with nested "
            "`features`), print the held-out evaluation, and write the signed artifact "
            "and its metrics to --out. Rows with a `ts` are split in time order. "
            "Needs STREAMML_MODEL_PRIVATE_KEY."
        ),
    )
    parser.add_argument("--data", required=True, type=Path, metavar="FILE")
    parser.add_argument("--label", required=True, metavar="COLUMN", help="the 0/1 label")
    parser.add_argument("--model", choices=("auto", "logistic", "hgb", "mlp"), default="auto",
                        help="estimator: logistic regression, histogram gradient boosting, "
                             "a multilayer perceptron (two hidden layers, early stopping), "
                             "or auto (default): each searched on the same time-ordered "
                             "folds, the best kept, the comparison printed")
    parser.add_argument("--drop", action="append", default=[], metavar="COLUMN",
                        help="a column the model must not see (repeatable)")
    parser.add_argument("--time-column", default="ts", metavar="COLUMN",
                        help="timestamps ordering the rows (default: ts)")
    parser.add_argument("--threshold-rule", default=None, type=threshold_rule, metavar="RULE",
                        help="how the decision threshold is chosen on validation scores: f1, "
                             "positive-rate:R or cost:C (false-positive cost / false-negative "
                             "cost); default: STREAMML_DECISION_THRESHOLD_RULE (f1)")
    parser.add_argument("--publish", action="store_true",
                        help="publish as the next version on model-versions and make it "
                             "champion; refused (exit 1) for a model no better than "
                             "predicting the base rate, unless --force")
    parser.add_argument("--force", action="store_true",
                        help="publish even a model no better than the base rate")
    parser.add_argument("--next-version", action="store_true",
                        help="number it as the registry's next version without publishing "
                             "(for `streamml models evaluate` and `models publish`)")
    parser.add_argument("--out", type=Path, default=Path("artifacts"), metavar="DIR",
                        help="where the artifact and metrics go (default: ./artifacts)")
    parser.set_defaults(handler=run, needs_broker=_publishes)


def _publishes(args: argparse.Namespace) -> bool:
    return bool(args.publish or args.next_version)


class Stages:
    """Each stage of a long command, one line on stderr as it begins, with the time so far:
    a terminal and a CI log show the same."""

    def __init__(self) -> None:
        self.began = time.monotonic()

    def __call__(self, what: str) -> None:
        print(f"[{time.monotonic() - self.began:6.1f} s] {what}", file=sys.stderr, flush=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from scorer.artifact import sign_bundle
    from scorer.datasets import load_rows
    from scorer.publishing import publish_as_champion
    from scorer.registry import read_registry
    from scorer.signing import signer_from
    from scorer.threshold import ThresholdRule
    from scorer.training import TrainingConfig, train

    signer = signer_from(settings)  # before the work: without it nothing can be saved
    console = Console()
    stage = Stages()
    stage(f"loading {args.data}")
    rows = load_rows(args.data, label=args.label, time_column=args.time_column)
    if _publishes(args):
        stage("reading the registry for the next version number")
    version = read_registry(settings).next_version if _publishes(args) else 1
    rule = args.threshold_rule or ThresholdRule.parse(settings.decision_threshold_rule)
    config = TrainingConfig(estimator=args.model, drop=tuple(args.drop), threshold_rule=rule)
    bundle, report = train(rows, model=settings.model_name, version=version, config=config,
                           on_stage=stage)
    stage(f"signing version {version} and writing it to {args.out}")
    signed = sign_bundle(bundle, signer)
    artifact_path, metrics_path = save_artifact(args.out, signed, report.to_dict())
    _print_report(console, signed, report)
    console.print(f"artifact: {artifact_path}\nmetrics:  {metrics_path}")
    if report.skill <= 0:
        console.print(f"[bold]no better than predicting the base rate[/bold]: held-out log loss "
                      f"{report.metrics['log_loss']:.4f} vs {report.baseline_log_loss:.4f}"
                      f"{'' if args.model == 'auto' else '; try --model auto'}")
        if args.publish and not args.force:
            console.print("not published (--force publishes it anyway)")
            return 1
    if args.publish:
        stage("publishing")
        deployment = publish_as_champion(
            settings, signed, decided_by="streamml train",
            reason=f"trained on {args.data.name} ({len(rows)} rows)",
        )
        console.print(
            f"published {deployment.model} version {deployment.champion} "
            "and made it the champion"
        )
    return 0


def threshold_rule(text: str) -> Any:
    from scorer.threshold import ThresholdRule

    try:
        return ThresholdRule.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def save_artifact(out: Path, signed: SignedArtifact,
                  report: dict[str, Any]) -> tuple[Path, Path]:
    """NAME.artifact and NAME.json (its digest, signature, key id and ``report``) in ``out``."""
    meta = signed.metadata
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{meta.model}-v{meta.version}"
    artifact_path = out / f"{stem}.artifact"
    artifact_path.write_bytes(signed.data)
    metrics_path = out / f"{stem}.json"
    metrics_path.write_text(json.dumps({
        "model": meta.model,
        "version": meta.version,
        "created_at": meta.created_at.isoformat(),
        "artifact": artifact_path.name,
        "sha256": signed.sha256,
        "signature": signed.signature,
        "key_id": signed.key_id,
        **report,
    }, indent=2) + "\n")
    return artifact_path, metrics_path


def _print_report(console: Any, signed: SignedArtifact, report: TrainingReport) -> None:
    from rich.table import Table

    meta = signed.metadata
    split = (f"time-ordered, test from {report.test_from:%Y-%m-%d %H:%M}"
             if report.test_from else "stratified random")
    if report.comparison:
        ranked = sorted(report.comparison.items(), key=lambda kv: -(kv[1] or float("-inf")))
        console.print(f"estimators by cross-validated {report.scoring}: " + ", ".join(
            f"{name} {'failed' if score is None else f'{score:.4f}'}" for name, score in ranked)
            + f"; chose {report.estimator}")
    title = f"{meta.model} v{meta.version} ({meta.params.get('estimator')}): held-out evaluation"
    table = Table(title=title, min_width=len(title))
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in report.metrics.items():
        table.add_row(name, f"{value:.4f}")
    table.add_section()
    table.add_row("skill over the base rate", f"{report.skill:.4f}")
    table.add_row("threshold", f"{report.threshold:.4f}")
    console.print(table)
    chosen = (f"on {report.validation_rows} out-of-fold validation scores"
              if report.validation_rows else "kept at 0.5: too few validation scores")
    console.print(f"decision threshold {report.threshold:.4f} ({report.threshold_rule}, "
                  f"{chosen}); accuracy, precision, recall and F1 decide 1 at or above it")
    params = ", ".join(f"{k}={v}" for k, v in report.best_params.items())
    console.print(
        f"rows: {report.train_rows} train / {report.test_rows} test ({split}); "
        f"best {params} (cv {report.scoring} {report.cv_score:.4f}); "
        f"{report.seconds:.1f}s"
    )


__all__ = ["Stages", "register", "run", "save_artifact", "threshold_rule"]
