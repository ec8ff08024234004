"""``streamml models import``: serve a scikit-learn pipeline trained elsewhere (a skops file).

The pipeline is read without pickle, its types confirmed by name, its trees checked;
the labeled reference data gives the version its schema, drift reference, threshold
and metrics (:mod:`scorer.imported`). It is then signed and, with ``--publish``,
published and made the champion like a trained version: the processors hot-swap to
it, the monitor watches it, and ``models evaluate`` and ``models publish`` take its
artifact as they take a trained one.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from contracts.settings import Settings


def add_verb(verbs: Any) -> None:
    from streamml.cli.commands.train import threshold_rule

    verb = verbs.add_parser(
        "import", help="serve a fitted scikit-learn pipeline from a skops file (its reference "
                       "data gives the schema, drift reference, threshold and metrics)")
    verb.add_argument("source", type=Path, metavar="PATH",
                      help="the pipeline saved with skops.io.dump, fitted on a DataFrame")
    verb.add_argument("--reference", required=True, type=Path, metavar="DATA",
                      help="labeled rows like those it will score (CSV or JSONL)")
    verb.add_argument("--label", required=True, metavar="COLUMN", help="the 0/1 label")
    verb.add_argument("--time-column", default="ts", metavar="COLUMN")
    verb.add_argument("--trust", action="append", default=[], metavar="TYPE",
                      help="a type in the file that skops does not trust by itself, confirmed "
                           "(repeatable; the import names each one it needs)")
    verb.add_argument("--threshold-rule", type=threshold_rule, default=None, metavar="RULE",
                      help="as for `streamml train` (default: STREAMML_DECISION_THRESHOLD_RULE)")
    verb.add_argument("--publish", action="store_true",
                      help="publish it as the next version and make it the champion; refused "
                           "(exit 1) when it is no better than the base rate, unless --force")
    verb.add_argument("--force", action="store_true",
                      help="publish even a model no better than the base rate")
    verb.add_argument("--next-version", action="store_true",
                      help="number it as the registry's next version without publishing")
    verb.add_argument("--out", type=Path, default=Path("artifacts"), metavar="DIR")


def publishes(args: argparse.Namespace) -> bool:
    return bool(args.publish or args.next_version)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from scorer.artifact import sign_bundle
    from scorer.datasets import load_rows
    from scorer.imported import import_pipeline
    from scorer.publishing import publish_as_champion
    from scorer.registry import read_registry
    from scorer.signing import signer_from
    from scorer.threshold import ThresholdRule
    from streamml.cli.commands.train import Stages, save_artifact

    signer = signer_from(settings)
    stage = Stages()
    stage(f"loading the reference data {args.reference}")
    rows = load_rows(args.reference, label=args.label, time_column=args.time_column)
    version = 1
    if publishes(args):
        stage("reading the registry for the next version number")
        version = read_registry(settings).next_version
    stage(f"reading {args.source}, checking its types and trees, scoring {len(rows):,} rows")
    rule = args.threshold_rule or ThresholdRule.parse(settings.decision_threshold_rule)
    bundle, report = import_pipeline(args.source, rows, model=settings.model_name,
                                     version=version, trust=args.trust, threshold_rule=rule)
    stage(f"signing version {version} and writing it to {args.out}")
    signed = sign_bundle(bundle, signer)
    artifact_path, metrics_path = save_artifact(args.out, signed, {
        "estimator": "imported", "source": report.source, "source_sha256": report.sha256,
        "trusted_types": list(report.trusted_types), "features": list(report.features),
        "reference_rows": report.rows, "threshold": report.threshold,
        "metrics": report.metrics, "skill": report.skill,
        "baseline_log_loss": report.baseline_log_loss})
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in report.metrics.items())
    print(f"{report.source}: {len(report.features)} features "
          f"({', '.join(report.features)}); on the {report.rows:,} reference rows: {metrics}; "
          f"threshold {report.threshold:.4f}")
    if report.trusted_types:
        print(f"trusted as confirmed: {', '.join(report.trusted_types)}")
    print(f"artifact: {artifact_path}\nmetrics:  {metrics_path}")
    if report.skill <= 0:
        print(f"no better than predicting the base rate on the reference data: log loss "
              f"{report.metrics['log_loss']:.4f} vs {report.baseline_log_loss:.4f}")
        if args.publish and not args.force:
            print("not published (--force publishes it anyway)")
            return 1
    if args.publish:
        stage("publishing")
        deployment = publish_as_champion(settings, signed, decided_by="streamml models import",
                                         reason=f"imported from {report.source}")
        print(f"published {deployment.model} version {deployment.champion} and made it the "
              "champion")
    return 0


__all__ = ["add_verb", "publishes", "run"]
