"""The audit trail of deployment changes, kept on the registry topic itself.

``<model>/deployment`` is compacted down to the latest pointer, so every change is
also written under a key of its own, ``<model>/audit/<UTC time>-<nonce>``, in the
same transaction as the pointer. Unique keys are never compacted away, the topic
has one partition (one total order with the versions it refers to), and readers
that only know versions and pointers skip these keys.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Final

import msgspec

from contracts.records import Deployment
from scorer.exceptions import ArtifactRejected
from scorer.signing import TrustedKeys

logger = logging.getLogger(__name__)

AUDIT_SEGMENT: Final = "audit"
_DEPLOYMENT: Final = msgspec.json.Decoder(Deployment)


def audit_key(model: str, decided_at: datetime, nonce: str | None = None) -> bytes:
    """A key of its own for one change: sortable by time, unique by a random nonce.

    >>> from datetime import UTC, datetime
    >>> audit_key("conversion", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "ab12")
    b'conversion/audit/20260102T030405.000000Z-ab12'
    """
    nonce = nonce or secrets.token_hex(4)
    stamp = decided_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{model}/{AUDIT_SEGMENT}/{stamp}-{nonce}".encode()


def is_audit_key(key: bytes | None, model: str) -> bool:
    """
    >>> is_audit_key(b"m/audit/x", "m"), is_audit_key(b"m/deployment", "m")
    (True, False)
    """
    return (key or b"").startswith(f"{model}/{AUDIT_SEGMENT}/".encode())


def fold_history(records: Iterable[tuple[bytes | None, bytes | None]],
                 model: str, keys: TrustedKeys) -> list[Deployment]:
    """Every signed deployment of ``model`` the topic still holds, oldest first, each once.

    Audit records are the trail; pointer records not yet compacted are added when no
    audit record holds the same change (a pointer written by a tool that keeps no
    trail, such as ``streamml train --publish``).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from scorer.signing import Signer
    >>> signer = Signer.generate()
    >>> d = Deployment(model="m", champion=1, decided_by="me", reason="first",
    ...                decided_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> value = msgspec.json.encode(signer.sign(d))
    >>> [h.champion for h in fold_history([(b"m/deployment", value),
    ...                                    (b"m/audit/1", value)], "m", signer.trusted())]
    [1]
    """
    pointer = f"{model}/deployment".encode()
    seen: set[bytes] = set()
    history: list[Deployment] = []
    for key, value in records:
        if not value or not (key == pointer or is_audit_key(key, model)):
            continue
        try:
            deployment = keys.verify(_DEPLOYMENT.decode(value))
        except (msgspec.DecodeError, ArtifactRejected) as exc:
            logger.warning("skipped deployment record key=%r reason=%s", key, exc)
            continue
        canonical = msgspec.json.encode(deployment)
        if canonical in seen:
            continue
        seen.add(canonical)
        history.append(deployment)
    return history


__all__ = ["AUDIT_SEGMENT", "audit_key", "fold_history", "is_audit_key"]
