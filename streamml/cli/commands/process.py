"""``streamml process``: the scoring processor (one worker; run several to share partitions)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from contracts.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "process", help="score user-events with the current model, hot-swapping new versions"
    )
    parser.add_argument("--web-port", type=int, default=None,
                        help="HTTP port for /metrics, /health, /predict "
                             "(default: STREAMML_SCORING_PORT)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="worker folder (default: a folder per port in the cache)")
    parser.add_argument("--runner", choices=("faust", "kafka"), default=None,
                        help="event loop: faust-streaming, or a plain confluent-kafka "
                             "consumer (default: STREAMML_SCORING_RUNNER)")
    parser.set_defaults(handler=run, needs_broker=True, port_setting="scoring_port")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from scorer.signing import trusted_keys
    from stream_processors.faust_runner import build_scoring_app, run_worker
    from stream_processors.model_loading import artifact_loader
    from streamml.broker.install import cache_root

    port = args.web_port or settings.scoring_port
    loader = artifact_loader(trusted_keys(settings))
    if (args.runner or settings.scoring_runner) == "kafka":
        from contracts.batch_runtime import run_until_signalled
        from stream_processors.kafka_scoring import KafkaScoringWorker

        run_until_signalled(KafkaScoringWorker(settings, loader, web_port=port))
        return 0
    datadir = args.data_dir or cache_root() / f"scoring-{port}"
    app, _ = build_scoring_app(settings, loader, web_port=port, datadir=datadir)
    run_worker(app, settings.log_level)
    return 0


__all__ = ["register", "run"]
