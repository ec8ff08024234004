"""Which model version answers a user: champion, canary, and a shadow scored on the side.

A user's canary bucket is a hash of the model name and user id mapped to ``[0, 1)``,
so the same user always gets the same answer (no flip-flopping between versions),
and raising the canary fraction only adds users: whoever was in the canary at 10 %
is still in it at 20 %.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from contracts.records import Deployment, Route

_SCALE: Final = float(2**64)


@dataclass(frozen=True, slots=True)
class Assignment:
    """One version to score an event with; ``route`` is champion, canary or shadow."""

    route: Route
    version: int

    @property
    def shown(self) -> bool:
        """Whether this answer goes back to the application (shadow answers never do)."""
        return self.route != "shadow"


def bucket(model: str, user_id: str) -> float:
    """The user's stable position in ``[0, 1)`` for ``model``.

    >>> bucket("conversion", "u1") == bucket("conversion", "u1")
    True
    >>> 0.0 <= bucket("conversion", "u1") < 1.0
    True
    """
    # The model name salts the hash so each model's canary takes a different slice of users.
    digest = hashlib.blake2b(
        f"{model}\0{user_id}".encode(), digest_size=8, person=b"streamml-canary"
    ).digest()
    return int.from_bytes(digest, "big") / _SCALE


def assign(deployment: Deployment, user_id: str) -> tuple[Assignment, ...]:
    """The versions that score ``user_id``'s event: the shown one first, then any shadow.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> d = Deployment(model="m", champion=3, canary=4, canary_fraction=0.0, shadow=5,
    ...                decided_by="me", reason="try v5", decided_at=datetime.now(UTC))
    >>> assign(d, "u1")
    (Assignment(route='champion', version=3), Assignment(route='shadow', version=5))
    """
    shown = _shown(deployment, user_id)
    shadow = deployment.shadow
    if shadow is None or shadow == shown.version:
        return (shown,)
    return (shown, Assignment("shadow", shadow))


def group_by_assignment(
    deployment: Deployment, user_ids: Sequence[str]
) -> dict[Assignment, list[int]]:
    """Positions in ``user_ids`` per assignment, so each version scores its events as one batch.

    >>> from datetime import UTC, datetime
    >>> d = Deployment(model="m", champion=1, decided_by="me", reason="first",
    ...                decided_at=datetime.now(UTC))
    >>> group_by_assignment(d, ["a", "b"])
    {Assignment(route='champion', version=1): [0, 1]}
    """
    if not _canary_live(deployment):
        # Everyone gets the same versions: no user's bucket to compute.
        everyone = list(range(len(user_ids)))
        return {a: list(everyone) for a in assign(deployment, "")} if everyone else {}
    groups: dict[Assignment, list[int]] = {}
    for i, user_id in enumerate(user_ids):
        for assignment in assign(deployment, user_id):
            groups.setdefault(assignment, []).append(i)
    return groups


def _canary_live(deployment: Deployment) -> bool:
    """Whether some users get a canary: one is named, it is not the champion, and it has
    a share of users."""
    canary = deployment.canary
    return canary is not None and canary != deployment.champion \
        and deployment.canary_fraction > 0.0


def _shown(deployment: Deployment, user_id: str) -> Assignment:
    canary = deployment.canary
    if canary is not None and _canary_live(deployment) \
            and bucket(deployment.model, user_id) < deployment.canary_fraction:
        return Assignment("canary", canary)
    return Assignment("champion", deployment.champion)


__all__ = ["Assignment", "assign", "bucket", "group_by_assignment"]
