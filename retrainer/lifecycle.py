"""Deployment changes as pure functions: promote, canary, shadow, rollback, and statuses.

Each returns the next :class:`Deployment` (stamped with who decided, why and when)
or raises :class:`LifecycleError` saying why the change is not allowed. Writing it
(pointer and audit record together) is :mod:`retrainer.registry_io`'s job.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from contracts.records import Deployment
from retrainer.exceptions import LifecycleError


def _known(version: int, versions: Collection[int]) -> None:
    if version not in versions:
        known = ", ".join(map(str, sorted(versions))) or "none"
        raise LifecycleError(f"version {version} is not in the registry (known: {known})")


def _current(current: Deployment | None) -> Deployment:
    if current is None:
        raise LifecycleError("the model has no deployment yet: promote a version first")
    return current


def promote(current: Deployment | None, versions: Collection[int], version: int, *,
            model: str, decided_by: str, reason: str, now: datetime) -> Deployment:
    """Make ``version`` the champion; it leaves the canary or shadow route if it held one.

    >>> from datetime import UTC, datetime
    >>> now = datetime(2026, 1, 1, tzinfo=UTC)
    >>> d = promote(None, {1}, 1, model="m", decided_by="me", reason="first", now=now)
    >>> d = start_canary(d, {1, 2}, 2, 0.2, decided_by="me", reason="try", now=now)
    >>> d = promote(d, {1, 2}, 2, model="m", decided_by="me", reason="good", now=now)
    >>> d.champion, d.canary, d.canary_fraction
    (2, None, 0.0)
    """
    _known(version, versions)
    if current is not None and current.champion == version:
        raise LifecycleError(f"version {version} is already the champion")
    canary = current.canary if current and current.canary != version else None
    shadow = current.shadow if current and current.shadow != version else None
    return Deployment(model=model, champion=version, canary=canary,
                      canary_fraction=current.canary_fraction if current and canary else 0.0,
                      shadow=shadow, decided_by=decided_by, reason=reason, decided_at=now)


def start_canary(current: Deployment | None, versions: Collection[int], version: int,
                 fraction: float, *, decided_by: str, reason: str, now: datetime) -> Deployment:
    """Serve ``version`` to ``fraction`` of users beside the champion."""
    base = _current(current)
    _known(version, versions)
    if version == base.champion:
        raise LifecycleError(f"version {version} is the champion; a canary must be another")
    if not 0.0 < fraction <= 1.0:
        raise LifecycleError(f"the canary fraction must be within (0, 1], got {fraction}")
    return Deployment(model=base.model, champion=base.champion, canary=version,
                      canary_fraction=fraction,
                      shadow=base.shadow if base.shadow != version else None,
                      decided_by=decided_by, reason=reason, decided_at=now)


def start_shadow(current: Deployment | None, versions: Collection[int], version: int, *,
                 decided_by: str, reason: str, now: datetime) -> Deployment:
    """Score every event with ``version`` on the side; its answers are never shown."""
    base = _current(current)
    _known(version, versions)
    if version == base.champion:
        raise LifecycleError(f"version {version} is the champion; a shadow must be another")
    canary = base.canary if base.canary != version else None
    return Deployment(model=base.model, champion=base.champion, canary=canary,
                      canary_fraction=base.canary_fraction if canary else 0.0, shadow=version,
                      decided_by=decided_by, reason=reason, decided_at=now)


def withdraw(current: Deployment, version: int, *, decided_by: str, reason: str,
             now: datetime) -> Deployment:
    """Take ``version`` off the canary and shadow routes; the champion serves as before."""
    canary = current.canary if current.canary != version else None
    return Deployment(model=current.model, champion=current.champion, canary=canary,
                      canary_fraction=current.canary_fraction if canary else 0.0,
                      shadow=current.shadow if current.shadow != version else None,
                      decided_by=decided_by, reason=reason, decided_at=now)


def champion_line(history: Sequence[Deployment]) -> list[int]:
    """The champions in force, oldest first, with rolled-back ones taken off.

    Going back to the champion before the current one is a rollback and pops the
    current one, so rolling back twice goes two steps back rather than to and fro.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> line = [Deployment(model="m", champion=c, decided_by="x", reason="y", decided_at=t)
    ...         for c in (1, 2, 2, 3, 2)]
    >>> champion_line(line)
    [1, 2]
    """
    line: list[int] = []
    for deployment in history:
        champion = deployment.champion
        if line and line[-1] == champion:
            continue
        if len(line) >= 2 and line[-2] == champion:
            line.pop()
        else:
            line.append(champion)
    return line


def rollback(current: Deployment | None, history: Sequence[Deployment],
             versions: Collection[int], *, decided_by: str, reason: str,
             now: datetime) -> Deployment:
    """Back to the champion before the current one; canary and shadow are taken off."""
    base = _current(current)
    line = champion_line([*history, base])
    if len(line) < 2:
        raise LifecycleError(
            f"version {base.champion} is the only champion in the audit trail; "
            "there is nothing to roll back to (promote a version instead)")
    target = line[-2]
    _known(target, versions)
    return Deployment(model=base.model, champion=target, canary=None, canary_fraction=0.0,
                      shadow=None, decided_by=decided_by, reason=reason, decided_at=now)


def statuses(versions: Collection[int], current: Deployment | None,
             history: Sequence[Deployment]) -> dict[int, str]:
    """champion, canary, shadow; retired if it served before; else available.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> d1 = Deployment(model="m", champion=1, decided_by="x", reason="y", decided_at=t)
    >>> d2 = Deployment(model="m", champion=2, canary=3, canary_fraction=0.1,
    ...                 decided_by="x", reason="y", decided_at=t)
    >>> statuses([1, 2, 3, 4], d2, [d1, d2])
    {1: 'retired', 2: 'champion', 3: 'canary', 4: 'available'}
    """
    served = {v for d in history for v in (d.champion, d.canary, d.shadow) if v is not None}
    now: dict[int, str] = {}
    if current is not None:
        now[current.champion] = "champion"
        if current.canary is not None and current.canary_fraction > 0:
            now[current.canary] = "canary"
        if current.shadow is not None:
            now[current.shadow] = "shadow"
    return {v: now.get(v, "retired" if v in served else "available") for v in sorted(versions)}


def describe(before: Deployment | None, after: Deployment) -> str:
    """What changed between two deployments, in a few words.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> a = Deployment(model="m", champion=1, decided_by="x", reason="y", decided_at=t)
    >>> b = Deployment(model="m", champion=1, canary=2, canary_fraction=0.25,
    ...                decided_by="x", reason="y", decided_at=t)
    >>> describe(a, b), describe(b, a)
    ('canary v2 at 25%', 'canary v2 ended')
    """
    parts = []
    if before is None or before.champion != after.champion:
        old = f"v{before.champion} -> " if before else ""
        parts.append(f"champion {old}v{after.champion}")
    old_canary = before.canary if before and before.canary_fraction > 0 else None
    new_canary = after.canary if after.canary_fraction > 0 else None
    if new_canary is not None and (new_canary != old_canary or before is None
                                   or before.canary_fraction != after.canary_fraction):
        parts.append(f"canary v{new_canary} at {after.canary_fraction:.0%}")
    elif new_canary is None and old_canary is not None and old_canary != after.champion:
        parts.append(f"canary v{old_canary} ended")
    if (before.shadow if before else None) != after.shadow:
        parts.append(f"shadow v{after.shadow}" if after.shadow else "shadow ended")
    return ", ".join(parts) or "no change"


__all__ = [
    "champion_line",
    "describe",
    "promote",
    "rollback",
    "start_canary",
    "start_shadow",
    "statuses",
    "withdraw",
]
