"""``streamml retrain``: retrain continuously from labeled-events and release what is better."""

from __future__ import annotations

import argparse
from typing import Any

from contracts.exceptions import SettingsError
from contracts.settings import Settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "retrain",
        help="retrain from labeled-events on alerts, label counts or a schedule; "
             "publish better versions as canaries and promote or roll them back",
        description=(
            "Keeps a window of recent labeled events, trains a challenger when a drift or "
            "performance alert fires, every STREAMML_RETRAIN_EVERY_LABELS new labels or every "
            "STREAMML_RETRAIN_SCHEDULE_S seconds, and publishes it only when it beats the "
            "champion on the newest events. Released as STREAMML_RELEASE_MODE says; a release "
            "controller then promotes or rolls back the canary. Needs "
            "STREAMML_MODEL_PRIVATE_KEY and STREAMML_ALERT_PRIVATE_KEY. Run one per model."
        ),
    )
    parser.set_defaults(handler=run, needs_broker=True)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from contracts.batch_runtime import run_until_signalled
    from retrainer.config import RetrainerConfig
    from retrainer.service import RetrainerService
    from scorer.alert_signing import alert_signer_from, alert_trusted_keys
    from scorer.signing import signer_from, trusted_keys

    signer_from(settings)  # before the work: without it nothing can be published
    alert_signer_from(settings)  # nor any decision said on alerts
    keys = trusted_keys(settings)
    try:
        config = RetrainerConfig.from_settings(settings)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    run_until_signalled(RetrainerService(settings, config, keys,
                                         alert_keys=alert_trusted_keys(settings)))
    return 0


__all__ = ["register", "run"]
