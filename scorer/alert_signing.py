"""Ed25519 signatures on alerts: who may make the retrainer act, and what a monitor restores.

The processor and other writers of the cluster must not be able to roll a canary back,
start a retraining round or fake a firing alert on the ops page by writing ``alerts``.
So the monitor and the retrainer sign what they write there with an alert key of their
own (``STREAMML_ALERT_PRIVATE_KEY``), apart from the model key: the monitor never holds
the model key, the scoring processors hold neither. Readers that act on an alert (the
retrainer, the monitor rebuilding what fires) take it only when signed by a trusted
alert key; anything else is counted by reason and logged once per key and reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Final

from contracts.records import Alert
from contracts.settings import SharedSettings
from scorer.exceptions import ArtifactRejected
from scorer.signing import Signer, TrustedKeys, signer_of, trusted_of

logger = logging.getLogger(__name__)

ALERT_PRIVATE_KEY_VARIABLE: Final = "STREAMML_ALERT_PRIVATE_KEY"
ALERT_PUBLIC_KEYS_VARIABLE: Final = "STREAMML_ALERT_PUBLIC_KEYS"
# Refusals of one key and reason are logged at the 1st, 10th, 100th... of them.
_LOG_EVERY_POWER_OF: Final = 10
_KEYS_REMEMBERED: Final = 64


def alert_signer_from(settings: SharedSettings) -> Signer:
    """The signer of the settings' alert key, or a :class:`SettingsError` saying how to set it."""
    return signer_of(settings.alert_private_key, ALERT_PRIVATE_KEY_VARIABLE,
                     "the monitor and the retrainer sign what they write on the alerts "
                     "topic with it")


def alert_trusted_keys(settings: SharedSettings) -> TrustedKeys:
    """The alert public keys of the settings, with the alert private key's own."""
    return trusted_of(settings.alert_public_keys, settings.alert_private_key,
                      ALERT_PUBLIC_KEYS_VARIABLE, ALERT_PRIVATE_KEY_VARIABLE, "alert")


class AlertGate:
    """Admits alerts signed by a trusted alert key; counts the others by reason.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> signer = Signer.generate()
    >>> gate = AlertGate(signer.trusted())
    >>> a = Alert(fingerprint="f", kind="concept-drift", severity="warning", status="firing",
    ...           model="m", version=1, metric="x", value=1.0, threshold=0.5, window="w",
    ...           details={}, started_at=datetime(2026, 1, 1, tzinfo=UTC), runbook="")
    >>> gate.admit(signer.sign(a)), gate.admit(a), dict(gate.refusals)
    (True, False, {'unsigned': 1})
    """

    def __init__(self, keys: TrustedKeys) -> None:
        self.keys = keys
        self.refusals: Counter[str] = Counter()
        self._seen: Counter[tuple[str, str]] = Counter()

    def admit(self, alert: Alert) -> bool:
        """Whether ``alert`` is signed by a trusted key; a refusal is counted and logged."""
        try:
            self.keys.verify(alert)
        except ArtifactRejected as exc:
            self._refused(alert, exc)
            return False
        return True

    def _refused(self, alert: Alert, exc: ArtifactRejected) -> None:
        self.refusals[exc.code] += 1
        where = (alert.key_id or "-", exc.code)
        if where not in self._seen and len(self._seen) >= _KEYS_REMEMBERED:
            where = ("other", exc.code)  # key ids are the writer's choice: keep few
        self._seen[where] += 1
        n = self._seen[where]
        # A flood of forged alerts must not become a flood of log lines.
        if n == _LOG_EVERY_POWER_OF ** (len(str(n)) - 1):
            logger.warning("alert ignored reason=%s key=%s refused_so_far=%d: %s",
                           exc.code, where[0], n, exc)


__all__ = [
    "ALERT_PRIVATE_KEY_VARIABLE",
    "ALERT_PUBLIC_KEYS_VARIABLE",
    "AlertGate",
    "alert_signer_from",
    "alert_trusted_keys",
]
