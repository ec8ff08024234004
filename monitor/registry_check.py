"""The monitor's check of ``model-versions`` records before its registry folds them.

The drift baseline, reference metrics and "which version serves" all come from
registry records, so the monitor takes only records signed by a trusted key, and
deployments only in decision order. A refused record is counted and becomes a
critical ``model-refused`` alert, signed like every alert it writes. The scoring
processors check the same records with the same keys and count their refusals on
``/metrics`` (``streamml_model_refusals_total``); they do not write ``alerts``.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Final

import msgspec

from contracts.records import Alert, Deployment, ModelVersion
from scorer.exceptions import ArtifactRejected
from scorer.registry_guard import DeploymentGuard, refusal_alert
from scorer.signing import TrustedKeys

logger = logging.getLogger(__name__)

REFUSED_KIND: Final = "model-refused"
_VERSION: Final = msgspec.json.Decoder(ModelVersion)
_DEPLOYMENT: Final = msgspec.json.Decoder(Deployment)


class RegistryCheck:
    """Admits the registry records of ``model`` that are signed and in order.

    Examples
    --------
    >>> from scorer.signing import Signer
    >>> check = RegistryCheck("m", Signer.generate().trusted())
    >>> check.admit(b"m/deployment", b'{"model": "m"}')
    (False, None)
    >>> check.admit(b"other/1", b"{}")
    (True, None)
    """

    def __init__(self, model: str, keys: TrustedKeys) -> None:
        self.model = model
        self.keys = keys
        self.deployments = DeploymentGuard(keys)
        self.refusals: Counter[str] = Counter()

    def admit(self, key: bytes | None, value: bytes | None) -> tuple[bool, Alert | None]:
        """Whether to fold the record, and the alert saying why not when it is refused."""
        name = (key or b"").decode("utf-8", "replace")
        model, _, suffix = name.rpartition("/")
        if model != self.model or not value or not (suffix == "deployment" or suffix.isdigit()):
            return True, None  # another model, a tombstone or an audit record: nothing to trust
        try:
            if suffix == "deployment":
                self.deployments.applied(self.deployments.check(_DEPLOYMENT.decode(value)))
            else:
                self.keys.verify(_VERSION.decode(value))
        except msgspec.DecodeError as exc:
            logger.warning("skipped model-versions record key=%s: %s", name, exc)
            return False, None
        except ArtifactRejected as exc:
            logger.error("model record %s refused reason=%s: %s", name, exc.code, exc)
            self.refusals[exc.code] += 1
            return False, refusal_alert(name, exc.code, str(exc))
        return True, None


__all__ = ["REFUSED_KIND", "RegistryCheck"]
