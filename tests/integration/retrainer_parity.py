"""A published round, run again in-process from what its version records.

The version names the ``labeled-events`` ranges it was trained on (its lineage); those
records, read back into a :class:`retrainer.window.TrainingWindow` as the service holds
them, give the snapshot the round ran on. :func:`retrainer.retraining.run_round` with the
retrainer's own settings and the same champion must then decide as the service did.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

import msgspec

from contracts.records import LabeledEvent, ModelVersion
from contracts.settings import Settings
from retrainer.config import RetrainerConfig
from retrainer.retraining import BatchStrategy, RoundResult, run_round
from retrainer.triggers import Trigger
from retrainer.window import TrainingWindow, WindowSnapshot
from scorer.bundle import ModelBundle
from tests.integration.topic_reader import read_topic

LABELED = msgspec.json.Decoder(LabeledEvent)


def lineage_snapshot(settings: Settings, config: RetrainerConfig,
                     version: ModelVersion) -> WindowSnapshot:
    """The window the version was trained on, from exactly the ranges its lineage names."""
    window = TrainingWindow(max_events=config.window_size, max_age=config.window_age,
                            max_bytes=config.window_max_bytes)
    for topic in sorted({r.topic for r in version.lineage}):
        ranges = {r.partition: r for r in version.lineage if r.topic == topic}
        records = [r for r in read_topic(settings, topic)
                   if r.partition in ranges
                   and ranges[r.partition].first <= r.offset <= ranges[r.partition].last]
        for record in sorted(records, key=lambda r: (r.partition, r.offset)):
            assert record.value is not None
            window.add(LABELED.decode(record.value), record.topic, record.partition,
                       record.offset, len(record.value))
    snapshot = window.snapshot()
    # The snapshot is in event-time order, ties in arrival order; across partitions the
    # service's arrival order is its consumer's, so the replay is exact only without ties.
    times = [e.event.ts for e in snapshot.entries]
    assert len(set(times)) == len(times), "labeled events sharing an event time"
    assert snapshot.lineage() == list(version.lineage)
    return snapshot


def replayed_round(settings: Settings, env: Mapping[str, str], version: ModelVersion,
                   champion: ModelBundle) -> RoundResult:
    """The round behind ``version`` (a batch round, the first of its alert) run again."""
    config = RetrainerConfig.from_settings(Settings.from_mapping(env))
    assert config.strategy == "batch"
    number = re.search(r"round (\d+)$", version.trigger)
    alpha = config.challenge.spent(int(number.group(1)) if number else 1)
    kind, _, reason = version.trigger.partition(": ")
    return run_round(lineage_snapshot(settings, config, version),
                     BatchStrategy(config.training), champion, policy=config.challenge,
                     holdout_fraction=config.holdout_fraction, model=config.model,
                     version=version.version,
                     trigger=Trigger(kind, reason, datetime.now(UTC)),  # type: ignore[arg-type]
                     now=datetime.now(UTC), alpha=alpha)


def differences(published: Mapping[str, object], replayed: Mapping[str, object]) -> list[str]:
    """Keys whose values differ (floats beyond a relative 1e-9), as ``key: a != b``."""
    out = []
    for key in sorted(set(published) | set(replayed)):
        a, b = published.get(key), replayed.get(key)
        close = isinstance(a, float) and isinstance(b, float) and math.isclose(a, b,
                                                                               rel_tol=1e-9)
        if a != b and not close:
            out.append(f"{key}: {a!r} != {b!r}")
    return out


__all__ = ["differences", "lineage_snapshot", "replayed_round"]
